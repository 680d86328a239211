package tfwrap

import (
	"math/rand"
	"testing"

	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/tfgo-project/gotf/internal/pyref"
)

// The expressions mirror scripts/reference/gradient.py.
var gradExprs = map[string]func(g *Graph, x Output) Output{
	"mixed": func(g *Graph, x Output) Output {
		one := g.Scalar(1, Float64)
		num := g.Sum(g.Add(g.Mul(g.Square(x), g.Exp(g.Neg(x))), g.Mul(g.Tanh(x), g.Sin(x))))
		return g.Div(num, g.Add(one, g.Sum(g.Square(x))))
	},
	"sigmoid_log": func(g *Graph, x Output) Output {
		one := g.Scalar(1, Float64)
		return g.Add(g.Mean(g.Mul(g.Sigmoid(x), g.Log(g.Add(one, g.Square(x))))), g.Max(x))
	},
	"relu_pow": func(g *Graph, x Output) Output {
		a := g.Sum(g.Mul(g.Sqrt(g.Add(g.Abs(x), g.Scalar(1, Float64))), g.Relu(g.Sub(x, g.Scalar(0.5, Float64)))))
		b := g.Sum(g.Pow(g.Maximum(x, g.Scalar(0.2, Float64)), g.Scalar(3, Float64)))
		return g.Sub(a, b)
	},
}

// TestGradientMatchesPython takes gradients of nonlinear expressions of a
// watched constant in Go and in Python TensorFlow's GradientTape.
func TestGradientMatchesPython(t *testing.T) {
	x0 := []float64{-1.5, -0.3, 0.1, 0.7, 1.9, 3.2}
	var names []string
	for name := range gradExprs {
		names = append(names, name)
	}
	var refs map[string]struct {
		Value float64   `json:"value"`
		Grad  []float64 `json:"grad"`
	}
	if err := pyref.Run("gradient.py", map[string]any{"x": x0, "exprs": names}, &refs); err != nil {
		t.Fatal(err)
	}
	for name, f := range gradExprs {
		t.Run(name, func(t *testing.T) {
			g := NewGraph()
			x := g.Const(mustTensor(t, x0))
			tape := g.GradientTape()
			tape.Watch(x)
			y := f(g, x)
			grads, err := tape.Gradient(y, x)
			if err != nil {
				t.Fatal(err)
			}
			res := run(t, g, nil, y, grads[0])
			ref, ok := refs[name]
			if !ok {
				t.Fatalf("no Python reference for %s", name)
			}
			assertClose(t, "value", floats(t, res[0]), []float64{ref.Value}, 1e-12)
			assertClose(t, "gradient", floats(t, res[1]), ref.Grad, 1e-10)
		})
	}
}

func TestGradientOfVariables(t *testing.T) {
	g := NewGraph()
	w := g.Variable("w", mustTensor(t, []float32{1, 2, 3}))
	b := g.Variable("b", Scalar(float32(0.5)))
	// loss = sum((w*x + b)^2), x = (1, 1, 2): dloss/dw = 2(wx+b)x, dloss/db = 2 sum(wx+b).
	x := g.Const(mustTensor(t, []float32{1, 1, 2}))
	loss := g.Sum(g.Square(g.Add(g.Mul(w.Value(), x), b.Value())))
	grads, err := g.GradientTape().Gradient(loss, w, b)
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, g, nil, grads...)
	assertClose(t, "dw", floats(t, res[0]), []float64{3, 5, 26}, 1e-6)
	assertClose(t, "db", floats(t, res[1]), []float64{2 * (1.5 + 2.5 + 6.5)}, 1e-6)
}

// A source listed twice gets its gradient twice (TF_AddGradients alone
// leaves the second empty, and reading its shape crashed).
func TestGradientDuplicateSource(t *testing.T) {
	g := NewGraph()
	w := g.Variable("w", mustTensor(t, []float32{1, 2, 3}))
	b := g.Variable("b", Scalar(float32(0.5)))
	x := g.Const(mustTensor(t, []float32{1, 1, 2}))
	loss := g.Sum(g.Square(g.Add(g.Mul(w.Value(), x), b.Value())))
	grads, err := g.GradientTape().Gradient(loss, w, b, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(grads) != 3 || grads[2].Shape() == nil {
		t.Fatalf("gradients %v", grads)
	}
	res := run(t, g, nil, grads...)
	assertClose(t, "dw", floats(t, res[0]), []float64{3, 5, 26}, 1e-6)
	assertClose(t, "dw again", floats(t, res[2]), []float64{3, 5, 26}, 1e-6)
	assertClose(t, "db", floats(t, res[1]), []float64{2 * (1.5 + 2.5 + 6.5)}, 1e-6)
}

func TestGradientUnreachableIsZero(t *testing.T) {
	g := NewGraph()
	w := g.Variable("w", mustTensor(t, []float32{1, 2}))
	unused := g.Variable("unused", mustTensor(t, []float32{1, 2, 3}))
	grads, err := g.GradientTape().Gradient(g.Sum(w.Value()), w, unused)
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, g, nil, grads...)
	assertClose(t, "unused", floats(t, res[1]), []float64{0, 0, 0}, 0)
}

func TestGradientBadInput(t *testing.T) {
	tests := []struct {
		name string
		grad func(g *Graph) error
		want string
	}{
		{"unwatched constant", func(g *Graph) error {
			x := g.Scalar(2, Float32)
			_, err := g.GradientTape().Gradient(g.Square(x), x)
			return err
		}, "not watched"},
		{"frozen variable", func(g *Graph) error {
			v := g.Variable("v", Scalar(float32(1)), NotTrainable())
			_, err := g.GradientTape().Gradient(g.Square(v.Value()), v)
			return err
		}, "not trainable"},
		{"integer target", func(g *Graph) error {
			x := g.Scalar(2, Int32)
			tape := g.GradientTape()
			tape.Watch(x)
			_, err := tape.Gradient(g.Square(x), x)
			return err
		}, "must be float"},
		{"no sources", func(g *Graph) error {
			_, err := g.GradientTape().Gradient(g.Scalar(1, Float32))
			return err
		}, "no sources"},
		{"nil source", func(g *Graph) error {
			_, err := g.GradientTape().Gradient(g.Scalar(1, Float32), nil)
			return err
		}, "source 0 is nil"},
		{"invalid target", func(g *Graph) error {
			_, err := g.GradientTape().Gradient(Output{}, g.Scalar(1, Float32))
			return err
		}, "not a valid Output"},
		{"foreign source", func(g *Graph) error {
			x := NewGraph().Scalar(1, Float32)
			_, err := g.GradientTape().Gradient(g.Scalar(1, Float32), x)
			return err
		}, "another graph"},
		{"no registered gradient", func(g *Graph) error {
			x := g.Const(mustTensor(t, []float32{1, 2}))
			tape := g.GradientTape()
			tape.Watch(x)
			y := g.Cast(g.Cast(g.Mul(x, x), Int32), Float32) // Cast via int has no float gradient
			// Digamma's gradient is Python-only and not written in Go.
			y = g.Add(y, g.WithScope("block").add1("Digamma", "Digamma", []tf.Input{x.out}, nil))
			_, err := tape.Gradient(g.Sum(y), x)
			return err
		}, `no gradient defined for op type "Digamma" (op "block/Digamma")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.grad(NewGraph()), tt.want) })
	}
	var nilTape *Tape
	if _, err := nilTape.Gradient(Output{}); err == nil {
		t.Fatal("nil tape gave no error")
	}
}

func TestRegisterGradient(t *testing.T) {
	const typ = "Dawsn" // gradient in Python only; nothing else here uses it
	if HasCppGradient(typ) || goGradient(typ) != nil {
		t.Fatalf("%s already has a gradient; pick another op for this test", typ)
	}
	scaled := func(g *Graph, op *Op, dys []Output) ([]Output, error) {
		return []Output{g.Mul(dys[0], g.Scalar(7, op.Input(0).DType()))}, nil
	}
	for _, tt := range []struct {
		name, typ string
		fn        GradFunc
		want      string
	}{
		{"empty type", "", scaled, "empty op type"},
		{"nil function", typ, nil, "nil gradient function"},
		{"C++ has one", "MatMul", scaled, "C++ registry already has"},
		{"tfwrap has one", "SparseSoftmaxCrossEntropyWithLogits", scaled, "already registered"},
	} {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, RegisterGradient(tt.typ, tt.fn), tt.want) })
	}
	if err := RegisterGradient(typ, scaled); err != nil {
		t.Fatal(err)
	}
	wantErr(t, RegisterGradient(typ, scaled), "already registered")
	// The registered function is the one Tape uses.
	g := NewGraph()
	x := g.Const(mustTensor(t, []float64{0.5, -1}))
	tape := g.GradientTape()
	tape.Watch(x)
	grads, err := tape.Gradient(g.Sum(g.Mul(gop(g, typ, nil, x), x)), x)
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, g, nil, grads[0], gop(g, typ, nil, x))
	d := floats(t, res[1])
	assertClose(t, "gradient", floats(t, res[0]), []float64{7*0.5 + d[0], 7*-1 + d[1]}, 1e-12)
}

// TestGradientMixedPathTrains trains embedding lookup (ResourceGather,
// Go gradient) -> dense (C++) -> sparse softmax cross-entropy (Go) with
// plain gradient descent: the loss must fall.
func TestGradientMixedPathTrains(t *testing.T) {
	g := NewGraph()
	r := rand.New(rand.NewSource(3))
	init := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 0.3)
		}
		return v
	}
	emb := g.Variable("emb", mustTensor(t, init(10*4), 10, 4))
	w := g.Variable("w", mustTensor(t, init(4*3), 4, 3))
	b := g.Variable("b", mustTensor(t, make([]float32, 3), 3))
	ids := g.Const(mustTensor(t, []int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10))
	labels := g.Const(mustTensor(t, []int32{0, 1, 2, 0, 1, 2, 0, 1, 2, 0}, 10))
	e := gop(g, "ResourceGather", map[string]any{"dtype": tf.Float}, emb.Handle(), ids)
	logits := g.BiasAdd(g.MatMul(e, w.Value()), b.Value())
	xent := g.add("SparseSoftmaxCrossEntropyWithLogits", "xent", []tf.Input{logits.out, labels.out}, nil)
	if xent == nil {
		t.Fatal(g.Err())
	}
	loss := g.Mean(Output{st: g.st, out: xent.Output(0)})
	vars := []*Variable{emb, w, b}
	grads, err := g.GradientTape().Gradient(loss, emb, w, b)
	if err != nil {
		t.Fatal(err)
	}
	lr := g.Scalar(0.5, Float32)
	var steps []*Op
	for i, v := range vars {
		steps = append(steps, g.ApplyGradientDescent(v, lr, grads[i]))
	}
	step := g.Group("step", steps...)
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.InitVariables(); err != nil {
		t.Fatal(err)
	}
	lossAt := func() float64 {
		v, err := s.Eval(loss, nil)
		if err != nil {
			t.Fatal(err)
		}
		return floats(t, v)[0]
	}
	first := lossAt()
	for i := 0; i < 100; i++ {
		if _, err := s.Run(nil, nil, step); err != nil {
			t.Fatal(err)
		}
	}
	if last := lossAt(); !(last < first/4) {
		t.Fatalf("loss went from %.4f to %.4f; want it to fall below a quarter", first, last)
	}
}

func TestGradientCoverage(t *testing.T) {
	ops, err := FloatOpTypes()
	if err != nil {
		t.Fatal(err)
	}
	has := map[string]bool{}
	for _, op := range ops {
		has[op] = true
	}
	for _, tt := range []struct {
		op    string
		float bool
		src   GradientSource
	}{
		{"MatMul", true, GradientCpp},
		{"SparseSoftmaxCrossEntropyWithLogits", true, GradientGo},
		{"Digamma", true, GradientMissing},
		{"Shape", true, GradientCpp}, // declared not differentiable in C++
		{"ResourceGather", false, GradientGo},
		{"StringJoin", false, GradientMissing},
	} {
		if has[tt.op] != tt.float {
			t.Errorf("FloatOpTypes has %s: %v, want %v", tt.op, has[tt.op], tt.float)
		}
		if got := GradientOf(tt.op); got != tt.src {
			t.Errorf("GradientOf(%s) = %v, want %v", tt.op, got, tt.src)
		}
	}
}

// A frozen embedding table: ResourceGather's gradient for its handle is
// computed but flows nowhere, and the trainable weight still gets its own.
func TestGradientFrozenEmbedding(t *testing.T) {
	g := NewGraph()
	emb := g.Variable("emb", mustTensor(t, []float32{1, 2, 3, 4, 5, 6}, 3, 2), NotTrainable())
	w := g.Variable("w", mustTensor(t, []float32{0.5, -1}, 2, 1))
	e := gop(g, "ResourceGather", map[string]any{"dtype": tf.Float}, emb.Handle(), g.Const(mustTensor(t, []int32{2, 0}, 2)))
	loss := g.Sum(g.MatMul(e, w.Value()))
	grads, err := g.GradientTape().Gradient(loss, w)
	if err != nil {
		t.Fatal(err)
	}
	// d/dw = column sums of the gathered rows (5, 6) + (1, 2).
	assertClose(t, "dw", floats(t, run(t, g, nil, grads[0])[0]), []float64{6, 8}, 1e-6)
}
