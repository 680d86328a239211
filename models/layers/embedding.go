package layers

import (
	"fmt"
	"math/rand/v2"

	"github.com/tfgo-project/gotf/tfwrap"
)

type embedding struct {
	base
	inputDim, outputDim int64
	emb                 *tfwrap.Variable
}

// Embedding maps each integer id in [0, inputDim) to a learned vector of
// outputDim values, as keras.layers.Embedding: a sample
// of shape s becomes s + (outputDim). Its one weight, "embeddings", is
// (inputDim, outputDim), drawn uniformly from [-0.05, 0.05] as Keras's
// default. Like Keras it casts float inputs to int32 (truncating), so it
// works on a Sequential's float32 input holding ids; an id outside
// [0, inputDim) is an error from the session at run time. With MaskZero,
// id 0 is padding: the layer's output mask marks it, for the recurrent
// layers after it to skip.
func Embedding(inputDim, outputDim int, opts ...Option) Layer {
	c := newConfig(opts)
	return &embedding{base: base{name: c.name, cfg: c}, inputDim: int64(inputDim), outputDim: int64(outputDim)}
}

// MaskZero makes an Embedding layer treat id 0 as padding, as Keras's
// mask_zero=True: its output mask is ids != 0 (see Context.Masks), which
// LSTM, GRU and Bidirectional read to skip the padded steps.
func MaskZero() Option { return func(c *config) { c.maskZero = true; c.mark("MaskZero") } }

func (l *embedding) Type() string { return "Embedding" }

func (l *embedding) OutputShape(in []int64) ([]int64, error) {
	if l.inputDim < 1 || l.outputDim < 1 {
		return nil, fmt.Errorf("%s: input_dim %d and output_dim %d must be positive", l.name, l.inputDim, l.outputDim)
	}
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return append(append([]int64{}, in...), l.outputDim), nil
}

func (l *embedding) ParamCount([]int64) (int64, int64) {
	return l.inputDim * l.outputDim, 0
}

func (l *embedding) Weights() []*tfwrap.Variable {
	if l.emb == nil {
		return nil
	}
	return []*tfwrap.Variable{l.emb}
}

func (l *embedding) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	g := ctx.Graph
	s := x.Shape()
	if len(s) < 1 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v has no batch axis", l.name, x)
	}
	if _, err := l.OutputShape(s[1:]); err != nil {
		return tfwrap.Output{}, fmt.Errorf("layer %w", err)
	}
	if l.emb == nil {
		v, err := weightValues(l.inputDim, l.outputDim)
		if err != nil {
			return tfwrap.Output{}, fmt.Errorf("layer %s: %w", l.name, err)
		}
		r := rand.New(rand.NewPCG(l.seed(ctx), 0x9e3779b97f4a7c15))
		for i := range v {
			v[i] = float32(0.1*r.Float64() - 0.05)
		}
		init, err := tfwrap.NewTensor(v, l.inputDim, l.outputDim)
		if err != nil {
			return tfwrap.Output{}, err
		}
		l.emb = l.variable(g, "embeddings", init)
	}
	ids := x
	if x.DType() != tfwrap.Int32 && x.DType() != tfwrap.Int64 {
		ids = g.Cast(x, tfwrap.Int32)
	}
	if l.cfg.maskZero {
		// As Keras's compute_mask: not_equal(inputs, 0), on the inputs
		// as given.
		ctx.OutMasks = []tfwrap.Output{g.Apply("NotEqual", nil, x, g.Scalar(0, x.DType()))}
	}
	// As Keras's take: a negative id counts from the end (-1 is the
	// last row); one still out of range is TensorFlow's error.
	neg := g.Apply("Less", nil, ids, g.Scalar(0, ids.DType()))
	ids = g.Apply("SelectV2", nil, neg, g.Add(ids, g.Scalar(float64(l.inputDim), ids.DType())), ids)
	return built(l.name, g, g.Gather(l.emb.Value(), ids))
}
