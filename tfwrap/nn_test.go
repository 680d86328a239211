package tfwrap

import (
	"path/filepath"
	"testing"

	"github.com/tfgo-project/gotf/tfwrap/shape"
)

func TestNNBadInput(t *testing.T) {
	img := func(g *Graph) Output { return g.Placeholder("img", Float32, -1, 8, 8, 2) }
	vec := func(g *Graph) Output { return g.Const(mustTensor(t, []float32{1, 2, 3})) }
	tests := []struct {
		name  string
		build func(g *Graph)
		want  string
	}{
		{"conv channels", func(g *Graph) {
			g.Conv2D(img(g), g.Const(mustTensor(t, make([]float32, 27), 3, 3, 3, 1)), [2]int64{1, 1}, shape.Valid)
		}, "input has 2 channels, filter expects 3"},
		{"conv rank", func(g *Graph) { g.Conv2D(vec(g), vec(g), [2]int64{1, 1}, shape.Valid) }, "rank 4"},
		{"conv dtype", func(g *Graph) {
			g.Conv2D(img(g), g.Const(mustTensor(t, make([]float64, 18), 3, 3, 2, 1)), [2]int64{1, 1}, shape.Valid)
		}, "same float type"},
		{"conv stride", func(g *Graph) {
			g.Conv2D(img(g), g.Const(mustTensor(t, make([]float32, 18), 3, 3, 2, 1)), [2]int64{0, 1}, shape.Valid)
		}, "must be positive"},
		{"pool too big", func(g *Graph) { g.MaxPool(img(g), [2]int64{9, 9}, [2]int64{1, 1}, shape.Valid) }, "smaller than the window"},
		{"pool rank", func(g *Graph) { g.AvgPool(vec(g), [2]int64{2, 2}, [2]int64{1, 1}, shape.Valid) }, "rank 4"},
		{"bias shape", func(g *Graph) { g.BiasAdd(img(g), vec(g)) }, "does not fit"},
		{"xent shapes", func(g *Graph) {
			g.SoftmaxCrossEntropy(g.Const(mustTensor(t, make([]float32, 6), 2, 3)), g.Const(mustTensor(t, make([]float32, 4), 2, 2)))
		}, "same (batch, classes) shape"},
		{"batchnorm rank", func(g *Graph) { v := vec(g); g.FusedBatchNorm(v, v, v, v, v, 1e-3, false) }, "NHWC"},
		{"onehot ids", func(g *Graph) { g.OneHot(vec(g), 3, Float32) }, "integer type"},
		{"onehot depth", func(g *Graph) { g.OneHot(g.Scalar(1, Int32), 0, Float32) }, "depth 0"},
		{"gather indices", func(g *Graph) { g.Gather(vec(g), vec(g)) }, "int32 or int64"},
		{"argmax axis", func(g *Graph) { g.ArgMax(vec(g), 2) }, "out of range"},
		{"slice dtype", func(g *Graph) { g.Slice(vec(g), g.Scalar(0, Int64), g.Scalar(1, Int32)) }, "int32"},
		{"random dtype", func(g *Graph) { g.RandomUniform(g.ShapeOf(vec(g)), Int32, 1, 1) }, "not float"},
		{"default shape", func(g *Graph) { g.PlaceholderWithDefault("p", vec(g), 4) }, "default has shape (3,)"},
		{"apply dtype", func(g *Graph) {
			v := g.Variable("v", mustTensor(t, []float32{1, 2, 3}))
			g.ApplyGradientDescent(v, g.Scalar(0.1, Float64), vec(g))
		}, "must be a float32 scalar"},
		{"apply grad shape", func(g *Graph) {
			v := g.Variable("v", mustTensor(t, []float32{1, 2}))
			g.ApplyGradientDescent(v, g.Scalar(0.1, Float32), vec(g))
		}, "gradient has shape (3,)"},
		{"apply slot shape", func(g *Graph) {
			v := g.Variable("v", mustTensor(t, []float32{1, 2, 3}))
			m := g.Variable("m", mustTensor(t, []float32{1, 2}))
			g.ApplyKerasMomentum(v, m, g.Scalar(0.1, Float32), vec(g), g.Scalar(0.9, Float32), false)
		}, "slot m"},
		{"saver empty", func(g *Graph) { g.NewSaver(nil, nil) }, "no variables"},
		{"saver keys", func(g *Graph) {
			v := g.Variable("v", Scalar(float32(1)))
			w := g.Variable("w", Scalar(float32(1)))
			g.NewSaver([]*Variable{v, w}, []string{"k", "k"})
		}, "repeated"},
		{"expand dims axis", func(g *Graph) { g.ExpandDims(vec(g), 3) }, "out of range"},
		{"stateless dtype", func(g *Graph) {
			g.StatelessRandomUniform(g.ShapeOf(vec(g)), g.Const(mustTensor(t, []int64{1, 2})), Int32)
		}, "not float"},
		{"stateless seed", func(g *Graph) {
			g.StatelessRandomUniform(g.ShapeOf(vec(g)), g.Const(mustTensor(t, []int64{1, 2, 3})), Float32)
		}, "int64 vector of 2"},
		{"check numerics input", func(g *Graph) { g.CheckNumerics(Output{}, "x") }, "not a valid Output"},
		{"variable declared shape", func(g *Graph) { g.Variable("v", mustTensor(t, []float32{1, 2}), WithShape(-1, 2)) }, "does not fit the declared shape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGraph()
			tt.build(g)
			wantErr(t, g.Err(), tt.want)
		})
	}
}

func TestTrainingKernels(t *testing.T) {
	g := NewGraph()
	v := g.Variable("v", mustTensor(t, []float32{1, 2}))
	m := g.Variable("m", mustTensor(t, []float32{0, 0}))
	grad := g.Const(mustTensor(t, []float32{0.5, -1}))
	sgd := g.ApplyGradientDescent(v, g.Scalar(0.1, Float32), grad)
	mom := g.ApplyKerasMomentum(v, m, g.Scalar(0.1, Float32), grad, g.Scalar(0.9, Float32), false)
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.InitVariables(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(nil, nil, sgd); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Value(v)
	assertClose(t, "sgd", floats(t, got), []float64{0.95, 2.1}, 1e-6)
	for i := 0; i < 2; i++ { // m = 0.9m - 0.1g; v += m
		if _, err := s.Run(nil, nil, mom); err != nil {
			t.Fatal(err)
		}
	}
	got, _ = s.Value(v)
	assertClose(t, "momentum", floats(t, got), []float64{0.95 - 0.05 - 0.095, 2.1 + 0.1 + 0.19}, 1e-6)
}

func TestSaverRoundTrip(t *testing.T) {
	g := NewGraph()
	a := g.Variable("a", mustTensor(t, []float32{1, 2, 3}))
	b := g.Variable("b", Scalar(int64(7)))
	sv := g.NewSaver([]*Variable{a, b}, nil)
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.InitVariables(); err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(t.TempDir(), "ckpt")
	if err := s.Save(sv, prefix); err != nil {
		t.Fatal(err)
	}
	if err := s.SetValue(a, mustTensor(t, []float32{9, 9, 9})); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(sv, prefix); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Value(a)
	assertClose(t, "restored", floats(t, got), []float64{1, 2, 3}, 0)
	if keys := sv.Keys(); len(keys) != 2 || keys[0] != "a" {
		t.Fatalf("keys %v", keys)
	}
	wantErr(t, s.Restore(sv, prefix+"-missing"), "no checkpoint")
	wantErr(t, s.Save(sv, "/nonexistent/dir/ckpt"), "does not exist")
	wantErr(t, s.Save(sv, ""), "empty")

	// A checkpoint whose tensor has another shape is an error, not a
	// variable of the wrong shape.
	g2 := NewGraph()
	a2 := g2.Variable("a", mustTensor(t, []float32{1, 2}))
	sv2 := g2.NewSaver([]*Variable{a2}, nil)
	s2, err := g2.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	wantErr(t, s2.Restore(sv2, prefix), "shape")
}

func TestRows(t *testing.T) {
	x := mustTensor(t, []int32{1, 2, 3, 4, 5, 6}, 3, 2)
	s, err := x.SliceRows(1, 3)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "slice", floats(t, s), []float64{3, 4, 5, 6}, 0)
	gth, err := x.GatherRows([]int{2, 0})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "gather", floats(t, gth), []float64{5, 6, 1, 2}, 0)
	c, err := ConcatRows(s, gth)
	if err != nil || c.Shape()[0] != 4 {
		t.Fatalf("concat: %v %v", c, err)
	}
	r, err := x.Reshaped(2, 3)
	if err != nil || r.Shape()[1] != 3 {
		t.Fatalf("reshaped: %v %v", r, err)
	}
	_, err = x.SliceRows(2, 4)
	wantErr(t, err, "out of range")
	_, err = x.GatherRows([]int{3})
	wantErr(t, err, "out of range")
	_, err = ConcatRows(x, mustTensor(t, []int32{1, 2, 3}, 1, 3))
	wantErr(t, err, "rows of shape")
	_, err = ConcatRows()
	wantErr(t, err, "no tensors")
	_, err = x.Reshaped(4, 2)
	wantErr(t, err, "cannot reshape")
	_, err = Scalar(int32(1)).SliceRows(0, 1)
	wantErr(t, err, "out of range")
	parts, err := x.SplitRows(Batches(3, 2)...)
	if err != nil || len(parts) != 2 {
		t.Fatalf("SplitRows: %v %v", parts, err)
	}
	assertClose(t, "split 0", floats(t, parts[0]), []float64{1, 2, 3, 4}, 0)
	assertClose(t, "split 1", floats(t, parts[1]), []float64{5, 6}, 0)
	_, err = x.SplitRows(2, 2)
	wantErr(t, err, "add up to 4 rows")
	_, err = x.SplitRows(4, -1)
	wantErr(t, err, "negative")
	if b := Batches(5, 2); len(b) != 3 || b[2] != 1 || Batches(0, 3) != nil {
		t.Fatalf("Batches = %v", b)
	}
}

func TestSummaryWriterBadInput(t *testing.T) {
	_, err := NewSummaryWriter("")
	wantErr(t, err, "empty log folder")
	w, err := NewSummaryWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Scalar("x", 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	wantErr(t, w.Scalar("x", 1, 1), "closed")
}

func TestStatelessRandomAndCheckNumerics(t *testing.T) {
	g := NewGraph()
	dims := g.Const(mustTensor(t, []int32{4}))
	seed := g.Const(mustTensor(t, []int64{7, 1}))
	a := g.StatelessRandomUniform(dims, seed, Float32)
	b := g.StatelessRandomUniform(dims, seed, Float32)
	p := g.Prod(g.Const(mustTensor(t, []float32{2, 3, 4})))
	e := g.ExpandDims(g.Const(mustTensor(t, []float32{1, 2})), 0)
	bad := g.CheckNumerics(g.Div(g.Scalar(0, Float32), g.Scalar(0, Float32)), "zero over zero")
	res := run(t, g, nil, a, b, p, e)
	av, bv := floats(t, res[0]), floats(t, res[1])
	for i := range av {
		if av[i] != bv[i] || av[i] < 0 || av[i] >= 1 {
			t.Fatalf("stateless draws differ or leave [0, 1): %v %v", av, bv)
		}
	}
	assertClose(t, "prod", floats(t, res[2]), []float64{24}, 0)
	if s := res[3].Shape(); len(s) != 2 || s[0] != 1 {
		t.Fatalf("expand dims shape %v", s)
	}
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Eval(bad, nil)
	wantErr(t, err, "zero over zero")
}
