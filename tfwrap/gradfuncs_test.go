package tfwrap

import (
	"math"
	"math/rand"
	"testing"

	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/tfgo-project/gotf/internal/pyref"
)

// gin is one float64 input of a gradient case: its shape and how each of
// its elements is drawn (away from the kinks of piecewise ops, so that
// finite differences see the slope the gradient claims).
type gin struct {
	dims []int64
	gen  func(r *rand.Rand, i int) float64
}

func uniform(lo, hi float64) func(*rand.Rand, int) float64 {
	return func(r *rand.Rand, _ int) float64 { return lo + (hi-lo)*r.Float64() }
}

func fixed(v ...float64) func(*rand.Rand, int) float64 {
	return func(_ *rand.Rand, i int) float64 { return v[i] }
}

// midInteger draws n + 0.5 ± 0.15 for an integer n in [-4, 4): far from the
// jumps of Round, Ceil and of FloorMod/FloorDiv by 2, 3 or 4.
func midInteger(r *rand.Rand, _ int) float64 {
	return float64(r.Intn(8)-4) + 0.5 + 0.3*(r.Float64()-0.5)
}

// gradCase is an expression whose gradient Go and Python both take. Its
// target is sum(sin(out)), so the gradient flowing into out is cos(out),
// not all ones. With vars, inputs are variables (x[i] is their value).
// The expressions mirror scripts/reference/gradops.py.
type gradCase struct {
	name   string
	in     []gin
	vars   bool
	goOnly bool // not compared with Python (none to compare with)
	build  func(g *Graph, x []Output, v []*Variable) Output
}

func i32c(g *Graph, dims []int64, v ...int32) Output {
	t, err := NewTensor(v, dims...)
	if err != nil {
		g.fail(err)
		return Output{}
	}
	return g.Const(t)
}

func dense(g *Graph, x, w, b Output) Output { return g.BiasAdd(g.MatMul(x, w), b) }

var gradCases = []gradCase{
	{name: "sparse_xent", in: []gin{{[]int64{4, 5}, uniform(-2, 2)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "SparseSoftmaxCrossEntropyWithLogits", nil, x[0], i32c(g, []int64{4}, 0, 3, 4, 3))
	}},
	{name: "resource_gather", in: []gin{{[]int64{6, 3}, uniform(-1, 1)}}, vars: true, build: func(g *Graph, _ []Output, v []*Variable) Output {
		return gop(g, "ResourceGather", map[string]any{"dtype": tf.Double}, v[0].Handle(), i32c(g, []int64{2, 3}, 1, 4, 1, 0, 5, 1))
	}},
	{name: "ensure_shape", in: []gin{{[]int64{2, 3}, uniform(-2, 2)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return g.Mul(gop(g, "EnsureShape", map[string]any{"shape": tf.MakeShape(2, 3)}, x[0]), x[0])
	}},
	{name: "placeholder_with_default", in: []gin{{[]int64{2, 2}, uniform(-2, 2)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return g.Square(g.PlaceholderWithDefault("pwd", x[0], 2, 2))
	}},
	{name: "identity_n", in: []gin{{[]int64{3}, uniform(-2, 2)}, {[]int64{3}, uniform(-2, 2)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		op := g.add("IdentityN", "IdentityN", []tf.Input{tf.OutputList{x[0].out, x[1].out}}, nil)
		if op == nil {
			return Output{}
		}
		return g.Mul(Output{st: g.st, out: op.Output(0)}, g.Exp(Output{st: g.st, out: op.Output(1)}))
	}},
	{name: "erfc", in: []gin{{[]int64{6}, uniform(-2, 2)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "Erfc", nil, x[0])
	}},
	{name: "xlogy", in: []gin{{[]int64{3, 4}, fixed(0, 1.5, -0.7, 2, 0.3, 0, 1, -1.2, 0.8, 0.1, 0, 2.5)}, {[]int64{4}, uniform(0.5, 3)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "Xlogy", nil, x[0], x[1])
	}},
	{name: "xdivy", in: []gin{{[]int64{4}, uniform(0.5, 3)}, {[]int64{3, 4}, fixed(0, 1.5, -0.7, 2, 0.3, 0, 1, -1.2, 0.8, 0.1, 0, 2.5)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "Xdivy", nil, x[1], g.Add(x[0], g.Scalar(0, Float64)))
	}},
	{name: "xlog1py", in: []gin{{[]int64{2, 3}, fixed(0, 1, -2, 0.5, 0, 3)}, {[]int64{2, 3}, uniform(-0.5, 2)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "Xlog1py", nil, x[0], x[1])
	}},
	{name: "floormod", in: []gin{{[]int64{2, 3}, midInteger}, {[]int64{3}, fixed(2, 3, 4)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "FloorMod", nil, x[0], x[1])
	}},
	{name: "cumprod", in: []gin{{[]int64{2, 4}, uniform(0.5, 1.5)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "Cumprod", map[string]any{"exclusive": true}, x[0], g.Scalar(1, Int32))
	}},
	{name: "cumprod_reverse", in: []gin{{[]int64{3, 3}, uniform(-1.5, -0.5)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "Cumprod", map[string]any{"reverse": true}, x[0], g.Scalar(0, Int32))
	}},
	{name: "tensor_scatter_add", in: []gin{{[]int64{4, 2}, uniform(-1, 1)}, {[]int64{2, 2}, uniform(-1, 1)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "TensorScatterAdd", nil, x[0], i32c(g, []int64{2, 1}, 3, 1), x[1])
	}},
	{name: "tensor_scatter_sub", in: []gin{{[]int64{4, 2}, uniform(-1, 1)}, {[]int64{2, 2}, uniform(-1, 1)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "TensorScatterSub", nil, x[0], i32c(g, []int64{2, 1}, 0, 2), x[1])
	}},
	{name: "tensor_scatter_update", in: []gin{{[]int64{4, 2}, uniform(-1, 1)}, {[]int64{2, 2}, uniform(-1, 1)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "TensorScatterUpdate", nil, x[0], i32c(g, []int64{2, 1}, 2, 1), x[1])
	}},
	{name: "sparse_segment_sum", in: []gin{{[]int64{5, 2}, uniform(-1, 1)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "SparseSegmentSum", nil, x[0], i32c(g, []int64{4}, 0, 2, 2, 4), i32c(g, []int64{4}, 0, 0, 1, 2))
	}},
	{name: "sparse_segment_mean", in: []gin{{[]int64{5, 2}, uniform(-1, 1)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "SparseSegmentMean", nil, x[0], i32c(g, []int64{4}, 0, 2, 2, 4), i32c(g, []int64{4}, 0, 0, 1, 2))
	}},
	{name: "sparse_segment_sqrt_n", in: []gin{{[]int64{5, 2}, uniform(-1, 1)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return gop(g, "SparseSegmentSqrtN", nil, x[0], i32c(g, []int64{4}, 0, 2, 2, 4), i32c(g, []int64{4}, 0, 0, 1, 2))
	}},
	{name: "relu", in: []gin{{[]int64{2, 3}, fixed(-1.5, -0.3, 0.4, 2.2, 5.1, 7.3)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return g.Mul(gop(g, "Relu", nil, x[0]), x[0])
	}},
	{name: "relu6", in: []gin{{[]int64{2, 3}, fixed(-1.5, -0.3, 0.4, 2.2, 5.1, 7.3)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		return g.Mul(gop(g, "Relu6", nil, x[0]), x[0])
	}},
	{name: "round_rint_ceil", in: []gin{{[]int64{6}, midInteger}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		r := g.Add(gop(g, "Round", nil, x[0]), g.Add(gop(g, "Rint", nil, x[0]), gop(g, "Ceil", nil, x[0])))
		return g.Mul(x[0], r)
	}},
	{name: "floordiv_oneslike", in: []gin{{[]int64{2, 3}, midInteger}, {[]int64{3}, fixed(2, 3, 4)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		q := gop(g, "FloorDiv", nil, x[0], x[1])
		return g.Mul(g.Add(x[0], gop(g, "OnesLike", nil, x[0])), q)
	}},
	// Paths that mix C++ and Go gradients: every op below goes through
	// backprop, one op at a time.
	{name: "dense_sparse_xent", in: []gin{{[]int64{3, 4}, uniform(-1, 1)}, {[]int64{4, 5}, uniform(-1, 1)}, {[]int64{5}, uniform(-0.5, 0.5)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		h := g.Tanh(dense(g, x[0], x[1], x[2]))
		return gop(g, "SparseSoftmaxCrossEntropyWithLogits", nil, g.Mul(h, g.Sigmoid(h)), i32c(g, []int64{3}, 1, 4, 0))
	}},
	{name: "embedding_dense", in: []gin{{[]int64{7, 3}, uniform(-1, 1)}, {[]int64{3, 2}, uniform(-1, 1)}}, vars: true, build: func(g *Graph, x []Output, v []*Variable) Output {
		e := gop(g, "ResourceGather", map[string]any{"dtype": tf.Double}, v[0].Handle(), i32c(g, []int64{4}, 6, 2, 2, 0))
		// The variable is also read directly: its two gradients add up.
		return g.Add(g.MatMul(e, x[1]), g.Sum(x[0]))
	}},
	{name: "layernorm_erfc", in: []gin{{[]int64{2, 4}, uniform(-2, 2)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		m := g.MeanKeepDims(x[0], 1)
		v := g.MeanKeepDims(gop(g, "SquaredDifference", nil, x[0], m), 1)
		n := g.Mul(g.Sub(x[0], m), gop(g, "Rsqrt", nil, g.Add(v, g.Scalar(1e-3, Float64))))
		return gop(g, "Erfc", nil, n)
	}},
	{name: "conv1d_xlogy", in: []gin{{[]int64{1, 6, 2}, uniform(0.5, 2)}, {[]int64{1, 3, 2, 2}, uniform(-1, 1)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		c := g.Conv2D(g.ExpandDims(x[0], 1), x[1], [2]int64{1, 1}, "SAME")
		y := gop(g, "Squeeze", map[string]any{"squeeze_dims": []int64{1}}, c)
		return gop(g, "Xlogy", nil, y, gop(g, "Softplus", nil, x[0]))
	}},
	{name: "cpp_only_activations", in: []gin{{[]int64{6}, uniform(-2, 2)}}, build: func(g *Graph, x []Output, _ []*Variable) Output {
		a := g.Add(gop(g, "Elu", nil, x[0]), gop(g, "Selu", nil, x[0]))
		return g.Mul(g.Add(a, gop(g, "Erf", nil, x[0])), gop(g, "Softsign", nil, x[0]))
	}},
}

func (c gradCase) data() [][]float64 {
	r := rand.New(rand.NewSource(int64(len(c.name)) * 7919))
	out := make([][]float64, len(c.in))
	for i, in := range c.in {
		n := int64(1)
		for _, d := range in.dims {
			n *= d
		}
		out[i] = make([]float64, n)
		for j := range out[i] {
			out[i][j] = in.gen(r, j)
		}
	}
	return out
}

// gradGraph is a case built with its inputs fed (or held in variables).
type gradGraph struct {
	g      *Graph
	x      []Output
	vars   []*Variable
	target Output
	grads  []Output
}

func buildGradCase(t *testing.T, c gradCase, data [][]float64) *gradGraph {
	t.Helper()
	gg := &gradGraph{g: NewGraph()}
	g := gg.g
	tape := g.GradientTape()
	var srcs []Source
	for i, in := range c.in {
		if c.vars {
			v := g.Variable("v"+string(rune('a'+i)), mustTensor(t, data[i], in.dims...))
			gg.vars = append(gg.vars, v)
			gg.x = append(gg.x, v.Value())
			srcs = append(srcs, v)
			continue
		}
		x := g.Placeholder("x"+string(rune('a'+i)), Float64, in.dims...)
		tape.Watch(x)
		gg.x = append(gg.x, x)
		srcs = append(srcs, x)
	}
	out := c.build(g, gg.x, gg.vars)
	gg.target = g.Sum(g.Sin(out))
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	grads, err := tape.Gradient(gg.target, srcs...)
	if err != nil {
		t.Fatal(err)
	}
	gg.grads = grads
	return gg
}

func (gg *gradGraph) feeds(t *testing.T, c gradCase, data [][]float64) Feeds {
	t.Helper()
	f := Feeds{}
	if !c.vars {
		for i, in := range c.in {
			f[gg.x[i]] = mustTensor(t, data[i], in.dims...)
		}
	}
	return f
}

// TestGoGradientsMatchPython takes the gradient of each case with Tape in
// Go and with tf.GradientTape in Python, on the same inputs, in one Python
// process.
func TestGoGradientsMatchPython(t *testing.T) {
	type pyCase struct {
		Name   string      `json:"name"`
		Vars   bool        `json:"vars"`
		Inputs [][]float64 `json:"inputs"`
		Dims   [][]int64   `json:"dims"`
	}
	var cases []pyCase
	for _, c := range gradCases {
		if c.goOnly {
			continue
		}
		pc := pyCase{Name: c.name, Vars: c.vars, Inputs: c.data()}
		for _, in := range c.in {
			pc.Dims = append(pc.Dims, in.dims)
		}
		cases = append(cases, pc)
	}
	var refs map[string]struct {
		Value float64     `json:"value"`
		Grads [][]float64 `json:"grads"`
	}
	if err := pyref.Run("gradops.py", map[string]any{"cases": cases}, &refs); err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for _, c := range gradCases {
		t.Run(c.name, func(t *testing.T) {
			ref, ok := refs[c.name]
			if !ok {
				t.Fatalf("no Python reference for %s", c.name)
			}
			data := c.data()
			gg := buildGradCase(t, c, data)
			for _, op := range gg.g.st.g.Operations() {
				ops[op.Type()] = true
			}
			res := run(t, gg.g, gg.feeds(t, c, data), append([]Output{gg.target}, gg.grads...)...)
			assertClose(t, "value", floats(t, res[0]), []float64{ref.Value}, 1e-5)
			for i := range c.in {
				assertClose(t, "gradient "+string(rune('a'+i)), floats(t, res[1+i]), ref.Grads[i], 1e-5)
			}
		})
	}
	// Every Go gradient appears in some case, and the cases span 25 op
	// types whose gradient is defined somewhere.
	differentiable := 0
	for op := range ops {
		if goGradient(op) != nil || cppGradient(op) == cppGradFunc {
			differentiable++
		}
	}
	for _, typ := range GoGradientTypes() {
		if !ops[typ] {
			t.Errorf("no case uses %s, which has a Go gradient", typ)
		}
	}
	if differentiable < 25 {
		t.Errorf("the cases use %d differentiable op types, want at least 25", differentiable)
	}
}

// TestGoGradientsFiniteDifferences checks each case's gradient against
// central differences of its own value, in float64.
func TestGoGradientsFiniteDifferences(t *testing.T) {
	const h = 1e-6
	for _, c := range gradCases {
		t.Run(c.name, func(t *testing.T) {
			data := c.data()
			// Xlogy and kin define their x-gradient as 0 where x is 0 (the
			// parity test checks that convention); finite differences see
			// the slope next to it, so they get no zeros here.
			for _, d := range data {
				for j := range d {
					if d[j] == 0 {
						d[j] = 0.37
					}
				}
			}
			gg := buildGradCase(t, c, data)
			s, err := gg.g.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.InitVariables(); err != nil {
				t.Fatal(err)
			}
			eval := func() float64 {
				if c.vars {
					for i, v := range gg.vars {
						if err := s.SetValue(v, mustTensor(t, data[i], c.in[i].dims...)); err != nil {
							t.Fatal(err)
						}
					}
				}
				res, err := s.Run(gg.feeds(t, c, data), []Output{gg.target})
				if err != nil {
					t.Fatal(err)
				}
				return floats(t, res[0])[0]
			}
			res, err := s.Run(gg.feeds(t, c, data), gg.grads)
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.in {
				got := floats(t, res[i])
				fd := make([]float64, len(data[i]))
				for j := range data[i] {
					x0 := data[i][j]
					data[i][j] = x0 + h
					up := eval()
					data[i][j] = x0 - h
					down := eval()
					data[i][j] = x0
					fd[j] = (up - down) / (2 * h)
				}
				assertClose(t, "d/d"+string(rune('a'+i)), got, fd, 1e-6)
			}
		})
	}
}

// TestReluSecondOrder: the gradient of a gradient through Relu and Relu6,
// which needs the gradients of ReluGrad and Relu6Grad (Python's
// _ReluGradGrad and _Relu6GradGrad; C++ has none), in float64, float32,
// half and bfloat16 inside the graph. For f = sum(relu(x)³ + relu6(x)³):
// f' = 3 relu(x)² + 3 relu6(x)²·[0<x<6], and d(sum f')/dx = 6 relu(x) +
// 6 relu6(x)·[0<x<6].
func TestReluSecondOrder(t *testing.T) {
	x0 := []float64{-1.5, -0.3, 0.4, 2.2, 5.1, 7.3}
	var want1, want2 []float64
	for _, x := range x0 {
		r, r6, in := max(x, 0), min(max(x, 0), 6), 0.0
		if x > 0 && x < 6 {
			in = 1
		}
		want1 = append(want1, 3*r*r+3*r6*r6*in)
		want2 = append(want2, 6*r+6*r6*in)
	}
	for _, tc := range []struct {
		name string
		dt   tf.DataType
		tol  float64
	}{{"float64", tf.Double, 1e-12}, {"float32", tf.Float, 1e-5}, {"half", tf.Half, 1e-2}, {"bfloat16", tf.Bfloat16, 2e-2}} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGraph()
			x := g.Const(mustTensor(t, x0))
			xi := gop(g, "Cast", map[string]any{"SrcT": tf.Double, "DstT": tc.dt}, x)
			tape := g.GradientTape()
			tape.Watch(x)
			r, r6 := gop(g, "Relu", nil, xi), gop(g, "Relu6", nil, xi)
			f := g.Sum(g.Add(g.Mul(g.Mul(r, r), r), g.Mul(g.Mul(r6, r6), r6)))
			g1, err := tape.Gradient(gop(g, "Cast", map[string]any{"SrcT": tc.dt, "DstT": tf.Double}, f), x)
			if err != nil {
				t.Fatal(err)
			}
			g2, err := tape.Gradient(g.Sum(g1[0]), x)
			if err != nil {
				t.Fatal(err)
			}
			res := run(t, g, nil, g1[0], g2[0])
			for i, want := range [][]float64{want1, want2} {
				got, err := res[i].Float64s()
				if err != nil {
					t.Fatal(err)
				}
				for k := range got {
					if math.Abs(got[k]-want[k]) > tc.tol*(1+math.Abs(want[k])) {
						t.Errorf("order %d: got %v, want %v", i+1, got, want)
						break
					}
				}
			}
		})
	}
}
