package layers

import (
	"errors"
	"fmt"
	"math"

	"github.com/tfgo-project/gotf/tfwrap"
)

// NormalizationOptions are a Normalization layer's per-feature statistics
// (Keras's mean= and variance=, over the last axis), as Adapt computes
// them from data; Invert maps normalized values back (Keras's invert).
type NormalizationOptions struct {
	Mean, Variance []float32
	Invert         bool
}

type normalization struct {
	base
	o NormalizationOptions
}

// Normalization standardizes each feature of the last axis, as
// keras.layers.Normalization(axis=-1, mean=…, variance=…):
// (x - mean) / max(sqrt(variance), 1e-7), or with Invert, mean + x *
// max(sqrt(variance), 1e-7). The statistics are constants of the graph,
// not weights (as in Keras when they are given). Compute them from the
// training data with Adapt, as Keras's layer.adapt(x).
func Normalization(o NormalizationOptions, opts ...Option) Layer {
	c := newConfig(opts)
	o.Mean, o.Variance = append([]float32(nil), o.Mean...), append([]float32(nil), o.Variance...)
	return &normalization{base: base{name: c.name, cfg: c}, o: o}
}

// Adapt computes the per-feature mean and (biased) variance of data, a
// row-major array whose last axis has features elements (a batch of
// samples, each one or more rows of features), as Keras's
// Normalization.adapt does over every axis but the last. The sums run in
// float64. Non-finite values are an error naming the element.
func Adapt(data []float32, features int) (mean, variance []float32, err error) {
	if features <= 0 || len(data) == 0 || len(data)%features != 0 {
		return nil, nil, fmt.Errorf("layers: adapt: %d values are not rows of %d features", len(data), features)
	}
	n := len(data) / features
	sum := make([]float64, features)
	for i, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, nil, fmt.Errorf("layers: adapt: element %d (row %d, feature %d) is %v", i, i/features, i%features, v)
		}
		sum[i%features] += float64(v)
	}
	mean, variance = make([]float32, features), make([]float32, features)
	sq := make([]float64, features)
	for f := range sum {
		sum[f] /= float64(n)
	}
	for i, v := range data {
		d := float64(v) - sum[i%features]
		sq[i%features] += d * d
	}
	for f := range sum {
		mean[f], variance[f] = float32(sum[f]), float32(sq[f]/float64(n))
	}
	return mean, variance, nil
}

func (l *normalization) Type() string { return "Normalization" }

func (l *normalization) check() error {
	if len(l.o.Mean) == 0 || len(l.o.Mean) != len(l.o.Variance) {
		return errors.New("Normalization needs a mean and a variance per feature, of one length (compute them with layers.Adapt)")
	}
	for i, v := range l.o.Variance {
		if !(v >= 0) || math.IsInf(float64(v), 0) || math.IsNaN(float64(l.o.Mean[i])) || math.IsInf(float64(l.o.Mean[i]), 0) {
			return fmt.Errorf("feature %d: mean %v and variance %v must be finite, the variance not negative", i, l.o.Mean[i], v)
		}
	}
	return nil
}

func (l *normalization) OutputShape(in []int64) ([]int64, error) {
	if err := l.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	if len(in) == 0 || in[len(in)-1] != int64(len(l.o.Mean)) {
		return nil, fmt.Errorf("%s: input %v: its last axis must hold the %d features the statistics describe", l.name, in, len(l.o.Mean))
	}
	return append([]int64{}, in...), nil
}

func (l *normalization) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *normalization) Weights() []*tfwrap.Variable       { return nil }

func (l *normalization) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	g := ctx.Graph
	s := x.Shape()
	if len(s) < 2 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v needs a batch axis and a feature axis", l.name, x)
	}
	if _, err := l.OutputShape(s[1:]); err != nil {
		return tfwrap.Output{}, fmt.Errorf("layer %w", err)
	}
	c := int64(len(l.o.Mean))
	mean, err := tfwrap.NewTensor(l.o.Mean, c)
	if err != nil {
		return tfwrap.Output{}, err
	}
	std := make([]float32, c)
	for i, v := range l.o.Variance {
		std[i] = max(float32(math.Sqrt(float64(v))), 1e-7) // Keras: max(sqrt(variance), epsilon)
	}
	sd, err := tfwrap.NewTensor(std, c)
	if err != nil {
		return tfwrap.Output{}, err
	}
	m, d := g.Cast(g.Const(mean), x.DType()), g.Cast(g.Const(sd), x.DType())
	if l.o.Invert {
		return built(l.name, g, g.Add(m, g.Mul(x, d)))
	}
	return built(l.name, g, g.Div(g.Sub(x, m), d))
}

// Config implements Layer.
func (l *normalization) Config() Config {
	c := l.describe("Normalization")
	c.Mean, c.Variance, c.Invert = append([]float32(nil), l.o.Mean...), append([]float32(nil), l.o.Variance...), l.o.Invert
	return c
}
