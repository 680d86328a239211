package tfwrap

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
)

// TestImageDecoderMatchesPython decodes a PNG and a JPEG written by Python
// TensorFlow and resizes and normalizes them as tf.image.resize does.
func TestImageDecoderMatchesPython(t *testing.T) {
	for _, c := range []struct {
		channels  int
		mean, std float64
	}{{1, 0, 1}, {3, 0.5, 0.5}} {
		dir := t.TempDir()
		var ref map[string][]float64
		in := map[string]any{"dir": dir, "height": 16, "width": 12, "channels": c.channels, "mean": c.mean, "std": c.std}
		if err := pyref.Run("images.py", in, &ref); err != nil {
			t.Fatal(err)
		}
		d, err := NewImageDecoder(ImageOptions{Height: 16, Width: 12, Channels: c.channels, Mean: c.mean, Std: c.std})
		if err != nil {
			t.Fatal(err)
		}
		for _, ext := range []string{"png", "jpg"} {
			x, err := d.DecodeFile(filepath.Join(dir, "img."+ext))
			if err != nil {
				t.Fatal(err)
			}
			if s := x.Shape(); len(s) != 3 || s[0] != 16 || s[1] != 12 || s[2] != int64(c.channels) {
				t.Fatalf("%s: shape %v", ext, s)
			}
			assertClose(t, ext, floats(t, x), ref[ext], 1e-6)
		}
		_, err = d.Decode([]byte("not an image"))
		wantErr(t, err, "decode image")
		_, err = d.Decode(nil)
		wantErr(t, err, "no bytes")
		_, err = d.DecodeFile(filepath.Join(dir, "missing.png"))
		wantErr(t, err, "no such file")
		trunc, _ := os.ReadFile(filepath.Join(dir, "img.png"))
		_, err = d.Decode(trunc[:len(trunc)/2])
		wantErr(t, err, "decode image")
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []ImageOptions{{Height: 0, Width: 4, Channels: 1}, {Height: 4, Width: 4, Channels: 2}, {Height: 4, Width: 4, Channels: 3, Std: -1}} {
		if _, err := NewImageDecoder(o); err == nil {
			t.Fatalf("%+v accepted", o)
		}
	}
}
