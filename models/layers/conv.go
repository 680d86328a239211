package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

type conv2D struct {
	affine
	kernelSize [2]int64
}

// Conv2D is a 2-D convolution over NHWC images, activation(conv(x, kernel)
// + bias), as keras.layers.Conv2D. Strides default to 1, padding to Valid.
func Conv2D(filters, kernelH, kernelW int, opts ...Option) Layer {
	c := newConfig(opts)
	if c.strides == [2]int64{} {
		c.strides = [2]int64{1, 1}
	}
	return &conv2D{affine: affine{base: base{name: c.name, cfg: c}, units: int64(filters)}, kernelSize: [2]int64{int64(kernelH), int64(kernelW)}}
}

func (l *conv2D) Type() string { return "Conv2D" }

func (l *conv2D) OutputShape(in []int64) ([]int64, error) {
	if l.units < 1 || l.kernelSize[0] < 1 || l.kernelSize[1] < 1 {
		return nil, fmt.Errorf("%s: filters %d and kernel size %v must be positive", l.name, l.units, l.kernelSize)
	}
	if len(in) != 3 {
		return nil, fmt.Errorf("%s: Conv2D takes images (height, width, channels) per sample, got %v", l.name, in)
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
	out, err := shape.Conv2D(append([]int64{-1}, in...), []int64{l.kernelSize[0], l.kernelSize[1], in[2], l.units}, l.cfg.strides, l.cfg.padding)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return out[1:], nil
}

func (l *conv2D) ParamCount(in []int64) (int64, int64) {
	if len(in) != 3 {
		return 0, 0
	}
	return l.params(l.kernelSize[0] * l.kernelSize[1] * in[2] * l.units), 0
}

func (l *conv2D) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	s := x.Shape()
	if len(s) != 4 || s[3] < 1 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v is not a batch of NHWC images", l.name, x)
	}
	kh, kw, cin := l.kernelSize[0], l.kernelSize[1], s[3]
	if err := l.create(ctx, kh*kw*cin, kh*kw*l.units, kh, kw, cin, l.units); err != nil {
		return tfwrap.Output{}, err
	}
	l.addPenalties(ctx)
	return l.finish(ctx, ctx.Graph.Conv2D(x, l.kernel.Value(), l.cfg.strides, l.cfg.padding))
}
