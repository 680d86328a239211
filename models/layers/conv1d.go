package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

type conv1D struct {
	affine
	kernelSize int64
}

// Conv1D is a 1-D convolution over (steps, channels) sequences,
// activation(conv(x, kernel) + bias), as keras.layers.Conv1D with
// dilation 1. Its kernel is (kernelSize, in channels, filters), Glorot
// uniform as in Keras, and its bias zeros. The stride defaults to 1
// (WithStride1D sets it), padding to Valid (Same is Keras's "same"; causal
// padding is not supported). It runs as TF's Conv2D over a height-1 image.
func Conv1D(filters, kernelSize int, opts ...Option) Layer {
	c := newConfig(opts)
	if c.strides == [2]int64{} {
		c.strides = [2]int64{1, 1}
	}
	return &conv1D{affine: affine{base: base{name: c.name, cfg: c}, units: int64(filters)}, kernelSize: int64(kernelSize)}
}

// WithStride1D sets a Conv1D layer's stride.
func WithStride1D(s int) Option {
	return func(c *config) { c.strides = [2]int64{1, int64(s)}; c.mark("WithStride1D") }
}

func (l *conv1D) Type() string { return "Conv1D" }

func (l *conv1D) OutputShape(in []int64) ([]int64, error) {
	if l.units < 1 || l.kernelSize < 1 {
		return nil, fmt.Errorf("%s: filters %d and kernel size %d must be positive", l.name, l.units, l.kernelSize)
	}
	if l.cfg.strides[0] != 1 || l.cfg.strides[1] < 1 {
		return nil, fmt.Errorf("%s: Conv1D takes one positive stride (WithStride1D), got %v", l.name, l.cfg.strides)
	}
	if len(in) != 2 {
		return nil, fmt.Errorf("%s: Conv1D takes sequences (steps, channels) per sample, got %v", l.name, in)
	}
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	if _, ok := activationNames[l.cfg.activation]; !ok {
		return nil, fmt.Errorf("%s: unknown activation %v", l.name, l.cfg.activation)
	}
	steps, err := shape.Window(in[0], l.kernelSize, l.cfg.strides[1], l.cfg.padding)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return []int64{steps, l.units}, nil
}

func (l *conv1D) ParamCount(in []int64) (int64, int64) {
	if len(in) != 2 {
		return 0, 0
	}
	return l.params(l.kernelSize * in[1] * l.units), 0
}

func (l *conv1D) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	s := x.Shape()
	if len(s) != 3 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v is not a batch of (steps, channels) sequences", l.name, x)
	}
	out, err := l.OutputShape(s[1:])
	if err != nil {
		return tfwrap.Output{}, fmt.Errorf("layer %w", err)
	}
	k, cin := l.kernelSize, s[2]
	if err := l.create(ctx, k*cin, k*l.units, k, cin, l.units); err != nil {
		return tfwrap.Output{}, err
	}
	g := ctx.Graph
	img := g.Reshape(x, -1, 1, s[1], cin)
	kernel := g.Reshape(l.kernel.Value(), 1, k, cin, l.units)
	y := g.Conv2D(img, kernel, l.cfg.strides, l.cfg.padding)
	return l.finish(ctx, g.Reshape(y, -1, out[0], out[1]))
}
