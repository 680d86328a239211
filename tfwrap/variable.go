package tfwrap

import (
	"fmt"
	"strings"

	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// Variable is a TensorFlow resource variable (VarHandleOp): mutable state
// that lives in a Session, such as a model's weights and biases. Its value
// persists across Session.Run calls; Session.InitVariables sets it to the
// initial value given at creation, Session.SetValue to any other.
//
// Reads go through one ReadVariableOp per variable (Value), so gradients with
// respect to the variable are gradients with respect to that read. Within one
// Run, reads see the value from before the Run's own assignments unless the
// graph orders them with After.
type Variable struct {
	st        *graphState
	name      string
	dtype     DType
	shape     []int64
	handle    tf.Output
	read      Output
	initPH    tf.Output
	initOp    *tf.Operation
	init      *Tensor
	trainable bool
	declared  []int64
}

// VariableOption configures a new Variable.
type VariableOption func(*Variable)

// NotTrainable marks a variable as state that training must not change
// (counters, moving averages, frozen weights).
func NotTrainable() VariableOption { return func(v *Variable) { v.trainable = false } }

// WithShape declares a partly known shape (-1 for a dimension that may
// change), so that SetValue can later store tensors of other sizes in the
// variable, such as a dataset of any length.
func WithShape(dims ...int64) VariableOption {
	return func(v *Variable) { v.declared = append([]int64{}, dims...) }
}

// Variable declares a resource variable named name whose shape and dtype are
// those of init, and whose initial value is init. On bad input it records
// the error in g and returns a Variable whose ops are invalid.
func (g *Graph) Variable(name string, init *Tensor, opts ...VariableOption) *Variable {
	v := &Variable{st: g.st, name: name, trainable: true}
	if g.varDevice != "" {
		g = g.OnDevice(g.varDevice)
	}
	for _, o := range opts {
		o(v)
	}
	if g.st.err != nil {
		return v
	}
	if !init.ok() {
		g.failf("Variable %q: initial value: %v", name, ErrNilTensor)
		return v
	}
	if init.dtype == String {
		g.failf("Variable %q: string variables are not supported", name)
		return v
	}
	if name == "" || strings.ContainsAny(name, " :") {
		g.failf("Variable: invalid name %q", name)
		return v
	}
	v.dtype, v.shape, v.init = init.dtype, init.Shape(), init
	if v.declared != nil {
		if !shape.Compatible(v.declared, v.shape) {
			g.failf("Variable %q: initial value of shape %s does not fit the declared shape %s",
				name, shape.String(v.shape), shape.String(v.declared))
			return v
		}
		v.shape = v.declared
	}
	want := name
	if g.prefix != "" {
		want = g.prefix + "/" + name
	}
	for _, other := range g.st.vars {
		if other.name == want {
			g.failf("Variable %q: a variable named %q exists already in this graph; give it another name or a name scope (WithScope)", name, want)
			return v
		}
	}
	if op := g.st.g.Operation(want); op != nil {
		g.failf("Variable %q: the name %q is taken by a %s op", name, want, op.Type())
		return v
	}
	if g.st.names[want] > 0 {
		g.failf("Variable %q: the name %q is in use (as a name scope)", name, want)
		return v
	}
	// add names the op through fullName, which reserves want; reserving
	// it here first would make the op want_1.
	full := want
	v.name = full
	handle := g.under("").add("VarHandleOp", full, nil, map[string]any{
		"dtype":       tfType(v.dtype),
		"shape":       tf.MakeShape(v.shape...),
		"shared_name": full,
		"container":   g.container,
	})
	if handle == nil {
		return v
	}
	if handle.Name() != full {
		g.failf("Variable %q: its op was named %q", name, handle.Name())
		return v
	}
	v.handle = handle.Output(0)
	sub := g.under(full)
	ph := sub.add("Placeholder", "initial_value", nil, map[string]any{
		"dtype": tfType(v.dtype), "shape": tf.MakeShape(v.shape...),
	})
	if ph == nil {
		return v
	}
	v.initPH = ph.Output(0)
	v.initOp = sub.add("AssignVariableOp", "Assign", []tf.Input{v.handle, v.initPH},
		map[string]any{"dtype": tfType(v.dtype)})
	v.read = sub.add1("ReadVariableOp", "Read", []tf.Input{v.handle}, map[string]any{"dtype": tfType(v.dtype)})
	if v.initOp == nil || !v.read.Valid() {
		return v
	}
	g.st.vars = append(g.st.vars, v)
	g.st.varRead[v.read.out] = v
	return v
}

func (v *Variable) ok() bool { return v != nil && v.st != nil && v.read.Valid() && v.initOp != nil }

// Name returns the variable's unique name in its graph.
func (v *Variable) Name() string {
	if v == nil {
		return "<nil>"
	}
	return v.name
}

// DType returns the element type.
func (v *Variable) DType() DType {
	if v == nil {
		return 0
	}
	return v.dtype
}

// Shape returns a copy of the variable's shape.
func (v *Variable) Shape() []int64 {
	if v == nil {
		return nil
	}
	return append([]int64{}, v.shape...)
}

// Trainable reports whether optimizers should update the variable.
func (v *Variable) Trainable() bool { return v != nil && v.trainable }

// Initial returns the tensor the variable starts from.
func (v *Variable) Initial() *Tensor {
	if v == nil {
		return nil
	}
	return v.init
}

// Value returns the variable's current value as an Output (its one read op).
func (v *Variable) Value() Output {
	if v == nil {
		return Output{}
	}
	return v.read
}

// Handle returns the resource handle, for ops that update a variable in
// place (TF's ResourceApply* training kernels).
func (v *Variable) Handle() Output {
	if !v.ok() {
		return Output{}
	}
	return Output{st: v.st, out: v.handle}
}

// assignOp builds AssignVariableOp, AssignAddVariableOp or AssignSubVariableOp.
func (v *Variable) assignOp(g *Graph, typ string, x Output) *Op {
	if g == nil || g.st == nil {
		return nil
	}
	if !v.ok() {
		g.failf("%s: variable %s is not valid", typ, v.Name())
		return nil
	}
	if v.st != g.st {
		g.failf("%s: variable %s belongs to another graph", typ, v.Name())
		return nil
	}
	if !g.check(typ, x) {
		return nil
	}
	if x.DType() != v.dtype {
		g.failf("%s to %s: value is %v, variable is %v", typ, v.name, x.DType(), v.dtype)
		return nil
	}
	if s := x.Shape(); s != nil && !shape.Compatible(s, v.shape) && !shape.Compatible(v.shape, s) {
		g.failf("%s to %s: value has shape %s, variable has shape %s", typ, v.name, shape.String(s), shape.String(v.shape))
		return nil
	}
	op := g.under(v.name).add(typ, strings.TrimSuffix(typ, "VariableOp"), []tf.Input{v.handle, x.out},
		map[string]any{"dtype": tfType(v.dtype)})
	if op == nil {
		return nil
	}
	return &Op{st: g.st, op: op}
}

// Assign returns an op that sets v to x when run, as v.assign(x).
func (v *Variable) Assign(g *Graph, x Output) *Op { return v.assignOp(g, "AssignVariableOp", x) }

// AssignAdd returns an op that adds x to v when run, as v.assign_add(x).
func (v *Variable) AssignAdd(g *Graph, x Output) *Op { return v.assignOp(g, "AssignAddVariableOp", x) }

// AssignSub returns an op that subtracts x from v when run, as v.assign_sub(x).
func (v *Variable) AssignSub(g *Graph, x Output) *Op { return v.assignOp(g, "AssignSubVariableOp", x) }

// Destroy returns an op that frees v's value on v's device when run
// (DestroyResourceOp; nothing happens if it holds none): a task of a
// cluster keeps a variable until then, after every session using it has
// closed. A later read fails until v is assigned again.
func (v *Variable) Destroy(g *Graph) *Op {
	if g == nil || g.st == nil {
		return nil
	}
	if !v.ok() {
		g.failf("Destroy: variable %s is not valid", v.Name())
		return nil
	}
	if v.st != g.st {
		g.failf("Destroy: variable %s belongs to another graph", v.Name())
		return nil
	}
	op := g.OnDevice(v.handle.Op.Device()).under(v.name).add("DestroyResourceOp", "Destroy", []tf.Input{v.handle},
		map[string]any{"ignore_lookup_error": true})
	if op == nil {
		return nil
	}
	return &Op{st: g.st, op: op}
}

// String describes the variable by name, shape and dtype.
func (v *Variable) String() string {
	if v == nil {
		return "Variable(<nil>)"
	}
	return fmt.Sprintf("Variable(%s, shape=%s, dtype=%v)", v.name, shape.String(v.shape), v.dtype)
}
