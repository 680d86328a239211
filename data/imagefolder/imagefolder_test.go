package imagefolder

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
)

// TestMatchesKeras: the folder Keras's image_dataset_from_directory reads
// (shuffle off) gives the same classes, files, labels and pixels within
// 1e-4 of 255 (1e-5 of the 0–1 range), stretched and cropped to the
// aspect ratio, with int and one-hot labels, and both sides of a split;
// shuffled with a seed, the same files in the same order as Keras.
func TestMatchesKeras(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name          string
		crop, onehot  bool
		split         float64
		subset        string
		height, width int
	}{
		{"stretch", false, false, 0, "", 32, 48},
		{"crop", true, true, 0, "", 40, 40},
		{"training", false, false, 0.25, "training", 24, 24},
		{"validation", true, false, 0.25, "validation", 24, 36},
		{"shuffled training", false, false, 0.25, "training", 16, 16},
		{"shuffled validation", false, false, 0.25, "validation", 16, 16},
	} {
		shuffle := strings.HasPrefix(c.name, "shuffled")
		t.Run(c.name, func(t *testing.T) {
			var want struct {
				Images  []float64
				Labels  []float64
				Classes []string
				Files   []string
			}
			req := map[string]any{"dir": dir, "height": c.height, "width": c.width, "crop": c.crop, "categorical": c.onehot, "split": c.split, "subset": c.subset,
				"shuffle": shuffle, "seed": 7}
			if err := pyref.Run("image_folder.py", req, &want); err != nil {
				t.Fatal(err)
			}
			got, err := Load(dir, Options{Height: c.height, Width: c.width, CropToAspectRatio: c.crop, Categorical: c.onehot, ValidationSplit: c.split, Subset: c.subset,
				Shuffle: shuffle, Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Classes, ",") != strings.Join(want.Classes, ",") || len(got.Files) != len(want.Files) {
				t.Fatalf("classes %v files %d; Keras %v %d", got.Classes, len(got.Files), want.Classes, len(want.Files))
			}
			for i, f := range want.Files {
				if rel, _ := filepath.Rel(dir, got.Files[i]); rel != f {
					t.Fatalf("file %d: %s, Keras %s", i, rel, f)
				}
			}
			if shuffle { // Keras reshuffles what it yields: the files are the check
				t.Logf("%d files in Keras's shuffled order", len(got.Files))
				return
			}
			labels := got.OneHot
			if !c.onehot {
				labels = make([]float32, len(got.Labels))
				for i, l := range got.Labels {
					labels[i] = float32(l)
				}
			}
			for i, v := range want.Labels {
				if labels[i] != float32(v) {
					t.Fatalf("label %d: %v, Keras %v", i, labels[i], v)
				}
			}
			if len(got.Images) != len(want.Images) {
				t.Fatalf("%d values, Keras %d", len(got.Images), len(want.Images))
			}
			worst := 0.0
			for i, v := range want.Images {
				worst = math.Max(worst, math.Abs(float64(got.Images[i])-v))
			}
			if worst > 255e-5 {
				t.Errorf("pixels differ from Keras's by up to %v", worst)
			}
			t.Logf("%d images; largest difference from Keras %.2g (of 255)", len(got.Files), worst)
		})
	}
}

// TestBadFolders: errors, not crashes, for what a user may point it at.
func TestBadFolders(t *testing.T) {
	empty := t.TempDir()
	noImages := t.TempDir()
	os.MkdirAll(filepath.Join(noImages, "a"), 0o755)
	os.WriteFile(filepath.Join(noImages, "a", "x.txt"), []byte("x"), 0o644)
	broken := t.TempDir()
	os.MkdirAll(filepath.Join(broken, "a"), 0o755)
	os.WriteFile(filepath.Join(broken, "a", "x.png"), []byte("\x89PNG\r\n\x1a\nbroken"), 0o644)
	bomb := t.TempDir()
	os.MkdirAll(filepath.Join(bomb, "a"), 0o755)
	os.WriteFile(filepath.Join(bomb, "a", "big.png"), hugePNG(t, 100000, 100000), 0o644)
	for _, c := range []struct {
		dir  string
		opts Options
		want string
	}{
		{bomb, Options{Height: 8, Width: 8}, "declares 100000 × 100000 pixels"},
		{filepath.Join(empty, "nope"), Options{}, "no such file"},
		{empty, Options{}, "no subfolders"},
		{noImages, Options{}, "no images"},
		{broken, Options{Height: 8, Width: 8}, "x.png: unreadable header"},
		{noImages, Options{Height: -1, Width: 3}, "image size"},
		{noImages, Options{ValidationSplit: 0.2}, "needs Subset"},
		{noImages, Options{ValidationSplit: 1.5, Subset: "training"}, "validation split"},
	} {
		if _, err := Load(c.dir, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %+v: %v, want %q", c.dir, c.opts, err, c.want)
		}
	}
}

// hugePNG is a valid PNG header declaring w × h pixels, with a few bytes
// of data: what a decompression bomb looks like before it is decoded.
func hugePNG(t *testing.T, w, h uint32) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	p := b.Bytes()
	binary.BigEndian.PutUint32(p[16:], w) // IHDR's width and height
	binary.BigEndian.PutUint32(p[20:], h)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	return p
}
