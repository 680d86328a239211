package plot

import (
	"errors"
	"fmt"
	"image/color"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tfgo-project/gotf/models"
)

var (
	trainColor = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	valColor   = color.RGBA{R: 255, G: 127, B: 14, A: 255}
)

// LearningCurves writes one panel per metric (loss first, then the others)
// with the training curve and, when present, the validation curve.
func LearningCurves(h *models.History, title, path string) error {
	if h == nil || len(h.Epochs) == 0 {
		return errors.New("plot: empty history")
	}
	var names []string
	for k := range h.Metrics {
		if !strings.HasPrefix(k, "val_") {
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "loss") != (names[j] == "loss") {
			return names[i] == "loss"
		}
		return names[i] < names[j]
	})
	const panelW, panelH = 5 * vg.Inch, 3.5 * vg.Inch
	img := vgimg.New(panelW*vg.Length(len(names)), panelH)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(names), PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	for i, name := range names {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s: %s", title, name)
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = name
		p.Add(plotter.NewGrid())
		for _, series := range []struct {
			key   string
			label string
			c     color.Color
		}{{name, "training", trainColor}, {"val_" + name, "validation", valColor}} {
			vals := h.Metrics[series.key]
			if len(vals) == 0 {
				continue
			}
			pts := make(plotter.XYs, len(vals))
			for j, v := range vals {
				pts[j].X, pts[j].Y = float64(h.Epochs[j]+1), v
			}
			line, points, err := plotter.NewLinePoints(pts)
			if err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			line.Color, points.Color = series.c, series.c
			line.Width = vg.Points(1.5)
			p.Add(line, points)
			p.Legend.Add(series.label, line, points)
		}
		p.Legend.Top = name == "loss"
		p.Draw(tiles.At(dc, i, 0))
	}
	f, err := createFile(path)
	if err != nil {
		return err
	}
	png := vgimg.PngCanvas{Canvas: img}
	if _, err := png.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("plot: %w", err)
	}
	return f.Close()
}
