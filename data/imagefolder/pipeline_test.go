package imagefolder

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/gif"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tfgo-project/gotf/data/shapes"
	"github.com/tfgo-project/gotf/internal/pyref"
)

// TestPipelineRefusesSpecialFiles: a FIFO named like an image is an error,
// not a read that never returns; a corrupt JPEG among good ones is named.
func TestPipelineRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := shapes.Write(dir, shapes.Options{Shapes: []string{"circle", "bar"}, PerClass: 3, Size: 16, JPEG: true}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bar", "bar_0001.jpg")
	if err := os.WriteFile(bad, []byte("\xff\xd8\xff not a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir, Options{Height: 8, Width: 8})
	if err == nil || !strings.Contains(err.Error(), "bar_0001.jpg") {
		t.Errorf("corrupt JPEG: %v", err)
	}
	os.Remove(bad)
	fifo := filepath.Join(dir, "circle", "pipe.jpg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	_, err = Load(dir, Options{Height: 8, Width: 8})
	if err == nil || !strings.Contains(err.Error(), "pipe.jpg is not a regular file") {
		t.Errorf("FIFO: %v", err)
	}
}

// TestHugeAndUnreadable: a file larger than MaxFileBytes, and one whose
// header Go cannot read, are refused before TensorFlow reads them; a BMP's
// header is read by hand.
func TestHugeAndUnreadable(t *testing.T) {
	dir := t.TempDir()
	if _, err := shapes.Write(dir, shapes.Options{Shapes: []string{"circle", "bar"}, PerClass: 2, Size: 16}); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "bar", "huge.jpg")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(3 << 30) // sparse: no disk used
	f.Close()
	_, err = Load(dir, Options{Height: 8, Width: 8})
	if err == nil || !strings.Contains(err.Error(), "huge.jpg has 3221225472 bytes, more than 268435456") {
		t.Errorf("huge file: %v", err)
	}
	os.Remove(huge)
	odd := filepath.Join(dir, "bar", "odd.jpg")
	os.WriteFile(odd, []byte("\xff\xd8\xff\x01 then nothing Go's decoder knows"), 0o644)
	_, err = Load(dir, Options{Height: 8, Width: 8})
	if err == nil || !strings.Contains(err.Error(), "odd.jpg: unreadable header") {
		t.Errorf("unreadable header: %v", err)
	}
	os.Remove(odd)
	// A BMP header declaring 70000 × 70000 pixels.
	bmp := make([]byte, 54)
	copy(bmp, "BM")
	binary.LittleEndian.PutUint32(bmp[18:], 70000)
	binary.LittleEndian.PutUint32(bmp[22:], 70000)
	os.WriteFile(filepath.Join(dir, "bar", "big.bmp"), bmp, 0o644)
	_, err = Load(dir, Options{Height: 8, Width: 8})
	if err == nil || !strings.Contains(err.Error(), "big.bmp declares 70000 × 70000 pixels") {
		t.Errorf("BMP bomb: %v", err)
	}
}

// TestClassFoldersAsKeras: a hidden folder is not a class and a link to a
// folder is one, as in Keras's image_dataset_from_directory.
func TestClassFoldersAsKeras(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	if _, err := shapes.Write(dir, shapes.Options{Shapes: []string{"circle", "square"}, PerClass: 2, Size: 16}); err != nil {
		t.Fatal(err)
	}
	if _, err := shapes.Write(other, shapes.Options{Shapes: []string{"triangle"}, PerClass: 3, Size: 16}); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(other, "triangle"), filepath.Join(dir, "triangle")); err != nil {
		t.Fatal(err)
	}
	if _, err := shapes.Write(filepath.Join(dir, ".ipynb_checkpoints"), shapes.Options{Shapes: []string{"bar"}, PerClass: 1, Size: 16}); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir, Options{Height: 8, Width: 8})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.Classes, ",") != "circle,square,triangle" || len(s.Files) != 7 {
		t.Errorf("classes %v, %d files; want circle, square, triangle and 7", s.Classes, len(s.Files))
	}
}

// TestNestedOrderAsKeras: files in a class's subfolders come in Keras's
// order (folders by path, then files by name), checked against Keras's own
// index_directory.
func TestNestedOrderAsKeras(t *testing.T) {
	dir := t.TempDir()
	if _, err := shapes.Write(dir, shapes.Options{Shapes: []string{"circle", "triangle"}, PerClass: 2, Size: 16}); err != nil {
		t.Fatal(err)
	}
	if _, err := shapes.Write(filepath.Join(dir, "triangle", "sub"), shapes.Options{Shapes: []string{"bar", "ring"}, PerClass: 2, Size: 16}); err != nil {
		t.Fatal(err)
	}
	if _, err := shapes.Write(filepath.Join(dir, "triangle"), shapes.Options{Shapes: []string{"cross"}, PerClass: 1, Size: 16}); err != nil {
		t.Fatal(err)
	}
	py, err := pyref.Python()
	if err != nil {
		t.Fatal(err)
	}
	script := `import json, sys
from keras.src.utils.dataset_utils import index_directory
paths, labels, classes = index_directory(sys.argv[1], "inferred", formats=(".png",), shuffle=False)
print(json.dumps(paths))`
	out, err := exec.Command(py, "-c", script, dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	if err := json.Unmarshal(out[bytes.LastIndexByte(out[:len(out)-1], '\n')+1:], &want); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got, _, _, err := index(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("order:\n%s\nKeras:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestGIFFrames: a GIF's logical screen does not bound what decoding it
// allocates, so its frames are counted and measured before TensorFlow
// reads it: a frame larger than the screen, a wide frame beside a tall one
// (TensorFlow's canvas is the widest by the tallest: 200 × 200 here from
// 400 pixels of frames), and many frames each within the limit are
// refused; a GIF within the limit decodes, also without its trailer or
// with bytes that are no block before it (as giflib reads them); a GIF
// cut short before any whole frame is refused as unreadable.
func TestGIFFrames(t *testing.T) {
	frame := func(w, h int) *image.Paletted {
		p := image.NewPaletted(image.Rect(0, 0, w, h), []color.Color{color.Black, color.White})
		for i := range p.Pix {
			p.Pix[i] = uint8(i % 2)
		}
		return p
	}
	encode := func(frames ...*image.Paletted) []byte {
		var b bytes.Buffer
		if err := gif.EncodeAll(&b, &gif.GIF{Image: frames, Delay: make([]int, len(frames))}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	screen := func(b []byte, w, h uint16) []byte {
		b = bytes.Clone(b)
		binary.LittleEndian.PutUint16(b[6:], w)
		binary.LittleEndian.PutUint16(b[8:], h)
		return b
	}
	// imageBlock is a one-frame GIF's image block: after the header, the
	// screen descriptor and the global color table, before the trailer.
	imageBlock := func(b []byte) []byte {
		at := 13
		if b[10]&0x80 != 0 { // a global color table (Go's encoder writes local ones)
			at += 3 << (b[10]&7 + 1)
		}
		for b[at] == 0x21 { // an extension (Go writes a graphic control block)
			at += 2
			for b[at] != 0 {
				at += 1 + int(b[at])
			}
			at++
		}
		if b[at] != 0x2c {
			t.Fatalf("no image block at %d", at)
		}
		return b[at : len(b)-1]
	}
	one := encode(frame(40, 40))
	wideTall := append(bytes.Clone(encode(frame(200, 1))[:len(encode(frame(200, 1)))-1]), imageBlock(encode(frame(1, 200)))...)
	wideTall = screen(append(wideTall, 0x3b), 1, 1)
	animated := encode(frame(40, 40), frame(40, 40), frame(40, 40))
	for _, c := range []struct {
		name string
		data []byte
		want string // "" decodes
	}{
		{"frame larger than its screen", screen(encode(frame(100, 100)), 1, 1), "declares 100 × 100 pixels, more than 2500"},
		{"a wide frame and a tall one", wideTall, "declares 200 × 200 pixels, more than 2500"},
		{"three frames of 40 × 40", animated, "holds 3 frames on a canvas of 40 × 40 (4800 pixels in its frames' own sizes), more than 2500"},
		{"one frame of 40 × 40", one, ""},
		{"no trailer", one[:len(one)-1], ""},
		{"zeros before the trailer", append(bytes.Clone(one[:len(one)-1]), 0, 0, 0x3b), ""},
		// Its descriptor read, the frame counts; TensorFlow then refuses it.
		{"cut short in its first frame", one[:30], "not an image TensorFlow decodes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "a"), 0o755)
			os.WriteFile(filepath.Join(dir, "a", "x.gif"), c.data, 0o644)
			s, err := Load(dir, Options{Height: 8, Width: 8, MaxPixels: 2500})
			if c.want == "" {
				if err != nil || len(s.Files) != 1 {
					t.Fatalf("%v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v; want an error saying %q", err, c.want)
			}
			if c.name == "a wide frame and a tall one" { // a GIF TensorFlow decodes, within a larger limit
				if _, err := Load(dir, Options{Height: 8, Width: 8, MaxPixels: 1 << 20}); err != nil {
					t.Fatalf("within 1 Mi pixels: %v", err)
				}
			}
		})
	}
}
