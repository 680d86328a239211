package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// WithDepthMultiplier sets how many output channels a DepthwiseConv2D or
// SeparableConv2D layer's depthwise step makes of each input channel
// (Keras's depth_multiplier, 1 by default).
func WithDepthMultiplier(n int) Option {
	return func(c *config) { c.depthMultiplier = int64(n); c.mark("WithDepthMultiplier") }
}

// depthwiseWindow is what DepthwiseConv2D and SeparableConv2D share: the
// kernel size, the depth multiplier and the shape checks of the depthwise
// step.
type depthwiseWindow struct {
	base
	kernelSize [2]int64
}

func (l *depthwiseWindow) mult() int64 { return l.cfg.depthMultiplier }

// depthwiseShape checks the per-sample input in and returns the depthwise
// step's per-sample output (height, width, in*mult).
func (l *depthwiseWindow) depthwiseShape(typ string, in []int64) ([]int64, error) {
	if l.kernelSize[0] < 1 || l.kernelSize[1] < 1 || l.mult() < 1 {
		return nil, fmt.Errorf("%s: kernel size %v and depth multiplier %d must be positive", l.name, l.kernelSize, l.mult())
	}
	if l.cfg.strides[0] < 1 || l.cfg.strides[1] < 1 {
		return nil, fmt.Errorf("%s: strides %v must be positive", l.name, l.cfg.strides)
	}
	if len(in) != 3 {
		return nil, fmt.Errorf("%s: %s takes images (height, width, channels) per sample, got %v", l.name, typ, in)
	}
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	if _, ok := activationNames[l.cfg.activation]; !ok {
		return nil, fmt.Errorf("%s: unknown activation %v", l.name, l.cfg.activation)
	}
	out, err := shape.Conv2D(append([]int64{-1}, in...), []int64{l.kernelSize[0], l.kernelSize[1], in[2], in[2] * l.mult()}, l.cfg.strides, l.cfg.padding)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return out[1:], nil
}

// depthwise adds the DepthwiseConv2dNative op of x and kernel
// (kh, kw, in, mult).
func (l *depthwiseWindow) depthwise(g *tfwrap.Graph, x, kernel tfwrap.Output) tfwrap.Output {
	return g.Apply("DepthwiseConv2dNative", tfwrap.Attrs{
		"strides": []int64{1, l.cfg.strides[0], l.cfg.strides[1], 1}, "padding": string(l.cfg.padding),
	}, x, kernel)
}

// checkInput checks a Forward's input x: a batch of NHWC images that fit.
func (l *depthwiseWindow) checkInput(typ string, x tfwrap.Output) ([]int64, error) {
	s := x.Shape()
	if len(s) != 4 {
		return nil, fmt.Errorf("layer %s: input %v is not a batch of NHWC images", l.name, x)
	}
	if !x.DType().IsFloat() {
		return nil, fmt.Errorf("layer %s: input %v is %v, not float", l.name, x, x.DType())
	}
	if _, err := l.depthwiseShape(typ, s[1:]); err != nil {
		return nil, fmt.Errorf("layer %w", err)
	}
	return s, nil
}

func newDepthwiseWindow(kh, kw int, opts []Option) depthwiseWindow {
	c := newConfig(opts)
	if c.strides == [2]int64{} {
		c.strides = [2]int64{1, 1}
	}
	if c.depthMultiplier == 0 && !c.gave("WithDepthMultiplier") {
		c.depthMultiplier = 1
	}
	return depthwiseWindow{base: base{name: c.name, cfg: c}, kernelSize: [2]int64{int64(kh), int64(kw)}}
}

// gave reports whether the option name was given.
func (c *config) gave(name string) bool {
	for _, g := range c.given {
		if g == name {
			return true
		}
	}
	return false
}

type depthwiseConv2D struct {
	depthwiseWindow
	kernel, bias *tfwrap.Variable
}

// DepthwiseConv2D convolves each channel of NHWC images on its own, as
// keras.layers.DepthwiseConv2D: each input channel gives depth_multiplier
// output channels (WithDepthMultiplier, 1 by default), then the bias and
// the activation. Its weights are kernel (kh, kw, in, mult), Glorot
// uniform, and bias (in*mult), zeros. Strides default to 1, padding to
// Valid. It runs as TF's DepthwiseConv2dNative.
func DepthwiseConv2D(kernelH, kernelW int, opts ...Option) Layer {
	return &depthwiseConv2D{depthwiseWindow: newDepthwiseWindow(kernelH, kernelW, opts)}
}

func (l *depthwiseConv2D) Type() string { return "DepthwiseConv2D" }

func (l *depthwiseConv2D) OutputShape(in []int64) ([]int64, error) {
	return l.depthwiseShape("DepthwiseConv2D", in)
}

func (l *depthwiseConv2D) ParamCount(in []int64) (int64, int64) {
	if len(in) != 3 || l.mult() < 1 {
		return 0, 0
	}
	n := l.kernelSize[0] * l.kernelSize[1] * in[2] * l.mult()
	if !l.cfg.noBias {
		n += in[2] * l.mult()
	}
	return n, 0
}

func (l *depthwiseConv2D) Weights() []*tfwrap.Variable {
	var ws []*tfwrap.Variable
	for _, w := range []*tfwrap.Variable{l.kernel, l.bias} {
		if w != nil {
			ws = append(ws, w)
		}
	}
	return ws
}

func (l *depthwiseConv2D) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	s, err := l.checkInput("DepthwiseConv2D", x)
	if err != nil {
		return tfwrap.Output{}, err
	}
	g := ctx.Graph
	kh, kw, cin, m := l.kernelSize[0], l.kernelSize[1], s[3], l.mult()
	if l.kernel == nil {
		// Keras's fans for a (kh, kw, in, mult) kernel.
		k, err := glorotUniform(l.seed(ctx), kh*kw*cin, kh*kw*m, kh, kw, cin, m)
		if err != nil {
			return tfwrap.Output{}, err
		}
		l.kernel = l.variable(g, "kernel", k)
		if !l.cfg.noBias {
			b, err := filled(0, cin*m)
			if err != nil {
				return tfwrap.Output{}, err
			}
			l.bias = l.variable(g, "bias", b)
		}
	}
	if ks := l.kernel.Shape(); len(ks) != 4 || ks[2] != cin {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input has %d channels, the kernel %v was built for %d", l.name, cin, ks, ks[2])
	}
	y := l.depthwise(g, x, l.kernel.Value())
	if l.bias != nil {
		y = g.BiasAdd(y, l.bias.Value())
	}
	out, err := apply(ctx, l.cfg.activation, y)
	if err != nil {
		return out, fmt.Errorf("layer %s: %w", l.name, err)
	}
	return built(l.name, g, out)
}

type separableConv2D struct {
	depthwiseWindow
	filters                      int64
	depthwiseK, pointwiseK, bias *tfwrap.Variable
}

// SeparableConv2D is a depthwise convolution (as DepthwiseConv2D, with
// the strides and padding) followed by a pointwise 1x1 convolution to
// filters channels, then the bias and the activation, as
// keras.layers.SeparableConv2D. Its weights are depthwise_kernel
// (kh, kw, in, mult), pointwise_kernel (1, 1, in*mult, filters), both
// Glorot uniform, and bias (filters), zeros, in that order.
func SeparableConv2D(filters, kernelH, kernelW int, opts ...Option) Layer {
	return &separableConv2D{depthwiseWindow: newDepthwiseWindow(kernelH, kernelW, opts), filters: int64(filters)}
}

func (l *separableConv2D) Type() string { return "SeparableConv2D" }

func (l *separableConv2D) OutputShape(in []int64) ([]int64, error) {
	if l.filters < 1 {
		return nil, fmt.Errorf("%s: filters %d must be positive", l.name, l.filters)
	}
	out, err := l.depthwiseShape("SeparableConv2D", in)
	if err != nil {
		return nil, err
	}
	return []int64{out[0], out[1], l.filters}, nil
}

func (l *separableConv2D) ParamCount(in []int64) (int64, int64) {
	if len(in) != 3 || l.mult() < 1 {
		return 0, 0
	}
	n := l.kernelSize[0]*l.kernelSize[1]*in[2]*l.mult() + in[2]*l.mult()*l.filters
	if !l.cfg.noBias {
		n += l.filters
	}
	return n, 0
}

func (l *separableConv2D) Weights() []*tfwrap.Variable {
	var ws []*tfwrap.Variable
	for _, w := range []*tfwrap.Variable{l.depthwiseK, l.pointwiseK, l.bias} {
		if w != nil {
			ws = append(ws, w)
		}
	}
	return ws
}

func (l *separableConv2D) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	if l.filters < 1 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: filters %d must be positive", l.name, l.filters)
	}
	s, err := l.checkInput("SeparableConv2D", x)
	if err != nil {
		return tfwrap.Output{}, err
	}
	g := ctx.Graph
	kh, kw, cin, m := l.kernelSize[0], l.kernelSize[1], s[3], l.mult()
	if l.depthwiseK == nil {
		seed := l.seed(ctx)
		dk, err := glorotUniform(seed, kh*kw*cin, kh*kw*m, kh, kw, cin, m)
		if err != nil {
			return tfwrap.Output{}, err
		}
		pk, err := glorotUniform(seed+1, cin*m, l.filters, 1, 1, cin*m, l.filters)
		if err != nil {
			return tfwrap.Output{}, err
		}
		l.depthwiseK = l.variable(g, "depthwise_kernel", dk)
		l.pointwiseK = l.variable(g, "pointwise_kernel", pk)
		if !l.cfg.noBias {
			b, err := filled(0, l.filters)
			if err != nil {
				return tfwrap.Output{}, err
			}
			l.bias = l.variable(g, "bias", b)
		}
	}
	if ks := l.depthwiseK.Shape(); len(ks) != 4 || ks[2] != cin {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input has %d channels, the depthwise kernel %v was built for %d", l.name, cin, ks, ks[2])
	}
	y := l.depthwise(g, x, l.depthwiseK.Value())
	y = g.Conv2D(y, l.pointwiseK.Value(), [2]int64{1, 1}, shape.Valid)
	if l.bias != nil {
		y = g.BiasAdd(y, l.bias.Value())
	}
	out, err := apply(ctx, l.cfg.activation, y)
	if err != nil {
		return out, fmt.Errorf("layer %s: %w", l.name, err)
	}
	return built(l.name, g, out)
}
