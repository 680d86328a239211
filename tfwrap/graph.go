package tfwrap

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"

	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// Graph is a TensorFlow graph under construction, with the variables it
// declares. Builder methods never panic: the first problem (a nil or foreign
// input, a dtype or shape mismatch, an error from TensorFlow's own shape
// inference) is recorded, later builder calls become no-ops, and Err,
// NewSession and Gradient return it.
//
// A Graph value may be a view made by OnDevice, WithScope or After; views
// share the same underlying graph, names and recorded error. Building is not
// safe for concurrent use; running the finished graph through a Session is.
type Graph struct {
	st        *graphState
	device    string
	varDevice string // where Variable places variables, when set
	container string // the resource container of new variables ("": the default)
	prefix    string
	deps      []*tf.Operation
}

type graphState struct {
	g       *tf.Graph
	err     error
	names   map[string]int
	vars    []*Variable
	varRead map[tf.Output]*Variable
	scope   *op.Scope // the op package's root scope over g, once asked for
	// shapes caches each output's static shape (tf.Output → []int64, nil
	// for an unknown rank), which never changes once the op exists. The
	// bindings' Output.Shape makes a C status whose finalizer can free it
	// while TF_GetCode still reads it (nothing keeps the Go value alive
	// across that call): a GOGC=1 stress of concurrent Predicts crashed
	// there in CI, since every Run checks its feeds' shapes. Asked once
	// per output, at build or load time, it is never asked on a hot path.
	shapes sync.Map
}

// NewGraph returns an empty graph.
func NewGraph() *Graph {
	return &Graph{st: &graphState{
		g:       tf.NewGraph(),
		names:   map[string]int{},
		varRead: map[tf.Output]*Variable{},
	}}
}

// Err returns the first error recorded while building, or nil.
func (g *Graph) Err() error {
	if g == nil || g.st == nil {
		return errors.New("tfwrap: nil graph")
	}
	return g.syncErr()
}

// fail records err as the graph's error unless one is recorded already.
func (g *Graph) fail(err error) {
	if g.st.err == nil {
		g.st.err = err
		if g.st.scope != nil {
			g.st.scope.UpdateErr("tfwrap", err)
		}
	}
}

func (g *Graph) failf(format string, args ...any) {
	g.fail(fmt.Errorf("tfwrap: "+format, args...))
}

// OnDevice returns a view of g whose new ops are placed on dev, such as
// "/device:CPU:0" or "/device:GPU:0". Placement is checked when a Session
// runs the ops: a device that does not exist gives an error then.
func (g *Graph) OnDevice(dev string) *Graph {
	v := *g
	v.device = dev
	return &v
}

// WithVariableDevice returns a view of g whose new variables (their
// handles, reads and assignments) are placed on dev, while its other ops
// stay on the view's device: how a model keeps its weights on a parameter
// server (cluster.TaskName("ps", 0)) and computes elsewhere, as TensorFlow's
// replica_device_setter. "" places variables as other ops.
func (g *Graph) WithVariableDevice(dev string) *Graph {
	v := *g
	v.varDevice = dev
	return &v
}

// WithContainer returns a view of g whose new variables live in the
// resource container name on their device, instead of the default one.
// Variables of the same name in different containers are different
// variables, on a cluster's tasks too, which otherwise share a variable
// among all the sessions that name it: how two models share a cluster
// without sharing weights (Variable.Destroy gives the memory back).
// A name is letters, digits and _ . - only.
func (g *Graph) WithContainer(name string) *Graph {
	v := *g
	if !containerName.MatchString(name) {
		g.failf("invalid container name %q", name)
		return &v
	}
	v.container = name
	return &v
}

var containerName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// WithScope returns a view of g whose new ops are named under scope/, as
// tf.name_scope does. Scopes nest.
func (g *Graph) WithScope(scope string) *Graph {
	v := *g
	if strings.ContainsAny(scope, " :") || scope == "" {
		g.failf("invalid name scope %q", scope)
		return &v
	}
	v.prefix = g.fullName(scope)
	return &v
}

// under returns a view whose names go below the exact prefix p.
func (g *Graph) under(p string) *Graph {
	v := *g
	v.prefix = p
	return &v
}

// After returns a view of g whose new ops run only after ops have run.
func (g *Graph) After(ops ...*Op) *Graph {
	v := *g
	v.deps = append([]*tf.Operation{}, g.deps...)
	for i, o := range ops {
		if o == nil || o.op == nil || o.st != g.st {
			g.failf("After: op %d is nil or from another graph", i)
			continue
		}
		v.deps = append(v.deps, o.op)
	}
	return &v
}

// Device returns the device the view places ops on ("" means any).
func (g *Graph) Device() string { return g.device }

// Variables returns the variables declared in the graph, in order.
func (g *Graph) Variables() []*Variable { return append([]*Variable{}, g.st.vars...) }

func (g *Graph) fullName(name string) string {
	if g.prefix != "" {
		name = g.prefix + "/" + name
	}
	n := g.st.names[name]
	g.st.names[name]++
	if n == 0 && g.st.g.Operation(name) == nil {
		return name
	}
	for {
		cand := fmt.Sprintf("%s_%d", name, n)
		n++
		if g.st.g.Operation(cand) == nil {
			g.st.names[name] = n
			return cand
		}
	}
}

// add creates one operation through the generic builder (AddOp's checks
// against the op's registered definition included); on failure it records
// the error and returns nil.
func (g *Graph) add(typ, name string, inputs []tf.Input, attrs map[string]any) *tf.Operation {
	if g.syncErr() != nil {
		return nil
	}
	ins := make([]Input, len(inputs))
	for i, in := range inputs {
		switch v := in.(type) {
		case tf.Output:
			ins[i] = Output{st: g.st, out: v}
		case tf.OutputList:
			l := make(OutputList, len(v))
			for j, o := range v {
				l[j] = Output{st: g.st, out: o}
			}
			ins[i] = l
		}
	}
	op, err := g.addOp(OpSpec{Type: typ, Name: name, Inputs: ins, Attrs: attrs})
	if err != nil {
		g.fail(err)
		return nil
	}
	return op.op
}

// add1 creates an op with one output and wraps it.
func (g *Graph) add1(typ, name string, inputs []tf.Input, attrs map[string]any) Output {
	op := g.add(typ, name, inputs, attrs)
	if op == nil {
		return Output{}
	}
	return Output{st: g.st, out: op.Output(0)}
}

// check reports whether every input is a valid output of this graph and the
// graph has no recorded error; otherwise it records why and returns false.
func (g *Graph) check(opName string, ins ...Output) bool {
	if g == nil || g.st == nil {
		return false
	}
	if g.syncErr() != nil {
		return false
	}
	for i, in := range ins {
		if in.st == nil || in.out.Op == nil {
			g.failf("%s: input %d is not a valid Output (zero value or from a failed builder call)", opName, i)
			return false
		}
		if in.st != g.st {
			g.failf("%s: input %d (%s) belongs to another graph", opName, i, in.out.Op.Name())
			return false
		}
	}
	return true
}

// Output is one tensor-valued result of an op in a Graph: symbolic until a
// Session computes it. The zero Output is invalid. Outputs are comparable and
// can key a Feeds map.
type Output struct {
	st  *graphState
	out tf.Output
}

// Valid reports whether o refers to an op in a graph.
func (o Output) Valid() bool { return o.st != nil && o.out.Op != nil }

// Name returns "op:index", the name TensorFlow uses for the tensor.
func (o Output) Name() string {
	if !o.Valid() {
		return "<invalid>"
	}
	return fmt.Sprintf("%s:%d", o.out.Op.Name(), o.out.Index)
}

// Op returns the operation that produces o.
func (o Output) Op() *Op {
	if !o.Valid() {
		return nil
	}
	return &Op{st: o.st, op: o.out.Op}
}

// DType returns the element type, or 0 for an invalid Output.
func (o Output) DType() DType {
	if !o.Valid() {
		return 0
	}
	dt, err := fromTF(o.out.DataType())
	if err != nil {
		return 0
	}
	return dt
}

// Shape returns the statically known shape: -1 for a dimension known only at
// run time, an empty slice for a scalar, nil when even the rank is unknown.
func (o Output) Shape() []int64 {
	if !o.Valid() {
		return nil
	}
	if v, ok := o.st.shapes.Load(o.out); ok {
		return slices.Clone(v.([]int64))
	}
	var out []int64
	if s := o.out.Shape(); s.NumDimensions() >= 0 {
		out = make([]int64, s.NumDimensions())
		for i := range out {
			out[i] = s.Size(i)
		}
	}
	o.st.shapes.Store(o.out, out)
	return slices.Clone(out)
}

// Rank returns the statically known rank, or -1 when unknown.
func (o Output) Rank() int {
	if !o.Valid() {
		return -1
	}
	s := o.Shape()
	if s == nil {
		return -1
	}
	return len(s)
}

// String describes o as name, shape and dtype.
func (o Output) String() string {
	if !o.Valid() {
		return "Output(<invalid>)"
	}
	s := "<unknown>"
	if sh := o.Shape(); sh != nil {
		s = shape.String(sh)
	}
	return fmt.Sprintf("Output(%s, shape=%s, dtype=%v)", o.Name(), s, o.DType())
}

// Op is an operation in a Graph that a Session can run for its effect (an
// assignment, an initializer, a training step).
type Op struct {
	st *graphState
	op *tf.Operation
}

// Name returns the operation's name in the graph.
func (o *Op) Name() string {
	if o == nil || o.op == nil {
		return "<invalid>"
	}
	return o.op.Name()
}

// Group returns one op that runs all of ops (a NoOp with control inputs).
func (g *Graph) Group(name string, ops ...*Op) *Op {
	view := g.After(ops...)
	if g.st.err != nil {
		return nil
	}
	op := view.add("NoOp", name, nil, nil)
	if op == nil {
		return nil
	}
	return &Op{st: g.st, op: op}
}

// Const adds a constant holding t.
func (g *Graph) Const(t *Tensor) Output {
	if g.st.err != nil {
		return Output{}
	}
	var out Output
	if err := withTF(t, func(tt *tf.Tensor) {
		out = g.add1("Const", "Const", nil, map[string]any{"dtype": tfType(t.dtype), "value": tt})
	}); err != nil {
		g.failf("Const: %v", err)
		return Output{}
	}
	return out
}

// Scalar adds a rank-0 constant of dtype dt holding v.
func (g *Graph) Scalar(v float64, dt DType) Output {
	var t *Tensor
	switch dt {
	case Float32:
		t = Scalar(float32(v))
	case Float64:
		t = Scalar(v)
	case Int32:
		t = Scalar(int32(v))
	case Int64:
		t = Scalar(int64(v))
	case Uint8:
		t = Scalar(uint8(v))
	default:
		g.failf("Scalar: unsupported dtype %v", dt)
		return Output{}
	}
	return g.Const(t)
}

// Placeholder adds an input that a Session feeds at run time. dims may hold
// -1 for a dimension known only then (the batch size, say).
func (g *Graph) Placeholder(name string, dt DType, dims ...int64) Output {
	if g.st.err != nil {
		return Output{}
	}
	if !dt.Valid() {
		g.failf("Placeholder %q: unsupported dtype %v", name, dt)
		return Output{}
	}
	for i, d := range dims {
		if d < -1 {
			g.failf("Placeholder %q: dimension %d is %d; use -1 for unknown", name, i, d)
			return Output{}
		}
	}
	if name == "" || strings.ContainsAny(name, " :") {
		g.failf("Placeholder: invalid name %q", name)
		return Output{}
	}
	return g.add1("Placeholder", name, nil, map[string]any{
		"dtype": tfType(dt),
		"shape": tf.MakeShape(dims...),
	})
}

// Identity adds an op that passes x through, named name: a stable handle
// for an output.
func (g *Graph) Identity(name string, x Output) Output {
	if !g.check("Identity", x) {
		return Output{}
	}
	return g.add1("Identity", name, []tf.Input{x.out}, nil)
}

// PlaceholderWithDefault adds an input that passes def through unless a
// Session feeds it: one graph can then train from data held in TensorFlow
// or from a fed batch.
func (g *Graph) PlaceholderWithDefault(name string, def Output, dims ...int64) Output {
	if !g.check("PlaceholderWithDefault", def) {
		return Output{}
	}
	if ds := def.Shape(); ds != nil && !shape.Compatible(dims, ds) && !compatiblePartial(dims, ds) {
		g.failf("PlaceholderWithDefault %q: default has shape %s, placeholder %s", name, shape.String(ds), shape.String(dims))
		return Output{}
	}
	return g.add1("PlaceholderWithDefault", name, []tf.Input{def.out}, map[string]any{
		"dtype": def.out.DataType(), "shape": tf.MakeShape(dims...),
	})
}

// compatiblePartial reports whether two partly known shapes can describe
// the same tensor.
func compatiblePartial(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] >= 0 && b[i] >= 0 && a[i] != b[i] {
			return false
		}
	}
	return true
}
