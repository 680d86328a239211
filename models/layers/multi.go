package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

// MultiLayer is a layer a functional model calls on several tensors or
// that gives several: the merge layers (Add, Concatenate, Multiply),
// MultiHeadAttention (query, value, key), a recurrent layer that returns
// its state, a functional model used as a layer. A type may be both a
// Layer and a MultiLayer; a functional model calls MultiLayer's methods
// when a layer has them, Layer's otherwise. Sequential takes Layer only.
type MultiLayer interface {
	Common
	// OutputShapes returns the per-sample shapes of the outputs for the
	// per-sample shapes of the inputs, or an error naming what does not
	// fit. Pure Go.
	OutputShapes(in [][]int64) ([][]int64, error)
	// ParamCounts returns the numbers of trainable and non-trainable
	// parameters for the per-sample input shapes.
	ParamCounts(in [][]int64) (trainable, nonTrainable int64)
	// ForwardAll adds the layer's ops for the batches xs to ctx.Graph and
	// returns its outputs, as many as OutputShapes says.
	ForwardAll(ctx *Context, xs []tfwrap.Output) ([]tfwrap.Output, error)
}

// Common is what every Layer and MultiLayer has.
type Common interface {
	// Name, Type, SetName, Weights and Config are as in Layer.
	Name() string
	Type() string
	SetName(name string)
	Weights() []*tfwrap.Variable
	Config() Config
}

// InputMask returns the mask of the layer's input i (see Context.Masks),
// or the zero Output when it has none.
func (c *Context) InputMask(i int) tfwrap.Output {
	if i < len(c.Masks) {
		return c.Masks[i]
	}
	return tfwrap.Output{}
}

// passesMask lists the layer types that hand their input's mask on
// unchanged, as the Keras layers with supports_masking and no
// compute_mask of their own do. A layer not listed, and not setting
// Context.OutMasks itself, drops the mask.
var passesMask = map[string]bool{
	"Dense": true, "Dropout": true, "Activation": true, "BatchNormalization": true,
	"LayerNormalization": true, "Rescaling": true, "Add": true, "Multiply": true, "ReLU": true,
}

// PassesMask reports whether layers of Keras type typ hand their input's
// mask on unchanged.
func PassesMask(typ string) bool { return passesMask[typ] }

// merge is what Add, Multiply and Concatenate share.
type merge struct {
	base
	typ  string
	axis int // Concatenate's axis, Keras-style (-1: last; counts the batch axis)
}

// Add sums its inputs, as keras.layers.Add: two or more tensors of the same
// per-sample shape, or shapes that broadcast as Keras allows (a 1 against
// n on an axis). The skip connection of a residual block.
func Add(opts ...Option) MultiLayer {
	c := newConfig(opts)
	return &merge{base: base{name: c.name, cfg: c}, typ: "Add"}
}

// Multiply multiplies its inputs element-wise, as keras.layers.Multiply.
func Multiply(opts ...Option) MultiLayer {
	c := newConfig(opts)
	return &merge{base: base{name: c.name, cfg: c}, typ: "Multiply"}
}

// Concatenate joins its inputs along axis (Keras's axis: -1 is the last,
// 0 would be the batch axis and is refused), as
// keras.layers.Concatenate; the other axes must agree.
func Concatenate(axis int, opts ...Option) MultiLayer {
	c := newConfig(opts)
	return &merge{base: base{name: c.name, cfg: c}, typ: "Concatenate", axis: axis}
}

func (l *merge) Type() string                { return l.typ }
func (l *merge) Weights() []*tfwrap.Variable { return nil }
func (l *merge) ParamCounts([][]int64) (int64, int64) {
	return 0, 0
}

// Config implements MultiLayer.
func (l *merge) Config() Config {
	c := l.describe(l.typ)
	if l.typ == "Concatenate" {
		a := l.axis
		c.Axis = &a
	}
	return c
}

func (l *merge) OutputShapes(in [][]int64) ([][]int64, error) {
	if len(in) < 2 {
		return nil, fmt.Errorf("%s: %s takes at least two inputs, got %d", l.name, l.typ, len(in))
	}
	for i, s := range in {
		if err := known(s); err != nil {
			return nil, fmt.Errorf("%s: input %d: %w", l.name, i, err)
		}
	}
	if l.typ == "Concatenate" {
		return l.concatShape(in)
	}
	out := append([]int64{}, in[0]...)
	for i, s := range in[1:] {
		if len(s) != len(out) {
			return nil, fmt.Errorf("%s: %s: input %d has per-sample shape %v, input 0 has %v; the ranks must agree", l.name, l.typ, i+1, s, in[0])
		}
		for a := range s {
			switch {
			case s[a] == out[a]:
			case s[a] == 1:
			case out[a] == 1:
				out[a] = s[a]
			default:
				return nil, fmt.Errorf("%s: %s: input %d has per-sample shape %v, which does not match %v (axis %d: %d against %d)", l.name, l.typ, i+1, s, in[0], a+1, s[a], out[a])
			}
		}
	}
	return [][]int64{out}, nil
}

// concatAxis turns Keras's axis into a per-sample one.
func (l *merge) concatAxis(rank int) (int, error) {
	a := l.axis
	if a < 0 {
		a += rank + 1
	}
	if a < 1 || a > rank {
		return 0, fmt.Errorf("%s: Concatenate axis %d is out of range for inputs of per-sample rank %d (axis 0 is the batch)", l.name, l.axis, rank)
	}
	return a - 1, nil
}

func (l *merge) concatShape(in [][]int64) ([][]int64, error) {
	a, err := l.concatAxis(len(in[0]))
	if err != nil {
		return nil, err
	}
	out := append([]int64{}, in[0]...)
	for i, s := range in[1:] {
		ok := len(s) == len(out)
		for d := 0; ok && d < len(s); d++ {
			ok = d == a || s[d] == out[d]
		}
		if !ok {
			return nil, fmt.Errorf("%s: Concatenate on axis %d: input %d has per-sample shape %v, input 0 has %v; all axes but the joined one must agree", l.name, l.axis, i+1, s, in[0])
		}
		out[a] += s[a]
	}
	return [][]int64{out}, nil
}

func (l *merge) ForwardAll(ctx *Context, xs []tfwrap.Output) ([]tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	in := make([][]int64, len(xs))
	for i, x := range xs {
		s := x.Shape()
		if len(s) < 1 {
			return nil, fmt.Errorf("layer %s: input %d %v has no batch axis", l.name, i, x)
		}
		if x.DType() != xs[0].DType() {
			return nil, fmt.Errorf("layer %s: input %d is %v, input 0 is %v", l.name, i, x.DType(), xs[0].DType())
		}
		in[i] = s[1:]
	}
	if _, err := l.OutputShapes(in); err != nil {
		return nil, fmt.Errorf("layer %w", err)
	}
	g := ctx.Graph
	// Each input's mask, kept when it is one per step ((batch, steps)
	// for a (batch, steps, features) input), as Keras broadcasts it.
	masks := make([]tfwrap.Output, len(xs))
	all, some := true, false
	for i, x := range xs {
		if m := ctx.InputMask(i); m.Valid() && len(m.Shape()) == len(x.Shape())-1 {
			masks[i], some = m, true
		} else {
			all = false
		}
	}
	var out, mask tfwrap.Output
	switch l.typ {
	case "Concatenate":
		a, _ := l.concatAxis(len(in[0]))
		out = g.Apply("ConcatV2", nil, tfwrap.OutputList(xs), g.Scalar(float64(a+1), tfwrap.Int32))
		if some {
			// Keras: the masks, an unmasked input's all true, joined as
			// the inputs are; a step is kept if any of its features is.
			full := make(tfwrap.OutputList, len(xs))
			for i, x := range xs {
				m := g.Const(tfwrap.Scalar(true))
				if masks[i].Valid() {
					m = g.ExpandDims(masks[i], -1)
				}
				full[i] = g.Apply("BroadcastTo", nil, m, g.ShapeOf(x))
			}
			joined := g.Apply("ConcatV2", nil, full, g.Scalar(float64(a+1), tfwrap.Int32))
			mask = g.Apply("Any", nil, joined, g.Scalar(-1, tfwrap.Int32))
		}
	default:
		for i, x := range xs {
			if l.typ == "Multiply" && masks[i].Valid() {
				// Keras: masked steps count as 1.
				x = g.Apply("SelectV2", nil, g.ExpandDims(masks[i], -1), x, g.Const(tfwrap.Scalar(float32(1))))
			}
			switch {
			case i == 0:
				out = x
			case l.typ == "Add":
				out = g.Add(out, x)
			default:
				out = g.Mul(out, x)
			}
		}
		if all {
			// Keras keeps a mask only when every input has one: their
			// logical or; Multiply zeroes the steps it masks.
			mask = masks[0]
			for _, m := range masks[1:] {
				mask = g.Apply("LogicalOr", nil, mask, m)
			}
			if l.typ == "Multiply" {
				out = g.Apply("SelectV2", nil, g.ExpandDims(mask, -1), out, g.Const(tfwrap.Scalar(float32(0))))
			}
		}
	}
	ctx.OutMasks = []tfwrap.Output{mask}
	o, err := built(l.name, g, out)
	return []tfwrap.Output{o}, err
}
