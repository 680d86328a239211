package layers

import (
	"fmt"
	"math"

	"github.com/tfgo-project/gotf/tfwrap"
)

// DualLayer is a layer that is both a Layer (one input, in a Sequential
// model) and a MultiLayer (several inputs, in a functional model), as
// MultiHeadAttention.
type DualLayer interface {
	Layer
	MultiLayer
}

type multiHeadAttention struct {
	base
	heads, keyDim int64
	// The weights, in Keras's get_weights order: query, key, value and
	// attention_output, each kernel then bias.
	qK, qB, kK, kB, vK, vB, oK, oB *tfwrap.Variable
}

// maskedLogit is what Keras's dot_product_attention (TensorFlow backend)
// puts in place of a masked attention logit: -0.7 times float32's largest.
const maskedLogit = -0.7 * 3.38953e38

// MultiHeadAttention is keras.layers.MultiHeadAttention(num_heads,
// key_dim) with value_dim = key_dim, dropout 0 (there is no dropout
// option), and the output projected back to the query's last dimension.
// Per sample, the query is (Tq, dq), the value (Tv, dv) and the key
// (Tv, dk); the output is (Tq, dq). Each head projects the query, key and
// value to keyDim, takes softmax(q·kᵀ / sqrt(keyDim)) over the keys, and
// the heads' weighted values are projected to dq.
//
// As a MultiLayer, ForwardAll takes [query, value] or [query, value, key]
// (the key defaults to the value); as a Layer, Forward(x) is
// self-attention, attention(x, x). Masks are Keras's: a key position the
// value's (or the key's) mask marks false gets no attention, a query
// position the query's mask marks false attends evenly to every key, and
// the output carries the query's mask.
//
// Its weights, in Keras's order, are query/kernel (dq, heads, keyDim),
// query/bias (heads, keyDim), key/kernel (dk, heads, keyDim), key/bias,
// value/kernel (dv, heads, keyDim), value/bias, attention_output/kernel
// (heads, keyDim, dq) and attention_output/bias (dq): Glorot-uniform
// kernels (with Keras's fans) and zero biases. NoBias leaves the biases
// out (Keras's use_bias=False).
func MultiHeadAttention(numHeads, keyDim int, opts ...Option) DualLayer {
	c := newConfig(opts)
	return &multiHeadAttention{base: base{name: c.name, cfg: c}, heads: int64(numHeads), keyDim: int64(keyDim)}
}

func (l *multiHeadAttention) Type() string { return "MultiHeadAttention" }

func (l *multiHeadAttention) OutputShapes(in [][]int64) ([][]int64, error) {
	if l.heads < 1 || l.keyDim < 1 {
		return nil, fmt.Errorf("%s: num_heads %d and key_dim %d must be positive", l.name, l.heads, l.keyDim)
	}
	if len(in) != 2 && len(in) != 3 {
		return nil, fmt.Errorf("%s: MultiHeadAttention takes [query, value] or [query, value, key], got %d inputs", l.name, len(in))
	}
	for i, s := range in {
		if len(s) != 2 {
			return nil, fmt.Errorf("%s: MultiHeadAttention's %s must be (steps, features) per sample, got %v", l.name, attentionInput(i), s)
		}
		if err := known(s); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", l.name, attentionInput(i), err)
		}
	}
	if len(in) == 3 && in[2][0] != in[1][0] {
		return nil, fmt.Errorf("%s: MultiHeadAttention's key %v and value %v must have the same number of steps", l.name, in[2], in[1])
	}
	return [][]int64{{in[0][0], in[0][1]}}, nil
}

func attentionInput(i int) string {
	return [...]string{"query", "value", "key"}[min(i, 2)]
}

func (l *multiHeadAttention) ParamCounts(in [][]int64) (int64, int64) {
	if len(in) != 2 && len(in) != 3 {
		return 0, 0
	}
	for _, s := range in {
		if len(s) != 2 {
			return 0, 0
		}
	}
	dq, dv, dk := in[0][1], in[1][1], in[1][1]
	if len(in) == 3 {
		dk = in[2][1]
	}
	hk := l.heads * l.keyDim
	n := (dq+dk+dv)*hk + hk*dq
	if !l.cfg.noBias {
		n += 3*hk + dq
	}
	return n, 0
}

func (l *multiHeadAttention) OutputShape(in []int64) ([]int64, error) {
	out, err := l.OutputShapes([][]int64{in, in})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func (l *multiHeadAttention) ParamCount(in []int64) (int64, int64) {
	return l.ParamCounts([][]int64{in, in})
}

func (l *multiHeadAttention) Weights() []*tfwrap.Variable {
	var ws []*tfwrap.Variable
	for _, w := range []*tfwrap.Variable{l.qK, l.qB, l.kK, l.kB, l.vK, l.vB, l.oK, l.oB} {
		if w != nil {
			ws = append(ws, w)
		}
	}
	return ws
}

// Forward is self-attention: the query, value and key are all x, and x's
// mask is the query's and the value's, as Keras's mha(x, x).
func (l *multiHeadAttention) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	m := ctx.InputMask(0)
	saved := ctx.Masks
	ctx.Masks = []tfwrap.Output{m, m}
	outs, err := l.ForwardAll(ctx, []tfwrap.Output{x, x})
	ctx.Masks = saved
	if err != nil {
		return tfwrap.Output{}, err
	}
	return outs[0], nil
}

// create makes the weights on the first call, for query, value and key
// feature sizes dq, dv and dk; later calls must have the same sizes.
func (l *multiHeadAttention) create(ctx *Context, dq, dv, dk int64) error {
	h, k := l.heads, l.keyDim
	if l.qK != nil {
		if l.qK.Shape()[0] != dq || l.vK.Shape()[0] != dv || l.kK.Shape()[0] != dk {
			return fmt.Errorf("layer %s: query, value and key have %d, %d and %d features; the layer was built for %d, %d and %d",
				l.name, dq, dv, dk, l.qK.Shape()[0], l.vK.Shape()[0], l.kK.Shape()[0])
		}
		return nil
	}
	g := ctx.Graph
	seed := l.seed(ctx)
	// Keras's fans for an EinsumDense kernel of shape s: fan_in =
	// s[-2]*prod(s[:-2]), fan_out = s[-1]*prod(s[:-2]).
	kernel := func(name string, i uint64, dims ...int64) (*tfwrap.Variable, error) {
		rf := dims[0]
		t, err := glorotUniform(seed+i, dims[1]*rf, dims[2]*rf, dims...)
		if err != nil {
			return nil, err
		}
		return l.variable(g, name, t), nil
	}
	bias := func(name string, dims ...int64) (*tfwrap.Variable, error) {
		if l.cfg.noBias {
			return nil, nil
		}
		v, err := weightValues(dims...)
		if err != nil {
			return nil, err
		}
		t, err := tfwrap.NewTensor(v, dims...)
		if err != nil {
			return nil, err
		}
		return l.variable(g, name, t), nil
	}
	var err error
	for _, step := range []func() error{
		func() error { l.qK, err = kernel("query/kernel", 0, dq, h, k); return err },
		func() error { l.qB, err = bias("query/bias", h, k); return err },
		func() error { l.kK, err = kernel("key/kernel", 1, dk, h, k); return err },
		func() error { l.kB, err = bias("key/bias", h, k); return err },
		func() error { l.vK, err = kernel("value/kernel", 2, dv, h, k); return err },
		func() error { l.vB, err = bias("value/bias", h, k); return err },
		func() error { l.oK, err = kernel("attention_output/kernel", 3, h, k, dq); return err },
		func() error { l.oB, err = bias("attention_output/bias", dq); return err },
	} {
		if err := step(); err != nil {
			return fmt.Errorf("layer %s: %w", l.name, err)
		}
	}
	return nil
}

// ForwardAll takes [query, value] or [query, value, key]; the masks are
// ctx.InputMask(0), (1) and (2).
func (l *multiHeadAttention) ForwardAll(ctx *Context, xs []tfwrap.Output) ([]tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	in := make([][]int64, len(xs))
	for i, x := range xs {
		s := x.Shape()
		if len(s) != 3 {
			return nil, fmt.Errorf("layer %s: %s %v is not a batch of (steps, features) sequences", l.name, attentionInput(i), x)
		}
		if !x.DType().IsFloat() || x.DType() != xs[0].DType() {
			return nil, fmt.Errorf("layer %s: %s is %v; query, value and key must be the same float type", l.name, attentionInput(i), x.DType())
		}
		in[i] = s[1:]
	}
	if _, err := l.OutputShapes(in); err != nil {
		return nil, fmt.Errorf("layer %w", err)
	}
	query, value, key := xs[0], xs[1], xs[1]
	if len(xs) == 3 {
		key = xs[2]
	}
	dq, dv, dk := in[0][1], in[1][1], key.Shape()[2]
	if err := l.create(ctx, dq, dv, dk); err != nil {
		return nil, err
	}
	g := ctx.Graph
	dt := query.DType()
	einsum := func(eq string, a, b tfwrap.Output) tfwrap.Output {
		return g.Apply("Einsum", tfwrap.Attrs{"equation": eq}, tfwrap.OutputList{a, b})
	}
	project := func(x tfwrap.Output, kernel, bias *tfwrap.Variable) tfwrap.Output {
		y := einsum("abc,cde->abde", x, kernel.Value())
		if bias != nil {
			y = g.Add(y, bias.Value())
		}
		return y
	}
	q := project(query, l.qK, l.qB) // (B, T, N, H)
	k := project(key, l.kK, l.kB)   // (B, S, N, H)
	v := project(value, l.vK, l.vB) // (B, S, N, H)
	// As Keras's dot_product_attention (TensorFlow backend): the logits,
	// scaled, masked with a large negative, and softmax over the keys.
	logits := g.Mul(einsum("BTNH,BSNH->BNTS", q, k), g.Scalar(1/math.Sqrt(float64(l.keyDim)), dt))
	if mask, err := l.attentionMask(ctx, g, len(xs)); err != nil {
		return nil, err
	} else if mask.Valid() {
		full := g.Apply("BroadcastTo", nil, mask, g.ShapeOf(logits))
		neg := g.Add(g.ZerosLike(logits), g.Scalar(maskedLogit, dt))
		logits = g.Apply("SelectV2", nil, full, logits, neg)
	}
	probs := g.Softmax(logits)
	att := einsum("BNTS,BSNH->BTNH", probs, v)
	out := einsum("abcd,cde->abe", att, l.oK.Value())
	if l.oB != nil {
		out = g.Add(out, l.oB.Value())
	}
	ctx.OutMasks = []tfwrap.Output{ctx.InputMask(0)}
	o, err := built(l.name, g, out)
	if err != nil {
		return nil, err
	}
	return []tfwrap.Output{o}, nil
}

// attentionMask is Keras's _compute_attention_mask, shaped to broadcast
// against the (B, N, T, S) logits: the query's mask as (B, 1, T, 1), and
// the value's and the key's as (B, 1, 1, S), joined by a logical and; the
// zero Output when no input has a mask.
func (l *multiHeadAttention) attentionMask(ctx *Context, g *tfwrap.Graph, inputs int) (tfwrap.Output, error) {
	var out tfwrap.Output
	and := func(m tfwrap.Output) {
		if !out.Valid() {
			out = m
		} else {
			out = g.Apply("LogicalAnd", nil, out, m)
		}
	}
	for i := 0; i < inputs; i++ {
		m := ctx.InputMask(i)
		if !m.Valid() {
			continue
		}
		if m.DType() != tfwrap.Bool || len(m.Shape()) != 2 {
			return tfwrap.Output{}, fmt.Errorf("layer %s: the %s's mask %v is not a bool (batch, steps) tensor", l.name, attentionInput(i), m)
		}
		if i == 0 {
			and(g.ExpandDims(g.ExpandDims(m, 1), 3))
		} else {
			and(g.ExpandDims(g.ExpandDims(m, 1), 1))
		}
	}
	return out, nil
}
