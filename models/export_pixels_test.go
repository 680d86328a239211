package models_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

// bmp24 encodes img as a 24-bit bottom-up BMP (Go's standard library has
// no BMP encoder).
func bmp24(img image.Image) []byte {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	row := (3*w + 3) &^ 3
	b := make([]byte, 54+row*h)
	copy(b, "BM")
	binary.LittleEndian.PutUint32(b[2:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[10:], 54)
	binary.LittleEndian.PutUint32(b[14:], 40)
	binary.LittleEndian.PutUint32(b[18:], uint32(w))
	binary.LittleEndian.PutUint32(b[22:], uint32(h))
	binary.LittleEndian.PutUint16(b[26:], 1)
	binary.LittleEndian.PutUint16(b[28:], 24)
	for y := range h {
		for x := range w {
			r, g, bl, _ := img.At(x, h-1-y).RGBA()
			p := 54 + y*row + 3*x
			b[p], b[p+1], b[p+2] = byte(bl>>8), byte(g>>8), byte(r>>8)
		}
	}
	return b
}

// TestImageBytesPixelLimit: the serving_bytes signature refuses, in the
// graph and before decoding, an image whose header declares more pixels
// than ExportOptions.MaxPixels, for each format the header check reads
// (JPEG, PNG, BMP, top-down too), from a real image over the limit and
// from a few bytes declaring 100,000 × 100,000 or 2^32-1 × 2^32-1; images
// within the limit still decode; GIF, WebP, JPEG XL and what is not an
// image are refused as formats the check cannot size; and Python's
// tf.saved_model.load refuses the same bomb with the same message.
func TestImageBytesPixelLimit(t *testing.T) {
	m, err := models.NewSequential([]int64{8, 8, 3}, layers.Flatten(), layers.Dense(2, layers.WithActivation(layers.Softmax)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Compile(models.CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.SGD(0.1), Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if err := m.ExportWith(t.TempDir(), models.ExportOptions{ImageBytes: true, MaxPixels: -1}); err == nil || !strings.Contains(err.Error(), "MaxPixels -1") {
		t.Errorf("MaxPixels -1: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "1")
	if err := m.ExportWith(dir, models.ExportOptions{ImageBytes: true, MaxPixels: 50 * 50}); err != nil {
		t.Fatal(err)
	}
	sm, err := savedmodels.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()

	encode := func(side int) map[string][]byte {
		img := image.NewRGBA(image.Rect(0, 0, side, side))
		for i := range img.Pix {
			img.Pix[i] = byte(i * 7)
		}
		var p, j, g bytes.Buffer
		png.Encode(&p, img)
		jpeg.Encode(&j, img, nil)
		pal := image.NewPaletted(img.Bounds(), []color.Color{color.Black, color.White})
		gif.Encode(&g, pal, nil)
		return map[string][]byte{"png": p.Bytes(), "jpeg": j.Bytes(), "gif": g.Bytes(), "bmp": bmp24(img)}
	}
	bombs := map[string][]byte{}
	for k, v := range encode(4) {
		b := bytes.Clone(v)
		switch k { // the same small image, its header declaring 100,000 × 100,000
		case "png":
			binary.BigEndian.PutUint32(b[16:], 100000)
			binary.BigEndian.PutUint32(b[20:], 100000)
			binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
		case "gif": // the logical screen
			binary.LittleEndian.PutUint16(b[6:], 60000)
			binary.LittleEndian.PutUint16(b[8:], 60000)
		case "bmp":
			binary.LittleEndian.PutUint32(b[18:], 100000)
			binary.LittleEndian.PutUint32(b[22:], uint32(0x100000000-100000)) // top-down
		case "jpeg": // the frame header (SOF0): FF C0, length, precision, height, width
			at := bytes.Index(b, []byte{0xff, 0xc0})
			binary.BigEndian.PutUint16(b[at+5:], 60000)
			binary.BigEndian.PutUint16(b[at+7:], 60000)
		}
		bombs[k] = b
	}
	run := func(data []byte) error {
		in, _ := tfwrap.NewStrings([]string{string(data)}, 1)
		_, err := sm.Predict(models.ImageBytesSignature, map[string]*tfwrap.Tensor{"image_bytes": in})
		return err
	}
	const over, unread = "declares more pixels than the 2500", "not a JPEG, PNG or BMP"
	// GIF is refused whatever its header says: giflib allocates every
	// frame at its own size, which the logical screen does not bound.
	want := func(format, within string) string {
		if format == "gif" {
			return unread
		}
		return within
	}
	for k, v := range encode(40) {
		if err := run(v); want(k, "") == "" && err != nil || want(k, "") != "" && (err == nil || !strings.Contains(err.Error(), unread)) {
			t.Errorf("a %s of 40 × 40 (1,600 pixels, within 2,500): %v", k, err)
		}
	}
	for k, v := range encode(60) {
		if err := run(v); err == nil || !strings.Contains(err.Error(), want(k, over)) {
			t.Errorf("a %s of 60 × 60 (3,600 pixels, over 2,500): %v", k, err)
		}
	}
	// A PNG declaring 2^32-1 × 2^32-1: the product must not wrap.
	wrap := bytes.Clone(bombs["png"])
	binary.BigEndian.PutUint32(wrap[16:], 0xffffffff)
	binary.BigEndian.PutUint32(wrap[20:], 0xffffffff)
	binary.BigEndian.PutUint32(wrap[29:], crc32.ChecksumIEEE(wrap[12:29]))
	bombs["png 2^32-1"] = wrap
	for k, v := range bombs {
		if err := run(v); err == nil || !strings.Contains(err.Error(), want(k, over)) {
			t.Errorf("a %s of %d bytes declaring a huge image: %v", k, len(v), err)
		}
	}
	// Formats DecodeImage takes but whose headers the check does not read:
	// a lossless WebP's header declaring 16383 × 16383 (34 bytes of such
	// a file decode to 800 MB), and JPEG XL's signature.
	for name, v := range map[string]string{"webp": "RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\xfe\xbf\xff\x0f",
		"jxl": "\xff\x0a\xff\x07", "empty": ""} {
		if err := run([]byte(v)); err == nil || !strings.Contains(err.Error(), unread) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A PNG signature and nothing more sizes as 0 pixels; the decoder
	// refuses it.
	if err := run([]byte("\x89PNG")); err == nil {
		t.Error("a PNG signature alone was decoded")
	}
	// Python runs the same graph: the same refusal.
	bomb := filepath.Join(t.TempDir(), "bomb.png")
	if err := os.WriteFile(bomb, bombs["png"], 0o644); err != nil {
		t.Fatal(err)
	}
	var out any
	err = pyref.Run("call_savedmodel_bytes.py", map[string]any{"dir": dir, "signature": models.ImageBytesSignature,
		"input": "image_bytes", "files": []string{bomb}}, &out)
	if err == nil || !strings.Contains(err.Error(), over) {
		t.Errorf("Python on the PNG bomb: %v", err)
	}
}
