package tfwrap

import (
	"math"
	"testing"
)

func TestMathOps(t *testing.T) {
	g := NewGraph()
	a := g.Const(mustTensor(t, []float32{1, -2, 3, -4, 5, -6}, 2, 3))
	row := g.Const(mustTensor(t, []float32{10, 20, 30}))
	m := g.Const(mustTensor(t, []float32{1, 0, 0, 1, 1, 1}, 3, 2))
	outs := []struct {
		name string
		out  Output
		want []float64
	}{
		{"add broadcast", g.Add(a, row), []float64{11, 18, 33, 6, 25, 24}},
		{"sub", g.Sub(row, a), []float64{9, 22, 27, 14, 15, 36}},
		{"mul scalar", g.Mul(a, g.Scalar(2, Float32)), []float64{2, -4, 6, -8, 10, -12}},
		{"div", g.Div(row, g.Scalar(10, Float32)), []float64{1, 2, 3}},
		{"maximum", g.Maximum(g.Scalar(0, Float32), a), []float64{1, 0, 3, 0, 5, 0}},
		{"minimum", g.Minimum(a, g.Scalar(0, Float32)), []float64{0, -2, 0, -4, 0, -6}},
		{"relu", g.Relu(a), []float64{1, 0, 3, 0, 5, 0}},
		{"neg abs", g.Neg(g.Abs(a)), []float64{-1, -2, -3, -4, -5, -6}},
		{"square", g.Square(row), []float64{100, 400, 900}},
		{"matmul", g.MatMul(a, m), []float64{4, 1, -10, -1}},
		{"matmul transposed", g.MatMulT(m, a, true, true), []float64{4, -10, 1, -1}},
		{"sum all", g.Sum(a), []float64{-3}},
		{"sum axis 0", g.Sum(a, 0), []float64{-3, 3, -3}},
		{"mean axis -1", g.Mean(a, -1), []float64{2.0 / 3, -5.0 / 3}},
		{"mean keepdims", g.MeanKeepDims(a, 1), []float64{2.0 / 3, -5.0 / 3}},
		{"max", g.Max(a, 1), []float64{3, 5}},
		{"min", g.Min(a), []float64{-6}},
		{"cast to int", g.Cast(g.Div(row, g.Scalar(7, Float32)), Int32), []float64{1, 2, 4}},
		{"reshape", g.Reshape(a, 3, -1), []float64{1, -2, 3, -4, 5, -6}},
		{"exp log", g.Log(g.Exp(row)), []float64{10, 20, 30}},
		{"sqrt pow", g.Sqrt(g.Pow(row, g.Scalar(2, Float32))), []float64{10, 20, 30}},
		{"tanh", g.Tanh(g.Scalar(0.5, Float32)), []float64{math.Tanh(0.5)}},
		{"sigmoid", g.Sigmoid(g.Scalar(0.5, Float32)), []float64{1 / (1 + math.Exp(-0.5))}},
		{"sin cos", g.Add(g.Square(g.Sin(a)), g.Square(g.Cos(a))), []float64{1, 1, 1, 1, 1, 1}},
		{"equal", g.Equal(a, g.Neg(g.Neg(a))), []float64{1, 1, 1, 1, 1, 1}},
		{"int div", g.Div(g.Scalar(7, Int32), g.Scalar(2, Int32)), []float64{3}},
	}
	var fetch []Output
	for _, o := range outs {
		fetch = append(fetch, o.out)
	}
	res := run(t, g, nil, fetch...)
	for i, o := range outs {
		assertClose(t, o.name, floats(t, res[i]), o.want, 1e-6)
	}
	if got := g.MeanKeepDims(a, 1).Shape(); len(got) != 2 || got[1] != 1 {
		t.Fatalf("keepdims shape %v", got)
	}
	if got := g.Reshape(a, 3, -1).Shape(); got[0] != 3 || got[1] != 2 {
		t.Fatalf("reshape shape %v", got)
	}
}

func TestPlaceholderFeed(t *testing.T) {
	g := NewGraph()
	x := g.Placeholder("x", Float32, -1, 2)
	y := g.Sum(g.Mul(x, x), 1)
	if s := x.Shape(); len(s) != 2 || s[0] != -1 || s[1] != 2 {
		t.Fatalf("placeholder shape %v", s)
	}
	res := run(t, g, Feeds{x: mustTensor(t, []float32{1, 2, 3, 4, 5, 6}, 3, 2)}, y)
	assertClose(t, "sum of squares", floats(t, res[0]), []float64{5, 25, 61}, 0)
	if x.Name() != "x:0" || y.Rank() != 1 || x.DType() != Float32 {
		t.Fatalf("name %s rank %d dtype %v", x.Name(), y.Rank(), x.DType())
	}
}

// Each bad builder call records an error naming the problem; the graph then
// refuses to start a session.
func TestGraphBadInput(t *testing.T) {
	other := NewGraph()
	foreign := other.Scalar(1, Float32)
	tests := []struct {
		name  string
		build func(g *Graph)
		want  string
	}{
		{"dtype mismatch", func(g *Graph) { g.Add(g.Scalar(1, Float32), g.Scalar(1, Int32)) }, "dtype mismatch"},
		{"broadcast mismatch", func(g *Graph) {
			g.Add(g.Const(mustTensor(t, []float32{1, 2, 3})), g.Const(mustTensor(t, []float32{1, 2})))
		}, "cannot be broadcast"},
		{"matmul inner dims", func(g *Graph) {
			a := g.Const(mustTensor(t, []float32{1, 2, 3, 4, 5, 6}, 2, 3))
			g.MatMul(a, a)
		}, "inner dimensions 3 and 2 differ"},
		{"matmul rank", func(g *Graph) { g.MatMul(g.Scalar(1, Float32), g.Scalar(1, Float32)) }, "rank 2"},
		{"matmul dtype", func(g *Graph) {
			g.MatMul(g.Const(mustTensor(t, []float32{1}, 1, 1)), g.Const(mustTensor(t, []float64{1}, 1, 1)))
		}, "dtype mismatch"},
		{"zero output", func(g *Graph) { g.Neg(Output{}) }, "not a valid Output"},
		{"foreign output", func(g *Graph) { g.Neg(foreign) }, "another graph"},
		{"float-only op on int", func(g *Graph) { g.Exp(g.Scalar(1, Int32)) }, "needs a float input"},
		{"nil const", func(g *Graph) { g.Const(nil) }, "nil tensor"},
		{"bad axis", func(g *Graph) { g.Sum(g.Const(mustTensor(t, []float32{1, 2})), 1) }, "out of range"},
		{"repeated axis", func(g *Graph) { g.Mean(g.Const(mustTensor(t, []float32{1, 2}, 1, 2)), 0, -2) }, "repeated"},
		{"bad reshape", func(g *Graph) { g.Reshape(g.Const(mustTensor(t, []float32{1, 2, 3})), 2, -1) }, "cannot reshape"},
		{"bad cast", func(g *Graph) { g.Cast(g.Scalar(1, Float32), String) }, "cannot cast"},
		{"bad placeholder dtype", func(g *Graph) { g.Placeholder("p", DType(99), 1) }, "unsupported dtype"},
		{"bad placeholder dim", func(g *Graph) { g.Placeholder("p", Float32, -3) }, "use -1 for unknown"},
		{"bad placeholder name", func(g *Graph) { g.Placeholder("a b", Float32) }, "invalid name"},
		{"bad scalar dtype", func(g *Graph) { g.Scalar(1, Bool) }, "unsupported dtype"},
		{"bad scope", func(g *Graph) { g.WithScope("a:b") }, "invalid name scope"},
		{"after nil", func(g *Graph) { g.After(nil) }, "nil or from another graph"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGraph()
			tt.build(g)
			wantErr(t, g.Err(), tt.want)
			_, err := g.NewSession()
			wantErr(t, err, tt.want)
			// Later calls are no-ops that keep the first error.
			if out := g.Add(g.Scalar(1, Float32), g.Scalar(2, Float32)); out.Valid() {
				t.Fatal("builder still adds ops after an error")
			}
			wantErr(t, g.Err(), tt.want)
		})
	}
	var nilG *Graph
	if nilG.Err() == nil {
		t.Fatal("nil graph reports no error")
	}
}

func TestScopesAndNames(t *testing.T) {
	g := NewGraph()
	d := g.WithScope("dense")
	a := d.Identity("out", g.Scalar(1, Float32))
	b := d.Identity("out", g.Scalar(1, Float32))
	c := g.WithScope("dense").Identity("out", g.Scalar(1, Float32))
	if a.Name() != "dense/out:0" || b.Name() != "dense/out_1:0" || c.Name() != "dense_1/out:0" {
		t.Fatalf("names: %s %s %s", a.Name(), b.Name(), c.Name())
	}
	if Output.String(Output{}) != "Output(<invalid>)" || a.String() != "Output(dense/out:0, shape=(), dtype=float32)" {
		t.Fatalf("String: %s", a)
	}
}

// A second variable of the same name is an error, not a silent rename
// (checkpoints and SavedModels key variables by name).
func TestDuplicateVariableName(t *testing.T) {
	g := NewGraph()
	g.Variable("w", Scalar(float32(1)))
	g.WithScope("block").Variable("w", Scalar(float32(1))) // another scope: fine
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	g.Variable("w", Scalar(float32(2)))
	wantErr(t, g.Err(), `a variable named "w" exists already`)

	g2 := NewGraph()
	g2.Placeholder("x", Float32)
	g2.Variable("x", Scalar(float32(1)))
	wantErr(t, g2.Err(), `the name "x" is taken by a Placeholder op`)
}
