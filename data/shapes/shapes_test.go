package shapes

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	n, err := Write(dir, Options{Shapes: []string{"circle", "bar"}, PerClass: 3, Size: 16, Seed: 2})
	if err != nil || n != 6 {
		t.Fatalf("wrote %d: %v", n, err)
	}
	f, err := os.Open(filepath.Join(dir, "bar", "bar_0002.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() != 16 {
		t.Fatalf("decode: %v %v", err, img.Bounds())
	}
	// The shape covers part of the image, not none and not all of it.
	fg := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); (r+g+bl)>>8 > 3*110 {
				fg++
			}
		}
	}
	if fg < 8 || fg > 16*16-8 {
		t.Errorf("%d bright pixels of 256", fg)
	}
	if _, err := Write(dir, Options{Shapes: []string{"blob"}}); err == nil {
		t.Error("an unknown shape was drawn")
	}
	if _, err := Write(dir, Options{Shapes: []string{"bar"}}); err == nil {
		t.Error("wrote into a folder that holds files")
	}
	if _, err := Write(t.TempDir(), Options{Shapes: []string{"ring", "ring"}}); err == nil {
		t.Error("a shape listed twice was drawn")
	}
	if _, err := Write(dir, Options{Size: 4}); err == nil {
		t.Error("a 4-pixel image was drawn")
	}
}
