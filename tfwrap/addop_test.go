package tfwrap

import (
	"testing"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"
)

// Ops tfwrap has no hand-written builder for, through AddOp and Apply,
// checked against values worked out by hand.
func TestAddOpRegistryOps(t *testing.T) {
	g := NewGraph()
	x := g.Const(mustTensor(t, []float32{1, 2, 3, 4, 5, 6}, 2, 3))
	perm := g.Const(mustTensor(t, []int32{1, 0}, 2))
	tr := g.Apply("Transpose", nil, x, perm)

	axis := g.Const(Scalar(int32(0)))
	cat := g.Apply("ConcatV2", nil, OutputList{x, x}, axis)

	split := g.AddOp(OpSpec{Type: "Split", Inputs: []Input{g.Const(Scalar(int32(1))), x}, Attrs: Attrs{"num_split": 3}})
	col1 := split.Output(1)

	pads := g.Const(mustTensor(t, []int32{0, 0, 1, 1}, 2, 2))
	pad := g.Apply("Pad", nil, x, pads)

	idx := g.Const(mustTensor(t, []int64{2, 0}, 2))
	gather := g.Apply("GatherV2", Attrs{"batch_dims": 0}, x, idx, g.Const(Scalar(int32(1))))

	cond := g.Const(mustTensor(t, []bool{true, false, true}, 3))
	where := g.Apply("Where", nil, cond)

	// A tensor attr and a shape attr.
	c := g.Apply("Const", Attrs{"value": mustTensor(t, []int32{7, 8}, 2), "dtype": Int32})
	ph := g.Apply("Placeholder", Attrs{"dtype": Float32, "shape": []int64{-1, 3}})
	doubled := g.Apply("Mul", nil, ph, g.Scalar(2, Float32))

	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	if got := split.NumOutputs(); got != 3 {
		t.Fatalf("Split outputs = %d, want 3", got)
	}
	if s := ph.Shape(); len(s) != 2 || s[0] != -1 || s[1] != 3 {
		t.Fatalf("placeholder shape = %v, want [-1 3]", s)
	}
	res := run(t, g, Feeds{ph: mustTensor(t, []float32{1, 1, 1}, 1, 3)}, tr, cat, col1, pad, gather, where, c, doubled)
	assertClose(t, "Transpose", floats(t, res[0]), []float64{1, 4, 2, 5, 3, 6}, 0)
	assertClose(t, "ConcatV2", floats(t, res[1]), []float64{1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6}, 0)
	assertClose(t, "Split[1]", floats(t, res[2]), []float64{2, 5}, 0)
	assertClose(t, "Pad", floats(t, res[3]), []float64{0, 1, 2, 3, 0, 0, 4, 5, 6, 0}, 0)
	assertClose(t, "GatherV2", floats(t, res[4]), []float64{3, 1, 6, 4}, 0)
	assertClose(t, "Where", floats(t, res[5]), []float64{0, 2}, 0)
	assertClose(t, "Const", floats(t, res[6]), []float64{7, 8}, 0)
	assertClose(t, "Mul", floats(t, res[7]), []float64{2, 2, 2}, 0)
	if got := res[1].Shape(); got[0] != 4 || got[1] != 3 {
		t.Fatalf("ConcatV2 shape %v, want [4 3]", got)
	}
}

// Each bad spec is an error naming the op and what is wrong, recorded as
// the graph's first error; later builder calls do nothing.
func TestAddOpErrors(t *testing.T) {
	other := NewGraph()
	foreign := other.Scalar(1, Float32)
	cases := []struct {
		name string
		spec func(g *Graph) OpSpec
		want string
	}{
		{"unknown type", func(g *Graph) OpSpec { return OpSpec{Type: "Tranpose"} }, `did you mean "Transpose"`},
		{"unknown type far", func(g *Graph) OpSpec { return OpSpec{Type: "NoSuchOpAtAll"} }, `no op type "NoSuchOpAtAll"`},
		{"too few inputs", func(g *Graph) OpSpec {
			return OpSpec{Type: "Transpose", Inputs: []Input{g.Scalar(1, Float32)}}
		}, "Transpose: takes 2 inputs (x, perm), got 1"},
		{"missing attr", func(g *Graph) OpSpec {
			return OpSpec{Type: "Split", Inputs: []Input{g.Scalar(0, Int32), g.Scalar(1, Float32)}}
		}, "Split: attr num_split (int) is required"},
		{"unknown attr", func(g *Graph) OpSpec {
			return OpSpec{Type: "Split", Inputs: []Input{g.Scalar(0, Int32), g.Scalar(1, Float32)}, Attrs: Attrs{"num_splits": 2}}
		}, `no attr "num_splits"; did you mean "num_split"?`},
		{"attr kind", func(g *Graph) OpSpec {
			return OpSpec{Type: "Split", Inputs: []Input{g.Scalar(0, Int32), g.Scalar(1, Float32)}, Attrs: Attrs{"num_split": "two"}}
		}, "Split: attr num_split (int): want an integer, got string"},
		{"attr minimum", func(g *Graph) OpSpec {
			return OpSpec{Type: "Split", Inputs: []Input{g.Scalar(0, Int32), g.Scalar(1, Float32)}, Attrs: Attrs{"num_split": 0}}
		}, "attr num_split is 0; the minimum is 1"},
		{"dtype not allowed", func(g *Graph) OpSpec {
			return OpSpec{Type: "Sqrt", Inputs: []Input{g.Scalar(4, Int32)}}
		}, "Sqrt: attr T is int32; it must be one of"},
		{"dtypes disagree", func(g *Graph) OpSpec {
			return OpSpec{Type: "AddV2", Inputs: []Input{g.Scalar(1, Float32), g.Scalar(1, Int32)}}
		}, "input y makes T=int32, but input x made it float32"},
		{"attr disagrees with input", func(g *Graph) OpSpec {
			return OpSpec{Type: "AddV2", Inputs: []Input{g.Scalar(1, Float32), g.Scalar(1, Float32)}, Attrs: Attrs{"T": Float64}}
		}, "attr T is float64, but input x makes it float32"},
		{"fixed dtype", func(g *Graph) OpSpec {
			return OpSpec{Type: "Split", Inputs: []Input{g.Scalar(0, Float32), g.Scalar(1, Float32)}, Attrs: Attrs{"num_split": 1}}
		}, "Split: input split_dim is float32; it must be int32"},
		{"list where one is due", func(g *Graph) OpSpec {
			return OpSpec{Type: "Transpose", Inputs: []Input{OutputList{g.Scalar(1, Float32)}, g.Scalar(0, Int32)}}
		}, `input "x" takes one tensor, got an OutputList`},
		{"one where a list is due", func(g *Graph) OpSpec {
			return OpSpec{Type: "AddN", Inputs: []Input{g.Scalar(1, Float32)}}
		}, `input "inputs" takes a list of tensors`},
		{"empty list", func(g *Graph) OpSpec {
			return OpSpec{Type: "AddN", Inputs: []Input{OutputList{}}}
		}, "attr N is 0; the minimum is 1"},
		{"nil input", func(g *Graph) OpSpec { return OpSpec{Type: "Relu", Inputs: []Input{nil}} }, `input "features" is nil`},
		{"zero output", func(g *Graph) OpSpec { return OpSpec{Type: "Relu", Inputs: []Input{Output{}}} }, "not a valid Output"},
		{"foreign graph", func(g *Graph) OpSpec { return OpSpec{Type: "Relu", Inputs: []Input{foreign}} }, "belongs to another graph"},
		{"shape inference", func(g *Graph) OpSpec {
			a := g.Const(mustTensor(t, []float32{1, 2, 3, 4, 5, 6}, 2, 3))
			return OpSpec{Type: "MatMul", Inputs: []Input{a, a}}
		}, "MatMul: Dimensions must be equal"},
		{"bad shape attr", func(g *Graph) OpSpec {
			return OpSpec{Type: "Placeholder", Attrs: Attrs{"dtype": Float32, "shape": []int64{-2}}}
		}, "dimension 0 is -2"},
		{"bad type attr", func(g *Graph) OpSpec {
			return OpSpec{Type: "Placeholder", Attrs: Attrs{"dtype": DType(999)}}
		}, "invalid DType 999"},
		{"string attr allowed values", func(g *Graph) OpSpec {
			x := g.Placeholder("x", Float32, 1, 4, 4, 1)
			return OpSpec{Type: "MaxPool", Inputs: []Input{x}, Attrs: Attrs{"ksize": []int{1, 2, 2, 1}, "strides": []int{1, 2, 2, 1}, "padding": "SAEM"}}
		}, `attr padding is "SAEM"; it must be one of`},
		{"nil control input", func(g *Graph) OpSpec { return OpSpec{Type: "NoOp", ControlInputs: []*Op{nil}} }, "control input 0"},
		{"op that crashes TF", func(g *Graph) OpSpec { return OpSpec{Type: "BoostedTreesPredict"} }, "ends the process"},
		{"bad name", func(g *Graph) OpSpec { return OpSpec{Type: "NoOp", Name: "a b"} }, "invalid op name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewGraph()
			spec := c.spec(g)
			if err := g.Err(); err != nil {
				t.Fatalf("setup: %v", err)
			}
			if op := g.AddOp(spec); op != nil {
				t.Fatalf("AddOp returned op %s, want nil", op.Name())
			}
			wantErr(t, g.Err(), c.want)
			if out := g.AddOp(OpSpec{Type: "NoOp"}); out != nil {
				t.Fatal("a builder call after the error built an op")
			}
			if op := (*Op)(nil); op.Output(0).Valid() || op.NumOutputs() != 0 {
				t.Fatal("a nil op has outputs")
			}
		})
	}
}

// The op package's wrappers build into a tfwrap graph through Scope, and
// outputs cross both ways.
func TestScopeBridge(t *testing.T) {
	g := NewGraph()
	x := g.Const(mustTensor(t, []float32{1, 2, 3, 4}, 2, 2))
	s := g.Scope()
	y := g.FromTF(op.Transpose(s, x.TF(), op.Const(s.SubScope("perm"), []int32{1, 0})))
	z := g.Mul(y, g.Scalar(10, Float32))
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	res := run(t, g, nil, z)
	assertClose(t, "transpose*10", floats(t, res[0]), []float64{10, 30, 20, 40}, 0)

	// An op-package error becomes the graph's.
	g2 := NewGraph()
	s2 := g2.Scope()
	a := op.Const(s2, []float32{1, 2, 3})
	op.MatMul(s2, a, a) // rank-1 inputs: shape inference refuses
	wantErr(t, g2.Err(), "op scope")
	if g2.Scalar(1, Float32).Valid() {
		t.Fatal("tfwrap built after the scope's error")
	}

	// tfwrap's error stops the scope, and outputs of another graph are refused.
	g3 := NewGraph()
	g3.FromTF(x.TF())
	wantErr(t, g3.Err(), "belongs to another graph")
	s3 := g3.Scope()
	if op.Const(s3, float32(1)).Op != nil {
		t.Fatal("the scope built after the graph's error")
	}
	g4 := NewGraph()
	g4.FromTF(tf.Output{})
	wantErr(t, g4.Err(), "has no op")
}

// WrapGraph and WrapSession adopt the bindings' objects without copying.
func TestWrapBindings(t *testing.T) {
	s := op.NewScope()
	c := op.Const(s, []float32{1, 2})
	tg, err := s.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	g := WrapGraph(tg)
	sq := g.Square(g.FromTF(c))
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	raw, err := tf.NewSession(g.TF(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := WrapSession(raw, g)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sess.Run(nil, []Output{sq})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "square", floats(t, res[0]), []float64{1, 4}, 0)
	if res[0].TF() == nil {
		t.Fatal("Tensor.TF is nil")
	}
	back, err := WrapTensor(res[0].TF())
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "square through the bindings and back", floats(t, back), []float64{1, 4}, 0)
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sess.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	wantErr(t, WrapGraph(nil).Err(), "nil graph")
	if _, err := WrapSession(nil, g); err == nil {
		t.Fatal("WrapSession(nil) gave no error")
	}
	if _, err := WrapTensor(nil); err == nil {
		t.Fatal("WrapTensor(nil) gave no error")
	}
}

// A func attr names a function built in Go: PartitionedCall runs it.
func TestAddOpFuncAttr(t *testing.T) {
	body := NewGraph()
	a := body.Placeholder("a", Float32, -1)
	b := body.Placeholder("b", Float32, -1)
	sum := body.Add(body.Mul(a, a), b)
	g := NewGraph()
	if err := g.AddFunction("square_plus", body, []Output{a, b}, []Output{sum}); err != nil {
		t.Fatal(err)
	}
	x := g.Const(mustTensor(t, []float32{1, 2, 3}, 3))
	y := g.Const(mustTensor(t, []float32{10, 20, 30}, 3))
	call := g.AddOp(OpSpec{Type: "PartitionedCall", Inputs: []Input{OutputList{x, y}},
		Attrs: Attrs{"Tout": []DType{Float32}, "f": Func{Name: "square_plus"}}})
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	res := run(t, g, nil, call.Output(0))
	assertClose(t, "square_plus", floats(t, res[0]), []float64{11, 24, 39}, 0)

	wantErr(t, NewGraph().AddFunction("f", body, []Output{a}, []Output{x}), "output 0 is not an output of the body")
	wantErr(t, g.AddFunction("bad name", body, nil, []Output{sum}), "invalid function name")
	wantErr(t, g.AddFunction("self", g, nil, []Output{x}), "graph of its own")

	// A func attr naming no function is an error when the op runs.
	g2 := NewGraph()
	bad := g2.AddOp(OpSpec{Type: "PartitionedCall", Inputs: []Input{OutputList{g2.Scalar(1, Float32)}},
		Attrs: Attrs{"Tout": []DType{Float32}, "f": "no_such_function"}})
	s, err := g2.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Run(nil, []Output{bad.Output(0)})
	wantErr(t, err, "no_such_function")
}
