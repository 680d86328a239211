package tfwrap

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"
)

// Interop with the Go bindings (github.com/galeone/tensorflow/tensorflow/go,
// imported as tf) and with what is built on them: the bindings' generated
// op package, which wraps every op of its TensorFlow release, and tfgo.
// Graphs, operations and sessions are shared with the bindings; tensors
// cross by copy (WrapTensor, Tensor.TF), since a tfwrap Tensor lives in Go
// memory and a bindings tensor in C memory freed by a finalizer.

// opMirror mirrors the bindings' Operation: its C pointer, then its graph.
type opMirror struct {
	c unsafe.Pointer
	g *tf.Graph
}

var _ = [1]struct{}{}[unsafe.Sizeof(tf.Operation{})-unsafe.Sizeof(opMirror{})]

// graphOf returns the bindings' graph an operation belongs to.
func graphOf(op *tf.Operation) *tf.Graph { return (*opMirror)(unsafe.Pointer(op)).g }

// WrapGraph returns a tfwrap Graph over an existing graph of the bindings
// (one built with the op package or tfgo, or imported), sharing it: ops
// added through either appear in both. Variables created outside tfwrap
// are not in Variables. A nil graph gives a Graph whose Err says so.
func WrapGraph(g *tf.Graph) *Graph {
	st := &graphState{g: g, names: map[string]int{}, varRead: map[tf.Output]*Variable{}}
	if g == nil {
		st.g = tf.NewGraph()
		st.err = fmt.Errorf("tfwrap: WrapGraph: nil graph")
	}
	return &Graph{st: st}
}

// TF returns the bindings' graph under g, shared, for code written against
// the bindings or tfgo.
func (g *Graph) TF() *tf.Graph {
	if g == nil || g.st == nil {
		return nil
	}
	return g.st.g
}

// TF returns the bindings' Output under o.
func (o Output) TF() tf.Output { return o.out }

// TF returns the bindings' Operation under o, or nil.
func (o *Op) TF() *tf.Operation {
	if o == nil {
		return nil
	}
	return o.op
}

// FromTF adopts an output of the bindings that belongs to g's graph (built
// through Scope, the op package or tfgo). An output of another graph, or
// of none, is recorded as g's error and gives an invalid Output.
func (g *Graph) FromTF(o tf.Output) Output {
	if g == nil || g.st == nil || g.syncErr() != nil {
		return Output{}
	}
	if o.Op == nil {
		g.failf("FromTF: the output has no op (zero value, or from a failed op-package call)")
		return Output{}
	}
	if graphOf(o.Op) != g.st.g {
		g.failf("FromTF: %s belongs to another graph", o.Op.Name())
		return Output{}
	}
	if o.Index < 0 || o.Index >= o.Op.NumOutputs() {
		g.failf("FromTF: %s has no output %d", o.Op.Name(), o.Index)
		return Output{}
	}
	return Output{st: g.st, out: o}
}

// FromTFOp adopts an operation of the bindings that belongs to g's graph.
func (g *Graph) FromTFOp(o *tf.Operation) *Op {
	if g == nil || g.st == nil || g.syncErr() != nil {
		return nil
	}
	if o == nil || graphOf(o) != g.st.g {
		g.failf("FromTFOp: the operation is nil or belongs to another graph")
		return nil
	}
	return &Op{st: g.st, op: o}
}

// Scope returns a scope of the bindings' op package over g's graph, so
// every op of the package's generated wrappers (and tfgo's helpers, which
// take a scope) builds into g:
//
//	s := g.Scope()
//	y := g.FromTF(op.Transpose(s, x.TF(), perm.TF()))
//
// Its ops are named under "op/" (below the view's name scope) with the
// view's device and After ops. The first error of any scope of g becomes
// g's error (Err), and once g has one, the scopes build nothing more.
// Mind that the op package was generated for an older TensorFlow than the
// one loaded: a wrapper of an op or attr TensorFlow has since removed
// fails with an error. AddOp reaches every op of the loaded library.
func (g *Graph) Scope() *op.Scope {
	if g == nil || g.st == nil {
		return op.NewScope()
	}
	if g.st.scope == nil {
		g.st.scope = op.NewScopeWithGraph(g.st.g)
	}
	s := g.st.scope.SubScope(g.fullName("op"))
	if g.device != "" {
		s = s.WithDevice(g.device)
	}
	if len(g.deps) > 0 {
		s = s.WithControlDependencies(g.deps...)
	}
	if g.st.err != nil {
		s.UpdateErr("tfwrap", g.st.err)
	}
	return s
}

// ErrPanic is wrapped by the error Build records when its function
// panics: tfgo reports every error by panicking, and the op package panics
// on some misuse. Test with errors.Is.
var ErrPanic = errors.New("panic")

// Build is the boundary for code that panics on error, tfgo above all: it
// runs fn with a scope over g (Scope) and adopts the output fn returns
// (FromTF). A panic inside fn, from tfgo's checks, the op package or fn
// itself, is recovered and recorded as g's error, which wraps ErrPanic
// (and the panic value when that is an error) and names the function that
// panicked; Build then returns an invalid Output. An error the scope
// records without panicking becomes g's error as with Scope.
//
//	y := g.Build(func(s *op.Scope) tf.Output {
//		return tg.NewTensor(s, x.TF()).MatMul(w.TF()).Add(b.TF()).Output
//	})
//	if err := g.Err(); err != nil { ... }
//
// Other outputs fn makes can be adopted with FromTF after Build returns.
// When g already has an error, fn is not run. Ops fn added before a panic
// stay in the graph, unused. A panic in a goroutine fn starts is not
// recovered. Like every builder, Build is not safe for concurrent use.
func (g *Graph) Build(fn func(s *op.Scope) tf.Output) Output {
	if g == nil || g.st == nil || g.syncErr() != nil {
		return Output{}
	}
	if fn == nil {
		g.failf("Build: nil function")
		return Output{}
	}
	out, err := guard(func() tf.Output { return fn(g.Scope()) })
	if err != nil {
		if g.st.err == nil { // the panic names the cause better than the scope's error
			g.st.err = err
		}
		return Output{}
	}
	return g.FromTF(out)
}

// guard calls fn and turns a panic in it into an error.
func guard(fn func() tf.Output) (out tf.Output, err error) {
	defer func() {
		if r := recover(); r != nil {
			site := panicSite()
			if e, ok := r.(error); ok {
				err = fmt.Errorf("tfwrap: Build: %w in %s: %w", ErrPanic, site, e)
			} else {
				err = fmt.Errorf("tfwrap: Build: %w in %s: %s", ErrPanic, site, withoutStack(fmt.Sprint(r)))
			}
			out = tf.Output{}
		}
	}()
	return fn(), nil
}

// panicSite names the function that panicked, as pkg.Func (file:line), from
// inside the deferred function that recovers: the first frame below
// runtime.gopanic that is not the runtime's own.
func panicSite() string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	below := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			below = true
		case below && !strings.HasPrefix(f.Function, "runtime."):
			name := f.Function
			if i := strings.LastIndex(name, "/"); i >= 0 {
				name = name[i+1:]
			}
			return fmt.Sprintf("%s (%s:%d)", name, filepath.Base(f.File), f.Line)
		}
		if !more {
			return "an unknown function"
		}
	}
}

// withoutStack cuts the goroutine dump the op package appends to every
// error it records (op.Scope.UpdateErr), which tfgo's panics repeat.
func withoutStack(msg string) string {
	if i := strings.Index(msg, " (Stacktrace: "); i >= 0 {
		return msg[:i]
	}
	return msg
}

// syncErr folds the first error of g's op scopes into g's own and returns
// g's error.
func (g *Graph) syncErr() error {
	st := g.st
	if st.err == nil && st.scope != nil {
		if err := st.scope.Err(); err != nil {
			st.err = fmt.Errorf("tfwrap: op scope: %s", withoutStack(err.Error()))
		}
	}
	return st.err
}

// WrapSession adopts a session of the bindings over g's graph (WrapGraph
// it first if it was built outside tfwrap). The Session then owns it:
// Session.Close closes it, and it must not be closed elsewhere.
func WrapSession(s *tf.Session, g *Graph) (*Session, error) {
	if s == nil {
		return nil, fmt.Errorf("tfwrap: WrapSession: nil session")
	}
	if g == nil || g.st == nil {
		return nil, fmt.Errorf("tfwrap: WrapSession: nil graph")
	}
	if err := g.syncErr(); err != nil {
		return nil, err
	}
	return &Session{s: s, st: g.st}, nil
}

// TF returns the bindings' session under s, shared: it stays owned by s.
func (s *Session) TF() *tf.Session {
	if s == nil {
		return nil
	}
	return s.s
}
