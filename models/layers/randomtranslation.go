package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

// TransformOptions are how an augmentation layer that moves pixels fills
// what comes from outside the image, as Keras's fill_mode, fill_value and
// interpolation; the zero value is Keras's default ("reflect",
// "bilinear").
type TransformOptions struct {
	FillMode      string  // "reflect", "wrap", "constant" or "nearest"
	FillValue     float64 // with "constant"
	Interpolation string  // "bilinear" or "nearest"
}

func (o *TransformOptions) defaults() error {
	if o.FillMode == "" {
		o.FillMode = "reflect"
	}
	if o.Interpolation == "" {
		o.Interpolation = "bilinear"
	}
	switch o.FillMode {
	case "reflect", "wrap", "constant", "nearest":
	default:
		return fmt.Errorf("fill mode %q: want reflect, wrap, constant or nearest", o.FillMode)
	}
	if o.Interpolation != "bilinear" && o.Interpolation != "nearest" {
		return fmt.Errorf("interpolation %q: want bilinear or nearest", o.Interpolation)
	}
	return nil
}

type randomTranslation struct {
	base
	height, width [2]float64
	o             TransformOptions
}

// RandomTranslation shifts each training image by a random fraction of
// its height in [height[0], height[1]] and of its width in [width[0],
// width[1]] (each within [-1, 1]; Keras's height_factor=(lo, hi),
// width_factor=(lo, hi); a single factor f is [-f, f]), filling as o
// says, as keras.layers.RandomTranslation; at inference it passes its
// input through. The move is TensorFlow's ImageProjectiveTransformV3, with
// Keras's matrix; the draws are stateless, from the layer's seed and the
// model's step.
func RandomTranslation(height, width [2]float64, o TransformOptions, opts ...Option) Layer {
	c := newConfig(opts)
	return &randomTranslation{base: base{name: c.name, cfg: c}, height: height, width: width, o: o}
}

func (l *randomTranslation) Type() string { return "RandomTranslation" }

func (l *randomTranslation) OutputShape(in []int64) ([]int64, error) {
	for _, f := range [][2]float64{l.height, l.width} {
		if !(f[0] >= -1 && f[1] <= 1 && f[0] <= f[1]) {
			return nil, fmt.Errorf("%s: factor range %v: want lower ≤ upper, both in [-1, 1]", l.name, f)
		}
	}
	return checkImages(l.name, "RandomTranslation", l.o, in)
}

func (l *randomTranslation) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *randomTranslation) Weights() []*tfwrap.Variable       { return nil }

func (l *randomTranslation) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	return moveImages(ctx, l.name, x, l.OutputShape, l.o, func(g *tfwrap.Graph, s []int64) ([6]tfwrap.Output, error) {
		draw := func(f [2]float64, size int64, stream int64) (tfwrap.Output, error) {
			frac, err := l.uniformPerSample(ctx, "RandomTranslation", x, f[0], f[1], stream)
			if err != nil {
				return tfwrap.Output{}, err
			}
			return g.Mul(frac, g.Scalar(float64(size), tfwrap.Float32)), nil
		}
		dy, err := draw(l.height, s[1], 0)
		if err != nil {
			return [6]tfwrap.Output{}, err
		}
		dx, err := draw(l.width, s[2], 1)
		if err != nil {
			return [6]tfwrap.Output{}, err
		}
		ones, zeros := g.Apply("OnesLike", nil, dx), g.Apply("ZerosLike", nil, dx)
		// Keras's matrix: [[1 0 -dx] [0 1 -dy] [0 0 1]].
		return [6]tfwrap.Output{ones, zeros, g.Neg(dx), zeros, ones, g.Neg(dy)}, nil
	})
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// Config implements Layer.
func (l *randomTranslation) Config() Config {
	c := l.describe("RandomTranslation")
	c.HeightFactor, c.WidthFactor = []float64{l.height[0], l.height[1]}, []float64{l.width[0], l.width[1]}
	c.FillMode, c.FillValue, c.Interpolation = l.o.FillMode, l.o.FillValue, l.o.Interpolation
	return c
}
