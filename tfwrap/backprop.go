package tfwrap

import (
	"fmt"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	graphpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/graph_go_proto"
	nodepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	"google.golang.org/protobuf/proto"
)

// Reverse-mode backprop for Tape.Gradient when some op between the sources
// and the target has no C++ gradient, or has a Go one (Relu). Each op on the path gets its gradient
// from RegisterGradient or, one op at a time, from TF_AddGradients.

// tkey names a tensor. The bindings make a new *tf.Operation each time they
// hand one out, so tf.Output values of one tensor need not compare equal.
type tkey struct {
	op  string
	idx int
}

func keyOf(o tf.Output) tkey { return tkey{o.Op.Name(), o.Index} }

// floatTF reports whether tensors of dt carry gradients.
func floatTF(dt tf.DataType) bool {
	switch dt {
	case tf.Float, tf.Double, tf.Half, tf.Bfloat16:
		return true
	}
	return false
}

// gradPlan is the part of the graph gradients flow through: the ops that
// consume, directly or not, a start tensor through float edges, and of
// those the ones the target depends on, producers before consumers.
type gradPlan struct {
	starts map[tkey]bool
	fwd    map[string]bool
	order  []*tf.Operation
}

// carries reports whether a gradient can flow back into tensor o.
func (p *gradPlan) carries(o tf.Output) bool {
	return p.starts[keyOf(o)] || (floatTF(o.DataType()) && p.fwd[o.Op.Name()])
}

func newGradPlan(starts []tf.Output, target tf.Output) *gradPlan {
	p := &gradPlan{starts: map[tkey]bool{}, fwd: map[string]bool{}}
	queue := append([]tf.Output{}, starts...)
	for _, s := range starts {
		p.starts[keyOf(s)] = true
	}
	for len(queue) > 0 {
		t := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, c := range t.Consumers() {
			if p.fwd[c.Op.Name()] {
				continue
			}
			p.fwd[c.Op.Name()] = true
			for k := 0; k < c.Op.NumOutputs(); k++ {
				if o := c.Op.Output(k); floatTF(o.DataType()) {
					queue = append(queue, o)
				}
			}
		}
	}
	if !p.fwd[target.Op.Name()] {
		return p
	}
	seen := map[string]bool{}
	var visit func(op *tf.Operation)
	visit = func(op *tf.Operation) {
		seen[op.Name()] = true
		for i := 0; i < op.NumInputs(); i++ {
			in := opInput(op, i)
			if n := in.Op.Name(); p.fwd[n] && !seen[n] && p.carries(in) {
				visit(in.Op)
			}
		}
		p.order = append(p.order, op)
	}
	visit(target.Op)
	return p
}

// cppOnly reports whether TF_AddGradients can differentiate the whole path
// in one call: every op has a C++ gradient, and the only reads of a source
// variable's handle are its own ReadVariableOps (reads[op name]).
func (p *gradPlan) cppOnly(reads map[string]bool) bool {
	for _, op := range p.order {
		if reads[op.Name()] {
			continue
		}
		if op.Type() == "ReadVariableOp" && p.starts[keyOf(opInput(op, 0))] {
			return false // another read of a source variable: only backprop sees it
		}
		if cppGradient(op.Type()) == cppGradNone || goGradient(op.Type()) != nil {
			return false // tfwrap's own gradient is preferred (Relu) or the only one
		}
	}
	return true
}

// backprop returns, per start, the gradient of sum(target), or the zero
// Output where none flows. gv names the new ops.
func backprop(gv *Graph, p *gradPlan, starts []tf.Output, target tf.Output) ([]Output, error) {
	grads := map[tkey][]tf.Output{}
	seed := gv.add1("OnesLike", "OnesLike", []tf.Input{target}, nil)
	if !seed.Valid() {
		return nil, gv.Err()
	}
	grads[keyOf(target)] = []tf.Output{seed.out}
	for i := len(p.order) - 1; i >= 0; i-- {
		op := p.order[i]
		dys := make([]Output, op.NumOutputs())
		flows := false
		for k := range dys {
			key := keyOf(op.Output(k))
			gs := grads[key]
			if len(gs) == 0 {
				continue
			}
			if dys[k] = sumGrads(gv, gs); !dys[k].Valid() {
				return nil, gv.Err()
			}
			flows = true
			if p.starts[key] {
				grads[key] = []tf.Output{dys[k].out} // a source downstream of another keeps its sum
			} else {
				delete(grads, key)
			}
		}
		if !flows {
			continue
		}
		dxs, err := opGradient(gv, p, op, dys)
		if err != nil {
			return nil, err
		}
		for j, dx := range dxs {
			if !dx.Valid() {
				continue
			}
			if in := opInput(op, j); p.carries(in) {
				grads[keyOf(in)] = append(grads[keyOf(in)], dx.out)
			}
		}
	}
	out := make([]Output, len(starts))
	for i, s := range starts {
		if gs := grads[keyOf(s)]; len(gs) > 0 {
			if out[i] = sumGrads(gv, gs); !out[i].Valid() {
				return nil, gv.Err()
			}
		}
	}
	return out, nil
}

// sumGrads adds the gradients reaching one tensor (AddN), or returns the one.
func sumGrads(gv *Graph, gs []tf.Output) Output {
	if len(gs) == 1 {
		return Output{st: gv.st, out: gs[0]}
	}
	return gv.add1("AddN", "AddN", []tf.Input{tf.OutputList(gs)}, nil)
}

// opGradient returns one gradient per input of op, given dys per output.
func opGradient(gv *Graph, p *gradPlan, op *tf.Operation, dys []Output) ([]Output, error) {
	typ := op.Type()
	if typ == "ReadVariableOp" && p.starts[keyOf(opInput(op, 0))] {
		// A read of a source variable: its gradient is the variable's.
		return dys[:1], nil
	}
	if fn := goGradient(typ); fn != nil {
		dxs, err := fn(gv, &Op{st: gv.st, op: op}, dys)
		if err != nil {
			return nil, fmt.Errorf("gradient of %s (op %q): %w", typ, op.Name(), err)
		}
		if err := gv.Err(); err != nil {
			return nil, fmt.Errorf("gradient of %s (op %q): %w", typ, op.Name(), err)
		}
		if len(dxs) != op.NumInputs() {
			return nil, fmt.Errorf("gradient of %s (op %q) returned %d gradients for %d inputs", typ, op.Name(), len(dxs), op.NumInputs())
		}
		for j, dx := range dxs {
			if !dx.Valid() {
				continue
			}
			if dx.st != gv.st {
				return nil, fmt.Errorf("gradient of %s (op %q): gradient %d belongs to another graph", typ, op.Name(), j)
			}
			in := opInput(op, j)
			if !p.carries(in) {
				continue // dropped below: an index, a frozen variable's handle
			}
			want := in.DataType()
			if !floatTF(want) && p.starts[keyOf(in)] {
				want = dx.out.DataType() // a variable's gradient has its dtype
			}
			if dx.out.DataType() != want {
				return nil, fmt.Errorf("gradient of %s (op %q): gradient %d has dtype %v, input has %v", typ, op.Name(), j, dx.DType(), want)
			}
		}
		return dxs, nil
	}
	switch cppGradient(typ) {
	case cppGradNoGrad:
		return nil, nil
	case cppGradFunc:
		return cppOpGradient(gv, p, op, dys)
	}
	return nil, fmt.Errorf("no gradient defined for op type %q (op %q): neither TensorFlow's C++ registry nor RegisterGradient has one", typ, op.Name())
}

// cppOpGradient differentiates op alone with TF_AddGradients. When the
// inputs that need a gradient are themselves connected other than through
// op (x and f(x) into one Mul, say), TF_AddGradients would follow those
// paths too and count them twice, so op is first cloned onto fresh
// Identity inputs.
func cppOpGradient(gv *Graph, p *gradPlan, op *tf.Operation, dys []Output) ([]Output, error) {
	n := op.NumInputs()
	var xs []tf.Output
	first := map[tkey]int{} // tensor -> index in xs
	slot := make([]int, n)  // input -> index in xs, or -1
	for j := 0; j < n; j++ {
		slot[j] = -1
		in := opInput(op, j)
		if !p.carries(in) || !floatTF(in.DataType()) {
			continue
		}
		if _, ok := first[keyOf(in)]; ok {
			continue // a repeated input: TF sums both edges into the first
		}
		first[keyOf(in)] = len(xs)
		slot[j] = len(xs)
		xs = append(xs, in)
	}
	out := make([]Output, n)
	if len(xs) == 0 {
		return out, nil
	}
	fwdOp, xsFor := op, xs
	if tangled(op, xs) {
		c, ids, err := cloneOnIdentities(gv, op, p)
		if err != nil {
			return nil, err
		}
		fwdOp = c
		xsFor = make([]tf.Output, len(xs))
		for i, x := range xs {
			xsFor[i] = ids[keyOf(x)]
		}
	}
	var ys, dx []tf.Output
	for k, d := range dys {
		if d.Valid() {
			ys = append(ys, fwdOp.Output(k))
			dx = append(dx, d.out)
		}
	}
	res, err := gv.st.g.AddGradients(gv.fullName(op.Type()+"_grad"), ys, xsFor, dx)
	if err != nil {
		return nil, fmt.Errorf("gradient of %s (op %q): %v", op.Type(), op.Name(), err)
	}
	for j, s := range slot {
		if s >= 0 && res[s].Op != nil {
			out[j] = Output{st: gv.st, out: res[s]}
		}
	}
	return out, nil
}

// tangled reports whether some consumer of a producer of xs, other than op,
// is an ancestor of op: TF_AddGradients would then backprop along it.
func tangled(op *tf.Operation, xs []tf.Output) bool {
	anc := map[string]bool{}
	stack := []*tf.Operation{op}
	for len(stack) > 0 {
		o := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for i := 0; i < o.NumInputs(); i++ {
			in := opInput(o, i).Op
			if !anc[in.Name()] {
				anc[in.Name()] = true
				stack = append(stack, in)
			}
		}
	}
	done := map[string]bool{}
	for _, x := range xs {
		if done[x.Op.Name()] {
			continue
		}
		done[x.Op.Name()] = true
		for k := 0; k < x.Op.NumOutputs(); k++ {
			for _, c := range x.Op.Output(k).Consumers() {
				if c.Op.Name() != op.Name() && anc[c.Op.Name()] {
					return true
				}
			}
		}
	}
	return false
}

// cloneOnIdentities adds a copy of op whose gradient-carrying inputs go
// through fresh Identity ops, returned by the tensor they stand for.
func cloneOnIdentities(gv *Graph, op *tf.Operation, p *gradPlan) (*tf.Operation, map[tkey]tf.Output, error) {
	raw, err := nodeDef(op)
	if err != nil {
		return nil, nil, err
	}
	var nd nodepb.NodeDef
	if err := proto.Unmarshal(raw, &nd); err != nil {
		return nil, nil, fmt.Errorf("tfwrap: node def of %s: %v", op.Name(), err)
	}
	prefix := gv.fullName(op.Type() + "_clone")
	var opts tf.GraphImportOptions
	opts.Prefix = prefix
	ids := map[tkey]tf.Output{}
	var inputs []string
	for j := 0; j < op.NumInputs(); j++ {
		in := opInput(op, j)
		src := fmt.Sprintf("gotf_input_%d", j)
		inputs = append(inputs, src)
		if !p.carries(in) || !floatTF(in.DataType()) {
			opts.AddInputMapping(src, 0, in)
			continue
		}
		id, ok := ids[keyOf(in)]
		if !ok {
			o := gv.add1("Identity", "Identity", []tf.Input{in}, nil)
			if !o.Valid() {
				return nil, nil, gv.Err()
			}
			id = o.out
			ids[keyOf(in)] = id
		}
		opts.AddInputMapping(src, 0, id)
	}
	delete(nd.Attr, "_class") // colocation with ops the import cannot see
	nd.Name = "op"
	nd.Input = inputs // control inputs dropped: the clone only feeds gradients
	def, err := proto.Marshal(&graphpb.GraphDef{Node: []*nodepb.NodeDef{&nd}})
	if err != nil {
		return nil, nil, err
	}
	if err := gv.st.g.ImportWithOptions(def, opts); err != nil {
		return nil, nil, fmt.Errorf("tfwrap: gradient of %s (op %q): cloning it: %v", op.Type(), op.Name(), err)
	}
	c := gv.st.g.Operation(prefix + "/op")
	if c == nil {
		return nil, nil, fmt.Errorf("tfwrap: gradient of %s (op %q): clone not found", op.Type(), op.Name())
	}
	return c, ids, nil
}
