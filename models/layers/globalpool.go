package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

type globalPool struct {
	base
	typ  string
	rank int  // per-sample rank of the input: 2 (steps, channels) or 3 (height, width, channels)
	max  bool // maximum instead of mean
}

// GlobalAveragePooling2D averages each channel over height and width, as
// keras.layers.GlobalAveragePooling2D (channels_last, keepdims=False):
// (height, width, channels) becomes (channels).
func GlobalAveragePooling2D(opts ...Option) Layer {
	return newGlobalPool("GlobalAveragePooling2D", 3, false, opts)
}

// GlobalMaxPooling2D takes each channel's maximum over height and width, as
// keras.layers.GlobalMaxPooling2D (channels_last, keepdims=False).
func GlobalMaxPooling2D(opts ...Option) Layer {
	return newGlobalPool("GlobalMaxPooling2D", 3, true, opts)
}

// GlobalAveragePooling1D averages each channel over the steps, as
// keras.layers.GlobalAveragePooling1D (channels_last, keepdims=False):
// (steps, channels) becomes (channels).
func GlobalAveragePooling1D(opts ...Option) Layer {
	return newGlobalPool("GlobalAveragePooling1D", 2, false, opts)
}

// GlobalMaxPooling1D takes each channel's maximum over the steps, as
// keras.layers.GlobalMaxPooling1D (channels_last, keepdims=False).
func GlobalMaxPooling1D(opts ...Option) Layer {
	return newGlobalPool("GlobalMaxPooling1D", 2, true, opts)
}

func newGlobalPool(typ string, rank int, max bool, opts []Option) Layer {
	c := newConfig(opts)
	return &globalPool{base: base{name: c.name, cfg: c}, typ: typ, rank: rank, max: max}
}

func (l *globalPool) Type() string { return l.typ }

func (l *globalPool) OutputShape(in []int64) ([]int64, error) {
	if len(in) != l.rank {
		what := "images (height, width, channels)"
		if l.rank == 2 {
			what = "sequences (steps, channels)"
		}
		return nil, fmt.Errorf("%s: %s takes %s per sample, got %v", l.name, l.typ, what, in)
	}
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return []int64{in[len(in)-1]}, nil
}

func (l *globalPool) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *globalPool) Weights() []*tfwrap.Variable       { return nil }

// Forward pools x; GlobalAveragePooling1D averages over the steps its
// input's mask keeps (Embedding with MaskZero, a recurrent layer's
// sequences), as Keras does.
func (l *globalPool) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	if x.Rank() != l.rank+1 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v must have rank %d", l.name, x, l.rank+1)
	}
	axes := []int{1, 2}
	if l.rank == 2 {
		axes = []int{1}
	}
	g := ctx.Graph
	var out tfwrap.Output
	mask := ctx.InputMask(0)
	switch {
	case l.max:
		out = g.Max(x, axes...)
	case l.rank == 2 && mask.Valid():
		// Keras's masked mean: the mean over the real steps only.
		s := x.Shape()
		if ms := mask.Shape(); len(ms) != 2 || (ms[1] >= 0 && s[1] >= 0 && ms[1] != s[1]) {
			return tfwrap.Output{}, fmt.Errorf("layer %s: mask %v does not fit input %v", l.name, mask, x)
		}
		m := g.ExpandDims(g.Cast(mask, x.DType()), 2)
		out = g.Div(g.Sum(g.Mul(x, m), 1), g.Sum(m, 1))
	default:
		out = g.Mean(x, axes...)
	}
	ctx.OutMasks = []tfwrap.Output{}
	return built(l.name, g, out)
}
