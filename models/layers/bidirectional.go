package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

type bidirectional struct {
	base
	layer    Layer      // the wrapped layer, as given
	fwd, bwd *recurrent // its forward and backward copies; nil if layer is not LSTM or GRU
}

// Bidirectional runs a copy of an LSTM or GRU layer forward over the
// steps and another backward, and concatenates their outputs, as
// keras.layers.Bidirectional with merge_mode="concat": (2·units), or
// (steps, 2·units) when the layer has ReturnSequences, the backward
// outputs put back in the input's time order. The copies are named
// forward_<name> and backward_<name> after the wrapped layer (its name,
// or lstm / gru when it has none) and have their own weights, forward
// then backward in Weights, each in the wrapped layer's order. With the
// layer's ReturnState, ForwardAll returns [output, forward states...,
// backward states...]. With an input mask, as in Keras, the masked steps'
// outputs are zeros when returning sequences, and the mask is handed on.
// Options: WithName and Frozen; the rest belong to the wrapped layer.
// Limits are the wrapped layer's (unrolled, a fixed number of steps).
func Bidirectional(layer Layer, opts ...Option) RecurrentLayer {
	c := newConfig(opts)
	b := &bidirectional{base: base{name: c.name, cfg: c}, layer: layer}
	if r, ok := layer.(*recurrent); ok {
		f, bw := *r, *r
		f.kernel, f.recurrent, f.bias = nil, nil, nil
		bw.kernel, bw.recurrent, bw.bias = nil, nil, nil
		bw.backwards = true
		f.zeroOutput, bw.zeroOutput = r.cfg.returnSeq, r.cfg.returnSeq
		f.cfg.frozen = r.cfg.frozen || c.frozen
		bw.cfg.frozen = f.cfg.frozen
		b.fwd, b.bwd = &f, &bw
	}
	return b
}

func (l *bidirectional) Type() string { return "Bidirectional" }

// wrapped checks that the wrapped layer is an LSTM or GRU.
func (l *bidirectional) wrapped() error {
	if l.fwd == nil {
		what := "nil"
		if l.layer != nil {
			what = l.layer.Type()
		}
		return fmt.Errorf("%s: Bidirectional wraps an LSTM or GRU layer, got %s", l.name, what)
	}
	return nil
}

// nameCopies names the copies as Keras does: forward_lstm, backward_lstm.
func (l *bidirectional) nameCopies() {
	inner := l.layer.Name()
	if inner == "" {
		inner = map[string]string{"LSTM": "lstm", "GRU": "gru"}[l.fwd.typ]
	}
	l.fwd.name, l.bwd.name = "forward_"+inner, "backward_"+inner
}

func (l *bidirectional) states() int {
	if l.fwd == nil || !l.fwd.cfg.returnState {
		return 0
	}
	return 2 * l.fwd.states()
}

// OutputShape implements Layer.
func (l *bidirectional) OutputShape(in []int64) ([]int64, error) {
	outs, err := l.OutputShapes([][]int64{in})
	if err != nil {
		return nil, err
	}
	if len(outs) > 1 {
		return nil, fmt.Errorf("%s: Bidirectional of %s with ReturnState gives %d outputs (output and states); a Sequential model takes one, use it in a functional model", l.name, l.fwd.typ, len(outs))
	}
	return outs[0], nil
}

// OutputShapes implements MultiLayer.
func (l *bidirectional) OutputShapes(in [][]int64) ([][]int64, error) {
	if err := l.wrapped(); err != nil {
		return nil, err
	}
	l.nameCopies()
	if len(in) != 1 {
		return nil, fmt.Errorf("%s: Bidirectional takes one input, got %d", l.name, len(in))
	}
	out, err := l.fwd.check(in[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	out = append([]int64{}, out...)
	out[len(out)-1] *= 2
	outs := [][]int64{out}
	for i := 0; i < l.states(); i++ {
		outs = append(outs, []int64{l.fwd.units})
	}
	return outs, nil
}

// ParamCount implements Layer.
func (l *bidirectional) ParamCount(in []int64) (int64, int64) {
	if l.fwd == nil {
		return 0, 0
	}
	t, n := l.fwd.ParamCount(in)
	return 2 * t, 2 * n
}

// ParamCounts implements MultiLayer.
func (l *bidirectional) ParamCounts(in [][]int64) (int64, int64) {
	if len(in) != 1 {
		return 0, 0
	}
	return l.ParamCount(in[0])
}

// Weights implements Layer: the forward copy's, then the backward's.
func (l *bidirectional) Weights() []*tfwrap.Variable {
	if l.fwd == nil {
		return nil
	}
	return append(l.fwd.Weights(), l.bwd.Weights()...)
}

// Config implements Layer.
func (l *bidirectional) Config() Config {
	c := l.describe("Bidirectional")
	if l.layer != nil {
		inner := l.layer.Config()
		c.Layer = &inner
	}
	return c
}

// Forward implements Layer.
func (l *bidirectional) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	if err := l.wrapped(); err != nil {
		return tfwrap.Output{}, fmt.Errorf("layer %w", err)
	}
	if l.states() > 0 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: Bidirectional of %s with ReturnState gives its states too; call it in a functional model (ForwardAll)", l.name, l.fwd.typ)
	}
	outs, err := l.ForwardAll(ctx, []tfwrap.Output{x})
	if err != nil {
		return tfwrap.Output{}, err
	}
	return outs[0], nil
}

// ForwardAll implements MultiLayer: [output], or with the wrapped layer's
// ReturnState [output, forward states..., backward states...].
func (l *bidirectional) ForwardAll(ctx *Context, xs []tfwrap.Output) ([]tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	if err := l.wrapped(); err != nil {
		return nil, fmt.Errorf("layer %w", err)
	}
	if len(xs) != 1 {
		return nil, fmt.Errorf("layer %s: Bidirectional takes one input, got %d", l.name, len(xs))
	}
	if _, err := l.OutputShapes([][]int64{shapeOrNil(xs[0])}); err != nil {
		return nil, fmt.Errorf("layer %w", err)
	}
	mask := ctx.InputMask(0)
	g, seed := ctx.Graph, ctx.Seed
	var res [2][]tfwrap.Output
	for i, r := range []*recurrent{l.fwd, l.bwd} {
		sub := *ctx
		sub.Graph = g.WithScope(r.name)
		sub.Seed = seed + uint64(i)*0x9e3779b97f4a7c15
		out, err := r.run(&sub, xs[0], mask)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.name, err)
		}
		res[i] = out
	}
	out := g.Apply("ConcatV2", nil, tfwrap.OutputList{res[0][0], res[1][0]}, g.Scalar(-1, tfwrap.Int32))
	outs := []tfwrap.Output{out}
	if l.states() > 0 {
		outs = append(append(outs, res[0][1:]...), res[1][1:]...)
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.name, err)
	}
	ctx.OutMasks = make([]tfwrap.Output, len(outs))
	if l.fwd.cfg.returnSeq {
		ctx.OutMasks[0] = mask
	}
	if len(outs) == 1 && !ctx.OutMasks[0].Valid() {
		ctx.OutMasks = []tfwrap.Output{}
	}
	return outs, nil
}

// shapeOrNil is x's per-sample shape, or nil when x has no batch axis.
func shapeOrNil(x tfwrap.Output) []int64 {
	s := x.Shape()
	if len(s) < 1 {
		return nil
	}
	return s[1:]
}
