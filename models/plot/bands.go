package plot

import (
	"errors"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Band is one line of a study: a mean at each x, shaded ± its standard
// deviation.
type Band struct {
	Name        string
	X, Mean, SD []float64
	Dashed      bool
}

// Panel is one plot of Bands side by side with the others.
type Panel struct {
	Title, XLabel, YLabel string
	LogX                  bool
	Bands                 []Band
}

var palette = []color.RGBA{
	{R: 31, G: 119, B: 180, A: 255}, {R: 255, G: 127, B: 14, A: 255}, {R: 44, G: 160, B: 44, A: 255},
	{R: 214, G: 39, B: 40, A: 255}, {R: 148, G: 103, B: 189, A: 255}, {R: 140, G: 86, B: 75, A: 255},
	{R: 227, G: 119, B: 194, A: 255}, {R: 127, G: 127, B: 127, A: 255},
}

// MeanSD writes the panels side by side as a PNG: one line per Band (the
// same colour for the same place in every panel's list), shaded ± SD, with
// a log x axis where LogX is set.
func MeanSD(path string, panels ...Panel) error {
	if len(panels) == 0 {
		return errors.New("plot: no panels")
	}
	const panelW, panelH = 5 * vg.Inch, 4 * vg.Inch
	img := vgimg.New(panelW*vg.Length(len(panels)), panelH)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text, p.X.Label.Text, p.Y.Label.Text = pn.Title, pn.XLabel, pn.YLabel
		if pn.LogX {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = xTicks{}
		}
		p.Add(plotter.NewGrid())
		for k, b := range pn.Bands {
			if len(b.X) == 0 || len(b.X) != len(b.Mean) || (b.SD != nil && len(b.SD) != len(b.X)) {
				return fmt.Errorf("plot: band %q: %d x, %d means, %d sds", b.Name, len(b.X), len(b.Mean), len(b.SD))
			}
			c := palette[k%len(palette)]
			if b.SD != nil {
				var poly plotter.XYs
				for j := range b.X {
					poly = append(poly, plotter.XY{X: b.X[j], Y: b.Mean[j] + b.SD[j]})
				}
				for j := len(b.X) - 1; j >= 0; j-- {
					poly = append(poly, plotter.XY{X: b.X[j], Y: b.Mean[j] - b.SD[j]})
				}
				shade, err := plotter.NewPolygon(poly)
				if err != nil {
					return fmt.Errorf("plot: %w", err)
				}
				shade.Color = color.NRGBA{R: c.R, G: c.G, B: c.B, A: 36} // not premultiplied
				shade.LineStyle.Width = 0
				p.Add(shade)
			}
			pts := make(plotter.XYs, len(b.X))
			for j := range b.X {
				pts[j] = plotter.XY{X: b.X[j], Y: b.Mean[j]}
			}
			line, points, err := plotter.NewLinePoints(pts)
			if err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			line.Color, points.Color = c, c
			line.Width = vg.Points(1.5)
			if b.Dashed {
				line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(line, points)
			p.Legend.Add(b.Name, line, points)
		}
		p.Legend.Top, p.Legend.Left = false, false
		p.Legend.XOffs, p.Legend.YOffs = 0, vg.Millimeter*2
		p.Draw(tiles.At(dc, i, 0))
	}
	f, err := createFile(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot: %w", err)
	}
	return f.Close()
}

// xTicks labels a log axis at 1, 2, 5, 10, 20, 50, … within its range.
type xTicks struct{}

func (xTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for dec := math.Pow(10, math.Floor(math.Log10(min))); dec <= max; dec *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := m * dec; v >= min*0.999 && v <= max*1.001 {
				ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprintf("%g", v)})
			}
		}
	}
	return ts
}
