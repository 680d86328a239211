package layers

import (
	"fmt"
	"math"

	"github.com/tfgo-project/gotf/tfwrap"
)

// ReLUOptions are a ReLU layer's arguments, as keras.layers.ReLU's: the
// output is MaxValue where x >= MaxValue, x where Threshold <= x <
// MaxValue, and NegativeSlope*(x - Threshold) below Threshold. The zero
// value is the plain ReLU, max(x, 0).
type ReLUOptions struct {
	// MaxValue caps the output; 0 or less means no cap (Keras's None).
	MaxValue float64
	// NegativeSlope is the slope below Threshold (a leaky ReLU).
	NegativeSlope float64
	// Threshold is where the output stops being zero (or leaky); only 0
	// is supported.
	Threshold float64
}

type relu struct {
	base
	o ReLUOptions
}

// ReLULayer is keras.layers.ReLU: ReLULayer(ReLUOptions{MaxValue: 6}) is
// MobileNetV2's ReLU6. It runs TF's Relu, Relu6 or LeakyRelu kernel, and
// Minimum for a cap other than 6.
func ReLULayer(o ReLUOptions, opts ...Option) Layer {
	c := newConfig(opts)
	return &relu{base: base{name: c.name, cfg: c}, o: o}
}

func (l *relu) Type() string { return "ReLU" }

func (l *relu) OutputShape(in []int64) ([]int64, error) {
	for _, v := range []float64{l.o.MaxValue, l.o.NegativeSlope, l.o.Threshold} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: ReLU options %+v must be finite", l.name, l.o)
		}
	}
	if l.o.Threshold != 0 {
		return nil, fmt.Errorf("%s: ReLU threshold %v: only 0 is supported", l.name, l.o.Threshold)
	}
	if l.o.NegativeSlope < 0 {
		return nil, fmt.Errorf("%s: ReLU negative slope %v must be >= 0", l.name, l.o.NegativeSlope)
	}
	return append([]int64{}, in...), nil
}

func (l *relu) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *relu) Weights() []*tfwrap.Variable       { return nil }

func (l *relu) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	g := ctx.Graph
	o := l.o
	var y tfwrap.Output
	switch {
	case o.NegativeSlope == 0 && o.MaxValue == 6:
		y = g.Relu6(x)
	case o.NegativeSlope == 0:
		y = g.Relu(x)
	default:
		y = g.LeakyRelu(x, o.NegativeSlope)
	}
	if o.MaxValue > 0 && !(o.MaxValue == 6 && o.NegativeSlope == 0) {
		y = g.Minimum(y, g.Scalar(o.MaxValue, x.DType()))
	}
	return built(l.name, g, y)
}
