package plot

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
)

// ImageGrid writes n grey images of h×w pixels, held one after another in
// pixels with values from lo (black) to hi (white), as a PNG grid of cols
// columns with a one-pixel gap: a GAN's samples, a batch of digits.
func ImageGrid(path string, pixels []float32, n, h, w, cols int, lo, hi float32) error {
	if n < 1 || h < 1 || w < 1 || cols < 1 || !(hi > lo) {
		return fmt.Errorf("plot: image grid of %d images of %d×%d in %d columns, values %v to %v", n, h, w, cols, lo, hi)
	}
	if len(pixels) != n*h*w {
		return fmt.Errorf("plot: image grid: %d values for %d images of %d×%d", len(pixels), n, h, w)
	}
	cols = min(cols, n)
	rows := (n + cols - 1) / cols
	img := image.NewGray(image.Rect(0, 0, cols*(w+1)+1, rows*(h+1)+1))
	for k := range n {
		x0, y0 := 1+(k%cols)*(w+1), 1+(k/cols)*(h+1)
		for y := range h {
			for x := range w {
				v := (pixels[k*h*w+y*w+x] - lo) / (hi - lo)
				if v != v { // NaN
					v = 0
				}
				v = min(max(v, 0), 1)
				img.SetGray(x0+x, y0+y, color.Gray{Y: uint8(v*255 + 0.5)})
			}
		}
	}
	f, err := createFile(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("plot: %w", err)
	}
	return f.Close()
}
