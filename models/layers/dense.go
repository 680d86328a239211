package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

type dense struct{ affine }

// Dense is a fully connected layer, activation(x·kernel + bias), as
// keras.layers.Dense: on an input of more than one axis per sample (a
// sequence, an image) it applies to the last axis, every position alike,
// as Keras does.
func Dense(units int, opts ...Option) Layer {
	c := newConfig(opts)
	return &dense{affine{base: base{name: c.name, cfg: c}, units: int64(units)}}
}

func (l *dense) Type() string { return "Dense" }

func (l *dense) OutputShape(in []int64) ([]int64, error) {
	if l.units < 1 {
		return nil, fmt.Errorf("%s: units must be positive, got %d", l.name, l.units)
	}
	if len(in) < 1 {
		return nil, fmt.Errorf("%s: Dense needs at least one axis per sample, got per-sample shape %v", l.name, in)
	}
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	if _, ok := activationNames[l.cfg.activation]; !ok {
		return nil, fmt.Errorf("%s: unknown activation %v", l.name, l.cfg.activation)
	}
	if err := l.checkRegularizers(); err != nil {
		return nil, err
	}
	return append(append([]int64(nil), in[:len(in)-1]...), l.units), nil
}

func (l *dense) ParamCount(in []int64) (int64, int64) {
	if len(in) < 1 {
		return 0, 0
	}
	return l.params(in[len(in)-1] * l.units), 0
}

func (l *dense) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	s := x.Shape()
	if len(s) < 2 || s[len(s)-1] < 1 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v has no features axis", l.name, x)
	}
	f := s[len(s)-1]
	if err := l.create(ctx, f, l.units, f, l.units); err != nil {
		return tfwrap.Output{}, err
	}
	l.addPenalties(ctx)
	g := ctx.Graph
	if len(s) == 2 {
		return l.finish(ctx, g.MatMul(x, l.kernel.Value()))
	}
	// Every position alike: the positions as rows of one MatMul.
	for _, d := range s[1 : len(s)-1] {
		if d < 1 {
			return tfwrap.Output{}, fmt.Errorf("layer %s: input %v: every axis but the batch must be known", l.name, x)
		}
	}
	y := g.MatMul(g.Reshape(x, -1, f), l.kernel.Value())
	return l.finish(ctx, g.Reshape(y, append(append([]int64{-1}, s[1:len(s)-1]...), l.units)...))
}
