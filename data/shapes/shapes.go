// Package shapes draws a synthetic image-classification dataset: one
// coloured shape per image (circle, square, triangle, ring, cross, diamond,
// bar, …) at a random place, size and angle, on a background of another
// colour, with pixel noise, written as PNG files in one folder per class —
// the layout data/imagefolder and Keras's image_dataset_from_directory read.
// Transfer-learning tests and the README's walk-through use it: a backbone
// pretrained on some shapes, fine-tuned on others.
package shapes

import (
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand"
	"os"
	"path/filepath"
)

// Known lists the shapes Write draws.
var Known = []string{"circle", "square", "triangle", "ring", "cross", "diamond", "bar", "hexagon"}

// Options choose what Write draws; zero fields take the defaults.
type Options struct {
	Shapes   []string // classes, one folder each (default circle, square, triangle)
	PerClass int      // images per class (default 50)
	Size     int      // width and height in pixels (default 64)
	Seed     int64
	Noise    float64 // standard deviation of the pixel noise, 0–255 (default 12)
	JPEG     bool    // write JPEG (quality 90) instead of PNG
}

// Write draws the dataset into dir (made if missing) and returns the
// number of images written.
func Write(dir string, o Options) (int, error) {
	if len(o.Shapes) == 0 {
		o.Shapes = []string{"circle", "square", "triangle"}
	}
	if o.PerClass == 0 {
		o.PerClass = 50
	}
	if o.Size == 0 {
		o.Size = 64
	}
	if o.Noise == 0 {
		o.Noise = 12
	}
	if o.PerClass < 0 || o.Size < 8 || o.Size > 4096 || o.Noise < 0 {
		return 0, fmt.Errorf("shapes: options %+v: want PerClass ≥ 0, Size 8–4096, Noise ≥ 0", o)
	}
	seen := map[string]bool{}
	for _, s := range o.Shapes {
		if _, ok := shapeFuncs[s]; !ok {
			return 0, fmt.Errorf("shapes: unknown shape %q (known: %v)", s, Known)
		}
		if seen[s] {
			return 0, fmt.Errorf("shapes: %q is listed twice", s)
		}
		seen[s] = true
		// Old files left beside new ones would mix two datasets.
		if entries, err := os.ReadDir(filepath.Join(dir, s)); err == nil && len(entries) > 0 {
			return 0, fmt.Errorf("shapes: %s already holds files: write into a new folder", filepath.Join(dir, s))
		}
	}
	r := rand.New(rand.NewSource(o.Seed))
	n := 0
	for _, s := range o.Shapes {
		inside := shapeFuncs[s]
		sub := filepath.Join(dir, s)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return n, err
		}
		for i := 0; i < o.PerClass; i++ {
			img := draw(r, inside, o.Size, o.Noise)
			ext := ".png"
			if o.JPEG {
				ext = ".jpg"
			}
			f, err := os.Create(filepath.Join(sub, fmt.Sprintf("%s_%04d%s", s, i, ext)))
			if err != nil {
				return n, err
			}
			if o.JPEG {
				err = jpeg.Encode(f, img, &jpeg.Options{Quality: 90})
			} else {
				err = png.Encode(f, img)
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// A shape is a test of a point (u, v) in the shape's own frame, where the
// shape fills roughly the unit disc.
var shapeFuncs = map[string]func(u, v float64) bool{
	"circle": func(u, v float64) bool { return u*u+v*v <= 1 },
	"square": func(u, v float64) bool { return math.Abs(u) <= 0.8 && math.Abs(v) <= 0.8 },
	"ring":   func(u, v float64) bool { d := u*u + v*v; return d <= 1 && d >= 0.45 },
	"cross": func(u, v float64) bool {
		return (math.Abs(u) <= 0.28 && math.Abs(v) <= 1) || (math.Abs(v) <= 0.28 && math.Abs(u) <= 1)
	},
	"diamond": func(u, v float64) bool { return math.Abs(u)+math.Abs(v) <= 1 },
	"bar":     func(u, v float64) bool { return math.Abs(u) <= 1 && math.Abs(v) <= 0.3 },
	"triangle": func(u, v float64) bool {
		// Equilateral, pointing up in its frame: v from -0.5 to 1.
		return v >= -0.5 && v <= 1 && math.Abs(u) <= (1-v)/math.Sqrt(3)
	},
	"hexagon": func(u, v float64) bool {
		for k := 0; k < 3; k++ {
			a := float64(k) * math.Pi / 3
			if math.Abs(u*math.Cos(a)+v*math.Sin(a)) > 0.87 {
				return false
			}
		}
		return true
	},
}

func draw(r *rand.Rand, inside func(u, v float64) bool, size int, noise float64) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	bg := [3]float64{r.Float64() * 90, r.Float64() * 90, r.Float64() * 90}
	fg := [3]float64{120 + r.Float64()*135, 120 + r.Float64()*135, 120 + r.Float64()*135}
	s := float64(size)
	radius := s * (0.18 + 0.14*r.Float64())
	cx := radius + r.Float64()*(s-2*radius)
	cy := radius + r.Float64()*(s-2*radius)
	angle := r.Float64() * 2 * math.Pi
	cos, sin := math.Cos(angle), math.Sin(angle)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			dx, dy := (float64(x)+0.5-cx)/radius, (float64(y)+0.5-cy)/radius
			u, v := dx*cos+dy*sin, -dx*sin+dy*cos
			c := bg
			if inside(u, v) {
				c = fg
			}
			var px [3]uint8
			for k := range px {
				px[k] = uint8(math.Max(0, math.Min(255, c[k]+r.NormFloat64()*noise)))
			}
			img.SetNRGBA(x, y, color.NRGBA{px[0], px[1], px[2], 255})
		}
	}
	return img
}
