package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

type pool2D struct {
	base
	typ  string
	size [2]int64
}

// MaxPool2D takes the maximum over h×w windows, as keras.layers.MaxPooling2D.
// Strides default to the window size, padding to Valid.
func MaxPool2D(h, w int, opts ...Option) Layer { return newPool("MaxPooling2D", h, w, opts) }

// AveragePooling2D averages over h×w windows, as
// keras.layers.AveragePooling2D.
func AveragePooling2D(h, w int, opts ...Option) Layer {
	return newPool("AveragePooling2D", h, w, opts)
}

func newPool(typ string, h, w int, opts []Option) Layer {
	c := newConfig(opts)
	size := [2]int64{int64(h), int64(w)}
	if c.strides == [2]int64{} {
		c.strides = size
	}
	return &pool2D{base: base{name: c.name, cfg: c}, typ: typ, size: size}
}

func (l *pool2D) Type() string { return l.typ }

func (l *pool2D) OutputShape(in []int64) ([]int64, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("%s: %s takes images (height, width, channels) per sample, got %v", l.name, l.typ, in)
	}
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	out, err := shape.Pool2D(append([]int64{-1}, in...), l.size, l.cfg.strides, l.cfg.padding)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return out[1:], nil
}

func (l *pool2D) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *pool2D) Weights() []*tfwrap.Variable       { return nil }

func (l *pool2D) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	var out tfwrap.Output
	if l.typ == "MaxPooling2D" {
		out = ctx.Graph.MaxPool(x, l.size, l.cfg.strides, l.cfg.padding)
	} else {
		out = ctx.Graph.AvgPool(x, l.size, l.cfg.strides, l.cfg.padding)
	}
	return built(l.name, ctx.Graph, out)
}

type flatten struct{ base }

// Flatten turns each sample into a vector, as keras.layers.Flatten.
func Flatten(opts ...Option) Layer {
	c := newConfig(opts)
	return &flatten{base{name: c.name, cfg: c}}
}

func (l *flatten) Type() string { return "Flatten" }

func (l *flatten) OutputShape(in []int64) ([]int64, error) {
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	n, err := shape.NumElements(in)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return []int64{n}, nil
}

func (l *flatten) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *flatten) Weights() []*tfwrap.Variable       { return nil }

func (l *flatten) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	s := x.Shape()
	if len(s) < 1 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v has no batch axis", l.name, x)
	}
	return built(l.name, ctx.Graph, ctx.Graph.Reshape(x, -1, product(s[1:])))
}
