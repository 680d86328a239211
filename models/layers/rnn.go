package layers

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tfgo-project/gotf/tfwrap"
)

// RecurrentLayer is a recurrent layer: a Layer in a Sequential model, and
// a MultiLayer a functional model calls to get its states as well
// (ReturnState).
type RecurrentLayer interface {
	Layer
	MultiLayer
}

// ReturnSequences makes an LSTM or GRU layer return its output at every
// step, (steps, units) per sample, instead of the last one, as Keras's
// return_sequences=True.
func ReturnSequences() Option {
	return func(c *config) { c.returnSeq = true; c.mark("ReturnSequences") }
}

// ReturnState makes an LSTM or GRU layer also return its final states, as
// Keras's return_state=True: ForwardAll gives [output, h, c] for LSTM,
// [output, h] for GRU. Such a layer has several outputs, so it goes in a
// functional model; in a Sequential model it is an error.
func ReturnState() Option {
	return func(c *config) { c.returnState = true; c.mark("ReturnState") }
}

// recurrent is LSTM and GRU.
type recurrent struct {
	base
	typ                     string // "LSTM" or "GRU"
	units                   int64
	kernel, recurrent, bias *tfwrap.Variable
	// backwards runs over the steps in reverse (Keras's go_backwards);
	// the outputs it returns are in the input's time order.
	backwards bool
	// zeroOutput gives zeros at masked steps, Keras's zero_output_for_mask
	// (Bidirectional sets it with return_sequences); otherwise a masked
	// step repeats the previous step's output.
	zeroOutput bool
}

// LSTM is a long short-term memory layer over (steps, features) sequences,
// as keras.layers.LSTM with its defaults: activation tanh, recurrent
// activation sigmoid, a bias with unit_forget_bias (the forget gate's
// slice starts at 1), no dropout. Its weights, in Keras's order and
// shapes, are kernel (features, 4·units), recurrent_kernel (units,
// 4·units) and bias (4·units), gates in Keras's order i, f, c, o; the
// kernel is Glorot uniform and the recurrent kernel orthogonal, as in
// Keras (drawn with Go's own generator, so not Keras's numbers). It returns
// the last step's output, (units), or every step's with
// ReturnSequences(), and its states too with ReturnState(), in a
// functional model.
//
// An input mask (Embedding's MaskZero) skips steps as Keras does: a masked
// step keeps the previous states and repeats the previous output (zeros
// before the first real step), so the last output is the one at the last
// real step. With ReturnSequences the mask is handed on.
//
// Limits: the layer is unrolled into the graph, one block of ops per step,
// so the number of steps must be known when the model is built (a fixed
// sequence length), and the graph, its build time and the gradient's
// graph grow linearly with it; it suits short sequences (tens of steps),
// not long ones. The input's projection by the kernel is one MatMul over
// all steps; each step adds one MatMul by the recurrent kernel.
func LSTM(units int, opts ...Option) RecurrentLayer {
	c := newConfig(opts)
	return &recurrent{base: base{name: c.name, cfg: c}, typ: "LSTM", units: int64(units)}
}

// GRU is a gated recurrent unit layer over (steps, features) sequences, as
// keras.layers.GRU with its Keras 3 defaults: activation tanh, recurrent
// activation sigmoid, a bias, reset_after=True, no dropout. Its weights
// are kernel (features, 3·units), recurrent_kernel (units, 3·units) and
// bias (2, 3·units) (the input's bias, then the recurrent one), gates in
// Keras's order z, r, h, with Keras's reset_after math:
//
//	z = σ(x·Wz + bz + h·Uz + b'z), r = σ(x·Wr + br + h·Ur + b'r)
//	ĥ = tanh(x·Wh + bh + r ⊙ (h·Uh + b'h)), h' = z ⊙ h + (1 − z) ⊙ ĥ
//
// Options, masks and limits (unrolled, fixed number of steps) are as
// LSTM's.
func GRU(units int, opts ...Option) RecurrentLayer {
	c := newConfig(opts)
	return &recurrent{base: base{name: c.name, cfg: c}, typ: "GRU", units: int64(units)}
}

func (l *recurrent) Type() string { return l.typ }

// gates is the number of gate blocks in the kernels: 4 for LSTM, 3 for GRU.
func (l *recurrent) gates() int64 {
	if l.typ == "LSTM" {
		return 4
	}
	return 3
}

// states is the number of states: h and c for LSTM, h for GRU.
func (l *recurrent) states() int {
	if l.typ == "LSTM" {
		return 2
	}
	return 1
}

// check checks the per-sample input shape and returns the output shape.
// MaxSteps bounds the steps a recurrent layer is unrolled over: each step
// adds its own ops to the graph (about 60 KB of graph and kernels a step
// for a small LSTM), so a model file declaring 100,000 steps would take
// gigabytes before it ran.
const MaxSteps = 2048

func (l *recurrent) check(in []int64) ([]int64, error) {
	if l.units < 1 {
		return nil, fmt.Errorf("%s: units must be positive, got %d", l.name, l.units)
	}
	if len(in) != 2 {
		return nil, fmt.Errorf("%s: %s takes sequences (steps, features) per sample, got per-sample shape %v", l.name, l.typ, in)
	}
	if in[0] < 1 {
		return nil, fmt.Errorf("%s: %s is unrolled over the steps, so their number must be known when the model is built, got per-sample shape %v", l.name, l.typ, in)
	}
	if in[0] > MaxSteps {
		return nil, fmt.Errorf("%s: %s is unrolled over the steps, one block of ops each: %d steps is over the %d allowed (split long sequences into windows)", l.name, l.typ, in[0], MaxSteps)
	}
	if in[1] < 1 {
		return nil, fmt.Errorf("%s: the number of features must be known and positive, got per-sample shape %v", l.name, in)
	}
	if l.cfg.returnSeq {
		return []int64{in[0], l.units}, nil
	}
	return []int64{l.units}, nil
}

// OutputShape implements Layer. A layer with ReturnState has several
// outputs and is an error here: use OutputShapes in a functional model.
func (l *recurrent) OutputShape(in []int64) ([]int64, error) {
	out, err := l.check(in)
	if err != nil {
		return nil, err
	}
	if l.cfg.returnState {
		return nil, fmt.Errorf("%s: %s with ReturnState gives %d outputs (output and states); a Sequential model takes one, use it in a functional model", l.name, l.typ, 1+l.states())
	}
	return out, nil
}

// OutputShapes implements MultiLayer: the output's shape, then, with
// ReturnState, the states' (units) each.
func (l *recurrent) OutputShapes(in [][]int64) ([][]int64, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("%s: %s takes one input, got %d", l.name, l.typ, len(in))
	}
	out, err := l.check(in[0])
	if err != nil {
		return nil, err
	}
	outs := [][]int64{out}
	if l.cfg.returnState {
		for i := 0; i < l.states(); i++ {
			outs = append(outs, []int64{l.units})
		}
	}
	return outs, nil
}

// ParamCount implements Layer.
func (l *recurrent) ParamCount(in []int64) (int64, int64) {
	if len(in) != 2 {
		return 0, 0
	}
	n := l.gates() * l.units
	params := (in[1]+l.units)*n + n
	if l.typ == "GRU" {
		params += n // reset_after: a second, recurrent bias
	}
	return params, 0
}

// ParamCounts implements MultiLayer.
func (l *recurrent) ParamCounts(in [][]int64) (int64, int64) {
	if len(in) != 1 {
		return 0, 0
	}
	return l.ParamCount(in[0])
}

// Weights implements Layer: kernel, recurrent_kernel, bias.
func (l *recurrent) Weights() []*tfwrap.Variable {
	if l.kernel == nil {
		return nil
	}
	return []*tfwrap.Variable{l.kernel, l.recurrent, l.bias}
}

// Config implements Layer.
func (l *recurrent) Config() Config {
	c := l.describe(l.typ)
	c.Units, c.ReturnSequences, c.ReturnState = int(l.units), l.cfg.returnSeq, l.cfg.returnState
	return c
}

// Forward implements Layer: the last output, or the sequence with
// ReturnSequences.
func (l *recurrent) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	if l.cfg.returnState {
		return tfwrap.Output{}, fmt.Errorf("layer %s: %s with ReturnState gives its states too; call it in a functional model (ForwardAll)", l.name, l.typ)
	}
	outs, err := l.run(ctx, x, ctx.InputMask(0))
	if err != nil {
		return tfwrap.Output{}, err
	}
	l.setMasks(ctx, 1)
	return outs[0], nil
}

// ForwardAll implements MultiLayer: [output], or with ReturnState
// [output, h, c] for LSTM and [output, h] for GRU.
func (l *recurrent) ForwardAll(ctx *Context, xs []tfwrap.Output) ([]tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	if len(xs) != 1 {
		return nil, fmt.Errorf("layer %s: %s takes one input, got %d", l.name, l.typ, len(xs))
	}
	outs, err := l.run(ctx, xs[0], ctx.InputMask(0))
	if err != nil {
		return nil, err
	}
	if !l.cfg.returnState {
		outs = outs[:1]
	}
	l.setMasks(ctx, len(outs))
	return outs, nil
}

// setMasks sets the masks of n outputs as Keras's RNN.compute_mask: the
// input's mask on the output sequence, none on a last output or a state.
func (l *recurrent) setMasks(ctx *Context, n int) {
	ctx.OutMasks = make([]tfwrap.Output, n)
	if l.cfg.returnSeq {
		ctx.OutMasks[0] = ctx.InputMask(0)
	}
	if n == 1 && !ctx.OutMasks[0].Valid() {
		ctx.OutMasks = []tfwrap.Output{}
	}
}

// create makes the variables on the first call.
func (l *recurrent) create(ctx *Context, features int64) error {
	if l.kernel != nil {
		return nil
	}
	n := l.gates() * l.units
	seed := l.seed(ctx)
	k, err := glorotUniform(seed, features, n, features, n)
	if err != nil {
		return err
	}
	rk, err := orthogonal(seed^0x5851f42d4c957f2d, l.units, n)
	if err != nil {
		return err
	}
	var b *tfwrap.Tensor
	if l.typ == "LSTM" {
		v := make([]float32, n)
		for i := l.units; i < 2*l.units; i++ {
			v[i] = 1 // unit_forget_bias
		}
		b, err = tfwrap.NewTensor(v, n)
	} else {
		b, err = tfwrap.NewTensor(make([]float32, 2*n), 2, n)
	}
	if err != nil {
		return err
	}
	g := ctx.Graph
	l.kernel = l.variable(g, "kernel", k)
	l.recurrent = l.variable(g, "recurrent_kernel", rk)
	l.bias = l.variable(g, "bias", b)
	return nil
}

// orthogonal draws a (rows, cols) matrix whose rows (rows ≤ cols) or
// columns are orthonormal, as Keras's Orthogonal initializer (gain 1):
// Gram–Schmidt on a seeded normal matrix.
func orthogonal(seed uint64, rows, cols int64) (*tfwrap.Tensor, error) {
	out, err := weightValues(rows, cols)
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))
	// Orthonormalize the m vectors of length n, the shorter side.
	m, n := rows, cols
	if rows > cols {
		m, n = cols, rows
	}
	vs := make([][]float64, m)
	for i := range vs {
		for {
			v := make([]float64, n)
			for j := range v {
				v[j] = r.NormFloat64()
			}
			for _, u := range vs[:i] {
				d := 0.0
				for j := range v {
					d += v[j] * u[j]
				}
				for j := range v {
					v[j] -= d * u[j]
				}
			}
			norm := 0.0
			for _, x := range v {
				norm += x * x
			}
			if norm = math.Sqrt(norm); norm > 1e-6 {
				for j := range v {
					v[j] /= norm
				}
				vs[i] = v
				break
			}
		}
	}
	for i := int64(0); i < rows; i++ {
		for j := int64(0); j < cols; j++ {
			if rows <= cols {
				out[i*cols+j] = float32(vs[i][j])
			} else {
				out[i*cols+j] = float32(vs[j][i])
			}
		}
	}
	return tfwrap.NewTensor(out, rows, cols)
}

// run adds the unrolled recurrence for a batch x [batch, steps, features]
// and returns [output, states...]: the output is the last one, or the
// sequence [batch, steps, units] with ReturnSequences, in x's time order
// even when the layer runs backwards.
func (l *recurrent) run(ctx *Context, x, mask tfwrap.Output) ([]tfwrap.Output, error) {
	s := x.Shape()
	if len(s) != 3 {
		return nil, fmt.Errorf("layer %s: input %v is not a batch of (steps, features) sequences", l.name, x)
	}
	if _, err := l.check(s[1:]); err != nil {
		return nil, fmt.Errorf("layer %w", err)
	}
	if x.DType() != tfwrap.Float32 {
		return nil, fmt.Errorf("layer %s: input %v must be float32", l.name, x)
	}
	steps, features, u := s[1], s[2], l.units
	if mask.Valid() {
		ms := mask.Shape()
		if mask.DType() != tfwrap.Bool || len(ms) != 2 || (ms[1] >= 0 && ms[1] != steps) {
			return nil, fmt.Errorf("layer %s: mask %v must be bool [batch, %d]", l.name, mask, steps)
		}
	}
	if err := l.create(ctx, features); err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.name, err)
	}
	g := ctx.Graph
	n := l.gates() * u

	// The input's projection, all steps at once: [batch·steps, f]·[f, n].
	xk := g.MatMul(g.Reshape(x, -1, features), l.kernel.Value())
	var recBias tfwrap.Output // GRU's recurrent bias
	if l.typ == "LSTM" {
		xk = g.BiasAdd(xk, l.bias.Value())
	} else {
		b := unstack(g, l.bias.Value(), 2, 0)
		xk = g.BiasAdd(xk, b[0])
		recBias = b[1]
	}
	xs := unstack(g, g.Reshape(xk, -1, steps, n), int(steps), 1)
	var ms []tfwrap.Output
	if mask.Valid() {
		ms = unstack(g, mask, int(steps), 1)
	}

	// Zero initial states, [batch, units].
	batch := g.Slice(g.ShapeOf(x), g.Scalar(0, tfwrap.Int32), g.Scalar(1, tfwrap.Int32))
	dims := g.Apply("ConcatV2", nil, tfwrap.OutputList{batch, g.Reshape(g.Scalar(float64(u), tfwrap.Int32), 1)}, g.Scalar(0, tfwrap.Int32))
	zeros := g.Apply("Fill", nil, dims, g.Scalar(0, tfwrap.Float32))
	h, c, prev := zeros, zeros, zeros
	outs := make([]tfwrap.Output, steps)
	for i := int64(0); i < steps; i++ {
		t := i
		if l.backwards {
			t = steps - 1 - i
		}
		var nh, nc tfwrap.Output
		if l.typ == "LSTM" {
			z := g.Add(xs[t], g.MatMul(h, l.recurrent.Value()))
			gt := split(g, z, 4)
			in, forget, cand, out := g.Sigmoid(gt[0]), g.Sigmoid(gt[1]), g.Tanh(gt[2]), g.Sigmoid(gt[3])
			nc = g.Add(g.Mul(forget, c), g.Mul(in, cand))
			nh = g.Mul(out, g.Tanh(nc))
		} else {
			xg := split(g, xs[t], 3)
			hg := split(g, g.BiasAdd(g.MatMul(h, l.recurrent.Value()), recBias), 3)
			z := g.Sigmoid(g.Add(xg[0], hg[0]))
			r := g.Sigmoid(g.Add(xg[1], hg[1]))
			cand := g.Tanh(g.Add(xg[2], g.Mul(r, hg[2])))
			one := g.Scalar(1, tfwrap.Float32)
			nh = g.Add(g.Mul(z, h), g.Mul(g.Sub(one, z), cand))
		}
		o := nh
		if ms != nil {
			// As Keras's backend.rnn with a mask: a masked step keeps the
			// states, and its output is zeros or the previous output.
			keep := prev
			if l.zeroOutput {
				keep = zeros
			}
			o = g.Apply("Select", nil, ms[t], nh, keep)
			nh = g.Apply("Select", nil, ms[t], nh, h)
			if l.typ == "LSTM" {
				nc = g.Apply("Select", nil, ms[t], nc, c)
			}
		}
		h, c, prev = nh, nc, o
		outs[t] = o
	}
	out := prev
	if l.cfg.returnSeq {
		op := g.AddOp(tfwrap.OpSpec{Type: "Pack", Inputs: []tfwrap.Input{tfwrap.OutputList(outs)}, Attrs: tfwrap.Attrs{"axis": 1}})
		out = op.Output(0)
	}
	res := []tfwrap.Output{out, h}
	if l.typ == "LSTM" {
		res = append(res, c)
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.name, err)
	}
	return res, nil
}

// unstack splits x into its n slices along axis.
func unstack(g *tfwrap.Graph, x tfwrap.Output, n, axis int) []tfwrap.Output {
	op := g.AddOp(tfwrap.OpSpec{Type: "Unpack", Inputs: []tfwrap.Input{x}, Attrs: tfwrap.Attrs{"num": n, "axis": axis}})
	if op == nil {
		return make([]tfwrap.Output, n)
	}
	return op.Outputs()
}

// split cuts x [batch, k·m] into k blocks [batch, m].
func split(g *tfwrap.Graph, x tfwrap.Output, k int) []tfwrap.Output {
	op := g.AddOp(tfwrap.OpSpec{Type: "Split", Inputs: []tfwrap.Input{g.Scalar(1, tfwrap.Int32), x}, Attrs: tfwrap.Attrs{"num_split": k}})
	if op == nil {
		return make([]tfwrap.Output, k)
	}
	return op.Outputs()
}
