package layers

import (
	"fmt"
	"math"

	"github.com/tfgo-project/gotf/tfwrap"
)

// uniformPerSample draws one number per sample in [lo, hi], shape (batch,
// 1), stateless from the layer's seed, the model's step and a stream id.
func (b *base) uniformPerSample(ctx *Context, typ string, x tfwrap.Output, lo, hi float64, stream int64) (tfwrap.Output, error) {
	g := ctx.Graph
	col, err := perSample(g, x, 1)
	if err != nil {
		return tfwrap.Output{}, err
	}
	seed, err := b.stepSeed(ctx, typ, stream)
	if err != nil {
		return tfwrap.Output{}, err
	}
	u := g.StatelessRandomUniform(col, seed, tfwrap.Float32)
	return g.Add(g.Mul(u, g.Scalar(hi-lo, tfwrap.Float32)), g.Scalar(lo, tfwrap.Float32)), nil
}

// projective moves each image by its row of Keras's 8-number projective
// transforms (a0 a1 a2 b0 b1 b2 0 0, each a (batch, 1) column: output
// pixel (x, y) reads input (a0 x + a1 y + a2, b0 x + b1 y + b2)), through
// TF's ImageProjectiveTransformV3, as Keras's affine_transform does.
func projective(g *tfwrap.Graph, x tfwrap.Output, cols [6]tfwrap.Output, o TransformOptions) (tfwrap.Output, error) {
	s := x.Shape()
	zeros := g.Apply("ZerosLike", nil, cols[0])
	m := g.Apply("ConcatV2", nil, tfwrap.OutputList{cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], zeros, zeros}, g.Scalar(1, tfwrap.Int32))
	size, err := tfwrap.NewTensor([]int32{int32(s[1]), int32(s[2])}, 2)
	if err != nil {
		return tfwrap.Output{}, err
	}
	return g.Apply("ImageProjectiveTransformV3",
		tfwrap.Attrs{"interpolation": upper(o.Interpolation), "fill_mode": upper(o.FillMode), "dtype": x.DType()},
		x, m, g.Const(size), g.Scalar(o.FillValue, tfwrap.Float32)), nil
}

// moveImages is the Forward of a layer that moves pixels: x must be a
// batch of images that OutputShape accepts; at inference it is passed
// through; in training cols gives Keras's transform columns for the
// batch, which projective applies with o's fill and interpolation.
func moveImages(ctx *Context, name string, x tfwrap.Output, outputShape func([]int64) ([]int64, error), o TransformOptions,
	cols func(g *tfwrap.Graph, s []int64) ([6]tfwrap.Output, error)) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	s := x.Shape()
	if len(s) != 4 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v: want a batch of images (batch, height, width, channels)", name, x)
	}
	if _, err := outputShape(s[1:]); err != nil {
		return tfwrap.Output{}, fmt.Errorf("layer %w", err)
	}
	if !ctx.Training {
		return x, nil
	}
	o.defaults()
	g := ctx.Graph
	c, err := cols(g, s)
	if err != nil {
		return tfwrap.Output{}, err
	}
	out, err := projective(g, x, c, o)
	if err != nil {
		return tfwrap.Output{}, err
	}
	return built(name, g, out)
}

// checkImages checks a moving augmentation layer's per-sample shape and
// options.
func checkImages(name, typ string, o TransformOptions, in []int64) ([]int64, error) {
	if err := o.defaults(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(in) != 3 {
		return nil, fmt.Errorf("%s: %s takes images (height, width, channels), got %v", name, typ, in)
	}
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return append([]int64{}, in...), nil
}

// checkRange checks a factor range: finite, lower ≤ upper, and lower >
// floor where floor is not NaN.
func checkRange(name, what string, f [2]float64, lo, hi float64) error {
	for _, v := range f {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v > hi {
			return fmt.Errorf("%s: %s range %v: each must be in [%g, %g]", name, what, f, lo, hi)
		}
	}
	if f[0] > f[1] {
		return fmt.Errorf("%s: %s range %v: want lower ≤ upper", name, what, f)
	}
	return nil
}

type randomRotation struct {
	base
	factor [2]float64
	o      TransformOptions
}

// RandomRotation turns each training image about its centre by a random
// fraction of a full turn in [factor[0], factor[1]] (Keras's
// factor=(lo, hi); a single factor f is [-f, f]), filling as o says, as
// keras.layers.RandomRotation; at inference it passes its input through.
// The turn is TensorFlow's ImageProjectiveTransformV3 with Keras's matrix.
func RandomRotation(factor [2]float64, o TransformOptions, opts ...Option) Layer {
	c := newConfig(opts)
	return &randomRotation{base: base{name: c.name, cfg: c}, factor: factor, o: o}
}

func (l *randomRotation) Type() string { return "RandomRotation" }

func (l *randomRotation) OutputShape(in []int64) ([]int64, error) {
	if err := checkRange(l.name, "rotation", l.factor, -1e6, 1e6); err != nil {
		return nil, err
	}
	return checkImages(l.name, "RandomRotation", l.o, in)
}

func (l *randomRotation) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *randomRotation) Weights() []*tfwrap.Variable       { return nil }

func (l *randomRotation) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	return moveImages(ctx, l.name, x, l.OutputShape, l.o, func(g *tfwrap.Graph, s []int64) ([6]tfwrap.Output, error) {
		// Keras draws degrees (factor × 360) and turns them into radians.
		deg, err := l.uniformPerSample(ctx, "RandomRotation", x, l.factor[0]*360, l.factor[1]*360, 0)
		if err != nil {
			return [6]tfwrap.Output{}, err
		}
		angle := g.Mul(deg, g.Scalar(math.Pi/180, tfwrap.Float32))
		cos, sin := g.Cos(angle), g.Sin(angle)
		cx := g.Scalar(0.5*float64(s[2]-1), tfwrap.Float32)
		cy := g.Scalar(0.5*float64(s[1]-1), tfwrap.Float32)
		a1 := g.Neg(sin)
		a2 := g.Sub(g.Sub(cx, g.Mul(cx, cos)), g.Mul(cy, a1))
		b2 := g.Sub(g.Sub(cy, g.Mul(cx, sin)), g.Mul(cy, cos))
		return [6]tfwrap.Output{cos, a1, a2, sin, cos, b2}, nil
	})
}

// Config implements Layer.
func (l *randomRotation) Config() Config {
	c := l.describe("RandomRotation")
	c.Factor = []float64{l.factor[0], l.factor[1]}
	c.FillMode, c.FillValue, c.Interpolation = l.o.FillMode, l.o.FillValue, l.o.Interpolation
	return c
}

type randomZoom struct {
	base
	height [2]float64
	width  *[2]float64
	o      TransformOptions
}

// RandomZoom zooms each training image about its centre, as
// keras.layers.RandomZoom: its height by 1 + a random fraction in
// [height[0], height[1]] (each > -1; Keras's height_factor; a positive
// fraction zooms out, a negative one in) and its width by 1 + a fraction
// in width, or, with width nil (Keras's width_factor=None), by the
// height's factor, keeping the aspect ratio. It fills as o says; at
// inference it passes its input through.
func RandomZoom(height [2]float64, width *[2]float64, o TransformOptions, opts ...Option) Layer {
	c := newConfig(opts)
	l := &randomZoom{base: base{name: c.name, cfg: c}, height: height, o: o}
	if width != nil {
		w := *width
		l.width = &w
	}
	return l
}

func (l *randomZoom) Type() string { return "RandomZoom" }

func (l *randomZoom) OutputShape(in []int64) ([]int64, error) {
	if err := checkRange(l.name, "zoom height", l.height, -0.999999, 1e6); err != nil {
		return nil, err
	}
	if l.width != nil {
		if err := checkRange(l.name, "zoom width", *l.width, -0.999999, 1e6); err != nil {
			return nil, err
		}
	}
	return checkImages(l.name, "RandomZoom", l.o, in)
}

func (l *randomZoom) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *randomZoom) Weights() []*tfwrap.Variable       { return nil }

func (l *randomZoom) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	return moveImages(ctx, l.name, x, l.OutputShape, l.o, func(g *tfwrap.Graph, s []int64) ([6]tfwrap.Output, error) {
		zy, err := l.uniformPerSample(ctx, "RandomZoom", x, 1+l.height[0], 1+l.height[1], 0)
		if err != nil {
			return [6]tfwrap.Output{}, err
		}
		zx := zy
		if l.width != nil {
			if zx, err = l.uniformPerSample(ctx, "RandomZoom", x, 1+l.width[0], 1+l.width[1], 1); err != nil {
				return [6]tfwrap.Output{}, err
			}
		}
		one := g.Scalar(1, tfwrap.Float32)
		xOff := g.Mul(g.Scalar((float64(s[2])-1)/2, tfwrap.Float32), g.Sub(one, zx))
		yOff := g.Mul(g.Scalar((float64(s[1])-1)/2, tfwrap.Float32), g.Sub(one, zy))
		zero := g.Apply("ZerosLike", nil, zx)
		return [6]tfwrap.Output{zx, zero, xOff, zero, zy, yOff}, nil
	})
}

// Config implements Layer.
func (l *randomZoom) Config() Config {
	c := l.describe("RandomZoom")
	c.HeightFactor = []float64{l.height[0], l.height[1]}
	if l.width != nil {
		c.WidthFactor = []float64{l.width[0], l.width[1]}
	}
	c.FillMode, c.FillValue, c.Interpolation = l.o.FillMode, l.o.FillValue, l.o.Interpolation
	return c
}
