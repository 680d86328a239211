package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

type dropout struct {
	base
	rate float64
}

// Dropout zeroes each input with probability rate during training and
// scales the rest by 1/(1-rate), as keras.layers.Dropout; at inference it
// passes its input through. The mask comes from TF's StatelessRandomUniform
// seeded by the layer's seed and the model's step count.
func Dropout(rate float64, opts ...Option) Layer {
	c := newConfig(opts)
	return &dropout{base: base{name: c.name, cfg: c}, rate: rate}
}

func (l *dropout) Type() string { return "Dropout" }

func (l *dropout) OutputShape(in []int64) ([]int64, error) {
	if !(l.rate >= 0 && l.rate < 1) {
		return nil, fmt.Errorf("%s: rate %v must be in [0, 1)", l.name, l.rate)
	}
	return append([]int64{}, in...), nil
}

func (l *dropout) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *dropout) Weights() []*tfwrap.Variable       { return nil }

func (l *dropout) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	if !ctx.Training || l.rate == 0 {
		return x, nil
	}
	g := ctx.Graph
	seed, err := l.stepSeed(ctx, "dropout", 0)
	if err != nil {
		return tfwrap.Output{}, err
	}
	u := g.StatelessRandomUniform(g.ShapeOf(x), seed, x.DType())
	keep := 1 - l.rate
	// u >= rate with probability 1-rate: mask = floor(u + keep) is 1 there.
	mask := g.Floor(g.Add(u, g.Scalar(keep, x.DType())))
	out := g.Mul(x, g.Mul(mask, g.Scalar(1/keep, x.DType())))
	return built(l.name, g, out)
}
