package tfwrap

import (
	"fmt"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// Tape computes gradients the way tf.GradientTape does, over TensorFlow's
// graph gradients (TF_AddGradientsWithPrefix and its C++ gradient registry).
// When every op between the sources and the target has a C++ gradient, one
// TF_AddGradients call does the work; otherwise Tape backpropagates itself,
// op by op in reverse topological order, taking each op's gradient from
// RegisterGradient (tfwrap registers the Python-only ones Keras-style models
// need; see GoGradientTypes) or from TF_AddGradients on that op alone.
// Trainable variables are watched automatically; any other tensor, such as
// a constant, must be watched with Watch before its gradient is asked for.
// A Tape belongs to one Graph and, like it, is not safe for concurrent use.
type Tape struct {
	g       *Graph
	watched map[tf.Output]bool
}

// GradientTape returns a new tape on g.
func (g *Graph) GradientTape() *Tape {
	return &Tape{g: g, watched: map[tf.Output]bool{}}
}

// Watch marks tensors whose gradients may be asked for, as tape.watch(x).
func (t *Tape) Watch(xs ...Output) {
	for _, x := range xs {
		if x.Valid() {
			t.watched[x.out] = true
		}
	}
}

// Source is something a gradient can be taken with respect to: a *Variable
// or an Output.
type Source interface {
	gradSource() (Output, string)
}

func (o Output) gradSource() (Output, string) { return o, o.Name() }

// Sources lists variables as gradient sources, for Tape.Gradient(target,
// Sources(vs)...).
func Sources(vs []*Variable) []Source {
	out := make([]Source, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

func (v *Variable) gradSource() (Output, string) {
	if v == nil {
		return Output{}, "<nil variable>"
	}
	return v.read, "variable " + v.name
}

// Gradient returns d(sum of target)/d(source) for each source, as
// tape.gradient(target, sources). Where TensorFlow's tape returns None for a
// source that target does not depend on, Gradient returns zeros of the
// source's shape. The gradient with respect to a *Variable counts every use
// of it: its value (Value) and ops that read its handle, such as an
// embedding lookup's ResourceGather; with respect to v.Value() it counts
// only that read, as in Python. It fails, naming the source, for an
// unwatched tensor, a non-trainable variable or a non-float dtype, and,
// naming the op's type and name, for an op on the path whose gradient is
// neither in TensorFlow's C++ registry nor registered in Go.
func (t *Tape) Gradient(target Output, sources ...Source) ([]Output, error) {
	if t == nil || t.g == nil {
		return nil, fmt.Errorf("tfwrap: gradient: nil tape")
	}
	g := t.g
	if err := g.Err(); err != nil {
		return nil, err
	}
	if !g.check("Gradient", target) {
		return nil, g.Err()
	}
	if !target.DType().IsFloat() {
		return nil, fmt.Errorf("tfwrap: gradient: target %s is %v; it must be float", target.Name(), target.DType())
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("tfwrap: gradient: no sources given")
	}
	xs := make([]tf.Output, len(sources))
	starts := make([]tf.Output, len(sources))
	reads := map[string]bool{}
	for i, s := range sources {
		if s == nil {
			return nil, fmt.Errorf("tfwrap: gradient: source %d is nil", i)
		}
		x, name := s.gradSource()
		if !x.Valid() {
			return nil, fmt.Errorf("tfwrap: gradient: source %d (%s) is not valid", i, name)
		}
		if x.st != g.st {
			return nil, fmt.Errorf("tfwrap: gradient: source %d (%s) belongs to another graph", i, name)
		}
		if v, isVar := g.st.varRead[x.out]; isVar {
			if !v.trainable && !t.watched[x.out] {
				return nil, fmt.Errorf("tfwrap: gradient: %s is not trainable and not watched", name)
			}
		} else if !t.watched[x.out] {
			return nil, fmt.Errorf("tfwrap: gradient: source %d (%s) is not watched; call Tape.Watch on it first", i, name)
		}
		if !x.DType().IsFloat() {
			return nil, fmt.Errorf("tfwrap: gradient: source %d (%s) is %v; it must be float", i, name, x.DType())
		}
		xs[i], starts[i] = x.out, x.out
		if v, isVar := s.(*Variable); isVar {
			// Through its handle, so that ops reading the variable
			// themselves (ResourceGather) count too.
			starts[i] = v.handle
			reads[x.out.Op.Name()] = true
		}
	}
	// A source listed twice gets the same gradient twice (TF_AddGradients
	// would leave the second one empty).
	first := map[tf.Output]int{}
	var unique []Source
	var at []int
	for i, x := range xs {
		if j, dup := first[x]; dup {
			at = append(at, j)
			continue
		}
		first[x] = len(unique)
		at = append(at, len(unique))
		unique = append(unique, sources[i])
	}
	if len(unique) < len(sources) {
		grads, err := t.Gradient(target, unique...)
		if err != nil {
			return nil, err
		}
		out := make([]Output, len(sources))
		for i, j := range at {
			out[i] = grads[j]
		}
		return out, nil
	}
	plan := newGradPlan(starts, target.out)
	if plan.cppOnly(reads) {
		out, err := t.cppGradient(target, xs)
		if err == nil {
			return out, nil
		}
		// TF_AddGradients also walks integer edges, where an op without
		// a gradient carries none; backprop skips those.
	}
	gv := g.under(g.fullName("gradients"))
	out, err := backprop(gv, plan, starts, target.out)
	if err != nil {
		return nil, fmt.Errorf("tfwrap: gradient of %s: %w", target.Name(), err)
	}
	for i, o := range out {
		if !o.Valid() {
			if out[i] = gv.add1("ZerosLike", "ZerosLike", []tf.Input{xs[i]}, nil); !out[i].Valid() {
				return nil, g.Err()
			}
		}
	}
	return out, nil
}

// cppGradient differentiates target with respect to xs with one call to
// TF_AddGradients, for paths on which every op has a C++ gradient.
func (t *Tape) cppGradient(target Output, xs []tf.Output) ([]Output, error) {
	g := t.g
	// TF_AddGradients rejects sources the target does not depend on; those
	// get zeros, the rest TF's gradients.
	var reach []tf.Output
	var reachIdx []int
	out := make([]Output, len(xs))
	for i, x := range xs {
		if reaches(x, target.out.Op) {
			reach = append(reach, x)
			reachIdx = append(reachIdx, i)
			continue
		}
		if out[i] = g.add1("ZerosLike", "ZerosLike", []tf.Input{x}, nil); !out[i].Valid() {
			return nil, g.Err()
		}
	}
	if len(reach) == 0 {
		return out, nil
	}
	prefix := g.fullName("gradients")
	dys, err := g.st.g.AddGradients(prefix, []tf.Output{target.out}, reach, nil)
	if err != nil {
		return nil, fmt.Errorf("tfwrap: gradient of %s: %v", target.Name(), err)
	}
	for j, d := range dys {
		i := reachIdx[j]
		if d.Op == nil {
			return nil, fmt.Errorf("tfwrap: gradient of %s: TensorFlow returned no gradient for source %d", target.Name(), i)
		}
		out[i] = Output{st: g.st, out: d}
	}
	return out, nil
}

// reaches reports whether target's op consumes x, directly or not.
func reaches(x tf.Output, target *tf.Operation) bool {
	seen := map[string]bool{}
	stack := []*tf.Operation{x.Op}
	first := true
	for len(stack) > 0 {
		op := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if op.Name() == target.Name() {
			return true
		}
		var outs []tf.Output
		if first {
			outs, first = []tf.Output{x}, false
		} else {
			for k := 0; k < op.NumOutputs(); k++ {
				outs = append(outs, op.Output(k))
			}
		}
		for _, o := range outs {
			for _, c := range o.Consumers() {
				if n := c.Op.Name(); !seen[n] {
					seen[n] = true
					stack = append(stack, c.Op)
				}
			}
		}
	}
	return false
}
