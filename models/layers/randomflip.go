package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

// The flip modes of RandomFlip, as Keras names them.
const (
	Horizontal            = "horizontal"
	Vertical              = "vertical"
	HorizontalAndVertical = "horizontal_and_vertical"
)

type randomFlip struct {
	base
	mode string
}

// RandomFlip flips each image of an NHWC batch left-right (Horizontal),
// upside down (Vertical) or each independently (HorizontalAndVertical, the
// Keras default), each with probability one half, during training only,
// as keras.layers.RandomFlip; at inference it passes its input through.
// The coins come from TF's StatelessRandomUniform seeded by the layer's
// seed and the model's step, so a resumed run draws what the
// uninterrupted one would have.
func RandomFlip(mode string, opts ...Option) Layer {
	c := newConfig(opts)
	if mode == "" {
		mode = HorizontalAndVertical
	}
	return &randomFlip{base: base{name: c.name, cfg: c}, mode: mode}
}

func (l *randomFlip) Type() string { return "RandomFlip" }

func (l *randomFlip) OutputShape(in []int64) ([]int64, error) {
	if l.mode != Horizontal && l.mode != Vertical && l.mode != HorizontalAndVertical {
		return nil, fmt.Errorf("%s: mode %q: want %q, %q or %q", l.name, l.mode, Horizontal, Vertical, HorizontalAndVertical)
	}
	if len(in) != 3 {
		return nil, fmt.Errorf("%s: RandomFlip takes images (height, width, channels), got %v", l.name, in)
	}
	return append([]int64{}, in...), nil
}

func (l *randomFlip) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *randomFlip) Weights() []*tfwrap.Variable       { return nil }

func (l *randomFlip) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	s := x.Shape()
	if len(s) != 4 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v: want a batch of images (batch, height, width, channels)", l.name, x)
	}
	if _, err := l.OutputShape(s[1:]); err != nil {
		return tfwrap.Output{}, fmt.Errorf("layer %w", err)
	}
	if !ctx.Training {
		return x, nil
	}
	g := ctx.Graph
	coinShape, err := perSample(g, x, 3) // one coin per image
	if err != nil {
		return tfwrap.Output{}, err
	}
	flip := func(x tfwrap.Output, axis int32, stream int64) (tfwrap.Output, error) {
		seed, err := l.stepSeed(ctx, "RandomFlip", stream)
		if err != nil {
			return tfwrap.Output{}, err
		}
		coin := g.Apply("Less", nil, g.StatelessRandomUniform(coinShape, seed, tfwrap.Float32), g.Scalar(0.5, tfwrap.Float32))
		ax, err := tfwrap.NewTensor([]int32{axis}, 1)
		if err != nil {
			return tfwrap.Output{}, err
		}
		flipped := g.Apply("ReverseV2", nil, x, g.Const(ax))
		return g.Apply("SelectV2", nil, coin, flipped, x), nil
	}
	out := x
	if l.mode != Vertical {
		if out, err = flip(out, 2, 0); err != nil {
			return tfwrap.Output{}, err
		}
	}
	if l.mode != Horizontal {
		if out, err = flip(out, 1, 1); err != nil {
			return tfwrap.Output{}, err
		}
	}
	return built(l.name, g, out)
}

// Config implements Layer.
func (l *randomFlip) Config() Config {
	c := l.describe("RandomFlip")
	c.Mode = l.mode
	return c
}
