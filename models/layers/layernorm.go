package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

// LayerNormOptions are a LayerNormalization layer's arguments; the zero
// value is Keras's defaults (epsilon 1e-3, center and scale).
type LayerNormOptions struct {
	// Epsilon is added to the variance; 0 means Keras's 1e-3.
	Epsilon float64
	// NoCenter leaves out beta (Keras's center=False).
	NoCenter bool
	// NoScale leaves out gamma (Keras's scale=False).
	NoScale bool
}

type layerNorm struct {
	base
	o           LayerNormOptions
	gamma, beta *tfwrap.Variable
}

// LayerNormalization normalizes each sample over its last axis, as
// keras.layers.LayerNormalization(axis=-1): (x - mean) / sqrt(variance +
// epsilon) * gamma + beta, with the biased variance. Its weights are gamma
// (ones) then beta (zeros), each as long as the last axis, as Keras's
// get_weights lists them; either may be left out with o.
func LayerNormalization(o LayerNormOptions, opts ...Option) Layer {
	c := newConfig(opts)
	if o.Epsilon == 0 {
		o.Epsilon = 1e-3
	}
	return &layerNorm{base: base{name: c.name, cfg: c}, o: o}
}

func (l *layerNorm) Type() string { return "LayerNormalization" }

func (l *layerNorm) OutputShape(in []int64) ([]int64, error) {
	if !(l.o.Epsilon > 0) {
		return nil, fmt.Errorf("%s: epsilon %v must be positive", l.name, l.o.Epsilon)
	}
	if len(in) < 1 {
		return nil, fmt.Errorf("%s: LayerNormalization needs at least one axis per sample, got %v", l.name, in)
	}
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return append([]int64{}, in...), nil
}

func (l *layerNorm) ParamCount(in []int64) (int64, int64) {
	if len(in) == 0 {
		return 0, 0
	}
	n := int64(0)
	if !l.o.NoScale {
		n += in[len(in)-1]
	}
	if !l.o.NoCenter {
		n += in[len(in)-1]
	}
	return n, 0
}

func (l *layerNorm) Weights() []*tfwrap.Variable {
	var ws []*tfwrap.Variable
	if l.gamma != nil {
		ws = append(ws, l.gamma)
	}
	if l.beta != nil {
		ws = append(ws, l.beta)
	}
	return ws
}

func (l *layerNorm) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	g := ctx.Graph
	s := x.Shape()
	if len(s) < 2 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v needs a batch axis and a feature axis", l.name, x)
	}
	if _, err := l.OutputShape(s[1:]); err != nil {
		return tfwrap.Output{}, fmt.Errorf("layer %w", err)
	}
	c := s[len(s)-1]
	if l.gamma == nil && l.beta == nil {
		if !l.o.NoScale {
			ones, err := filled(1, c)
			if err != nil {
				return tfwrap.Output{}, err
			}
			l.gamma = l.variable(g, "gamma", ones)
		}
		if !l.o.NoCenter {
			zeros, err := filled(0, c)
			if err != nil {
				return tfwrap.Output{}, err
			}
			l.beta = l.variable(g, "beta", zeros)
		}
	}
	last := len(s) - 1
	mean := g.MeanKeepDims(x, last)
	centered := g.Sub(x, mean)
	variance := g.MeanKeepDims(g.Square(centered), last)
	y := g.Div(centered, g.Sqrt(g.Add(variance, g.Scalar(l.o.Epsilon, x.DType()))))
	if l.gamma != nil {
		y = g.Mul(y, l.gamma.Value())
	}
	if l.beta != nil {
		y = g.Add(y, l.beta.Value())
	}
	return built(l.name, g, y)
}
