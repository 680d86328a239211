package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

type dense struct{ affine }

// Dense is a fully connected layer, activation(x·kernel + bias), as
// keras.layers.Dense on flat (per-sample rank 1) inputs.
func Dense(units int, opts ...Option) Layer {
	c := newConfig(opts)
	return &dense{affine{base: base{name: c.name, cfg: c}, units: int64(units)}}
}

func (l *dense) Type() string { return "Dense" }

func (l *dense) OutputShape(in []int64) ([]int64, error) {
	if l.units < 1 {
		return nil, fmt.Errorf("%s: units must be positive, got %d", l.name, l.units)
	}
	if len(in) != 1 {
		return nil, fmt.Errorf("%s: Dense takes flat inputs (one axis per sample), got per-sample shape %v; add a Flatten layer first", l.name, in)
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
	return []int64{l.units}, nil
}

func (l *dense) ParamCount(in []int64) (int64, int64) {
	if len(in) != 1 {
		return 0, 0
	}
	return l.params(in[0] * l.units), 0
}

func (l *dense) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	s := x.Shape()
	if len(s) != 2 || s[1] < 1 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v is not a batch of flat vectors", l.name, x)
	}
	if err := l.create(ctx, s[1], l.units, s[1], l.units); err != nil {
		return tfwrap.Output{}, err
	}
	l.addPenalties(ctx)
	return l.finish(ctx, ctx.Graph.MatMul(x, l.kernel.Value()))
}
