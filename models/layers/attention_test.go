package layers

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/tfwrap"
)

type attnTensor struct {
	Shape []int64   `json:"shape"`
	Data  []float64 `json:"data"`
}

// attnCase is one MultiHeadAttention call for Go and Keras
// (scripts/reference/keras_attention.py).
type attnCase struct {
	Name    string        `json:"name"`
	Heads   int           `json:"num_heads"`
	KeyDim  int           `json:"key_dim"`
	NoBias  bool          `json:"no_bias"`
	Self    bool          `json:"self"`
	Inputs  []attnTensor  `json:"inputs"`
	Masks   []*attnTensor `json:"masks"`
	Weights []attnTensor  `json:"weights"`
	R       attnTensor    `json:"r"`

	out        []float64
	grads      [][]float64
	gradLabels []string
}

func randTensor(r *rand.Rand, scale float64, dims ...int64) attnTensor {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(float32(scale * r.NormFloat64()))
	}
	return attnTensor{Shape: dims, Data: v}
}

func maskTensor(rows ...[]float64) *attnTensor {
	var d []float64
	for _, r := range rows {
		d = append(d, r...)
	}
	return &attnTensor{Shape: []int64{int64(len(rows)), int64(len(rows[0]))}, Data: d}
}

func (a attnTensor) tensor(t *testing.T) *tfwrap.Tensor {
	t.Helper()
	v := make([]float32, len(a.Data))
	for i, x := range a.Data {
		v[i] = float32(x)
	}
	x, err := tfwrap.NewTensor(v, a.Shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// run builds the layer on a fresh graph, sets random weights, and records
// the output and the gradients of sum(output * R) with respect to the
// weights and the inputs.
func (c *attnCase) run(t *testing.T, r *rand.Rand) {
	t.Helper()
	var opts []Option
	if c.NoBias {
		opts = append(opts, NoBias())
	}
	l := MultiHeadAttention(c.Heads, c.KeyDim, append(opts, WithName("mha"))...)
	g := tfwrap.NewGraph()
	var xs []tfwrap.Output
	for _, in := range c.Inputs {
		xs = append(xs, g.Const(in.tensor(t)))
	}
	ctx := &Context{Graph: g.WithScope("mha"), Seed: 1}
	for _, m := range c.Masks {
		if m == nil {
			ctx.Masks = append(ctx.Masks, tfwrap.Output{})
			continue
		}
		ctx.Masks = append(ctx.Masks, g.Greater(g.Const(m.tensor(t)), g.Scalar(0.5, tfwrap.Float32)))
	}
	var out tfwrap.Output
	if c.Self {
		o, err := l.Forward(ctx, xs[0])
		if err != nil {
			t.Fatal(err)
		}
		out = o
	} else {
		o, err := l.ForwardAll(ctx, xs)
		if err != nil {
			t.Fatal(err)
		}
		out = o[0]
	}
	c.R = randTensor(r, 1, out.Shape()...)
	target := g.Sum(g.Mul(out, g.Const(c.R.tensor(t))))
	tape := g.GradientTape()
	tape.Watch(xs...)
	var sources []tfwrap.Source
	for _, w := range l.Weights() {
		sources = append(sources, w)
		c.gradLabels = append(c.gradLabels, w.Name())
	}
	for i, x := range xs {
		sources = append(sources, x)
		c.gradLabels = append(c.gradLabels, "input "+attentionInput(i))
	}
	grads, err := tape.Gradient(target, sources...)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.InitVariables(); err != nil {
		t.Fatal(err)
	}
	for _, w := range l.Weights() {
		wt := randTensor(r, 0.5, w.Shape()...)
		if err := sess.SetValue(w, wt.tensor(t)); err != nil {
			t.Fatal(err)
		}
		c.Weights = append(c.Weights, wt)
	}
	res, err := sess.Run(nil, append([]tfwrap.Output{out}, grads...))
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range res {
		v, err := x.Float64sAny()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			c.out = v
		} else {
			c.grads = append(c.grads, v)
		}
	}
}

// TestMultiHeadAttentionKeras compares MultiHeadAttention's outputs and
// the gradients of sum(output * r) with respect to every weight and input
// with Keras 3's, to 1e-5: self-attention (Forward), cross-attention with
// the key defaulting to the value and with its own key, with a value mask,
// with a self-attention mask (query rows all masked), and with query,
// value and key masks and no biases.
func TestMultiHeadAttentionKeras(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []*attnCase{
		{Name: "self", Heads: 2, KeyDim: 3, Self: true, Inputs: []attnTensor{randTensor(r, 1, 2, 4, 6)}},
		{Name: "cross_value_is_key", Heads: 2, KeyDim: 4, Inputs: []attnTensor{randTensor(r, 1, 2, 3, 5), randTensor(r, 1, 2, 4, 6)}},
		{Name: "cross_key", Heads: 3, KeyDim: 2, Inputs: []attnTensor{randTensor(r, 1, 2, 3, 5), randTensor(r, 1, 2, 4, 6), randTensor(r, 1, 2, 4, 7)}},
		{Name: "cross_value_mask", Heads: 2, KeyDim: 3, Inputs: []attnTensor{randTensor(r, 1, 2, 3, 4), randTensor(r, 1, 2, 5, 3)},
			Masks: []*attnTensor{nil, maskTensor([]float64{1, 1, 0, 1, 0}, []float64{1, 0, 0, 0, 0})}},
		{Name: "self_mask", Heads: 2, KeyDim: 2, Self: true, Inputs: []attnTensor{randTensor(r, 1, 2, 4, 3)},
			Masks: []*attnTensor{maskTensor([]float64{1, 1, 1, 0}, []float64{1, 1, 0, 0})}},
		{Name: "all_masks_no_bias", Heads: 2, KeyDim: 3, NoBias: true, Inputs: []attnTensor{randTensor(r, 1, 2, 3, 4), randTensor(r, 1, 2, 4, 3), randTensor(r, 1, 2, 4, 5)},
			Masks: []*attnTensor{maskTensor([]float64{1, 0, 1}, []float64{1, 1, 1}), maskTensor([]float64{1, 1, 1, 0}, []float64{0, 1, 1, 1}), maskTensor([]float64{1, 0, 1, 1}, []float64{1, 1, 1, 1})}},
	}
	for _, c := range cases {
		c.run(t, r)
	}
	type result struct {
		Out   []float64   `json:"out"`
		Grads [][]float64 `json:"grads"`
	}
	var ref map[string]result
	if err := pyref.Run("keras_attention.py", map[string]any{"cases": cases}, &ref); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			want, ok := ref[c.Name]
			if !ok {
				t.Fatal("no Keras result")
			}
			attnClose(t, "output", c.out, want.Out)
			if len(c.grads) != len(want.Grads) {
				t.Fatalf("%d gradients in Go, %d in Keras", len(c.grads), len(want.Grads))
			}
			for i := range c.grads {
				attnClose(t, "gradient of "+c.gradLabels[i], c.grads[i], want.Grads[i])
			}
		})
	}
}

func attnClose(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values in Go, %d in Keras", what, len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		d := math.Abs(got[i]-want[i]) / (1 + math.Abs(want[i]))
		if !(d <= 1e-5) {
			t.Fatalf("%s[%d]: Go %.8g, Keras %.8g", what, i, got[i], want[i])
		}
		worst = max(worst, d)
	}
	t.Logf("%s: %d values agree (worst relative difference %.2g)", what, len(got), worst)
}

// TestMultiHeadAttentionShapes checks output shapes, parameter counts
// (Keras's: 2 heads of 3 on 5 query, 6 value and 7 key features has
// 5*6+6 + 7*6+6 + 6*6+6 + 6*5+5 = 161) and the errors.
func TestMultiHeadAttentionShapes(t *testing.T) {
	l := MultiHeadAttention(2, 3, WithName("att"))
	out, err := l.OutputShapes([][]int64{{4, 5}, {6, 6}, {6, 7}})
	if err != nil || !reflect.DeepEqual(out, [][]int64{{4, 5}}) {
		t.Fatalf("OutputShapes = %v, %v", out, err)
	}
	if p, n := l.ParamCounts([][]int64{{4, 5}, {6, 6}, {6, 7}}); p != 161 || n != 0 {
		t.Fatalf("ParamCounts = %d, %d; want 161, 0", p, n)
	}
	if p, _ := MultiHeadAttention(2, 3, NoBias()).ParamCount([]int64{4, 5}); p != 5*6*3+6*5 {
		t.Fatalf("ParamCount without bias = %d", p)
	}
	if s, err := l.OutputShape([]int64{4, 5}); err != nil || !reflect.DeepEqual(s, []int64{4, 5}) {
		t.Fatalf("OutputShape = %v, %v", s, err)
	}
	for _, tc := range []struct {
		name string
		l    DualLayer
		in   [][]int64
		err  string
	}{
		{"one input", l, [][]int64{{4, 5}}, "att: MultiHeadAttention takes [query, value]"},
		{"four inputs", l, [][]int64{{4, 5}, {4, 5}, {4, 5}, {4, 5}}, "got 4 inputs"},
		{"rank 3 query", l, [][]int64{{4, 5, 2}, {4, 5}}, "att: MultiHeadAttention's query must be (steps, features)"},
		{"rank 1 value", l, [][]int64{{4, 5}, {5}}, "value must be"},
		{"key steps", l, [][]int64{{4, 5}, {6, 5}, {5, 5}}, "key [5 5] and value [6 5] must have the same number of steps"},
		{"unknown", l, [][]int64{{-1, 5}, {6, 5}}, "query: input dimensions must be known"},
		{"zero heads", MultiHeadAttention(0, 3, WithName("z")), [][]int64{{4, 5}, {6, 5}}, "z: num_heads 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := tc.l.OutputShapes(tc.in); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("OutputShapes(%v) = %v, %v; want an error with %q", tc.in, out, err, tc.err)
			}
			tc.l.ParamCounts(tc.in) // must not panic
		})
	}
	// Forward errors, with the layer's name.
	g := tfwrap.NewGraph()
	ctx := &Context{Graph: g}
	x2 := g.Placeholder("x2", tfwrap.Float32, -1, 5)
	x3 := g.Placeholder("x3", tfwrap.Float32, -1, 4, 5)
	y3 := g.Placeholder("y3", tfwrap.Float32, -1, 6, 6)
	k3 := g.Placeholder("k3", tfwrap.Float32, -1, 5, 6)
	i3 := g.Placeholder("i3", tfwrap.Int32, -1, 4, 5)
	for _, tc := range []struct {
		name string
		xs   []tfwrap.Output
		err  string
	}{
		{"rank 2", []tfwrap.Output{x2, x2}, "layer att: query"},
		{"int", []tfwrap.Output{x3, i3}, "layer att: value is int32"},
		{"key steps", []tfwrap.Output{x3, y3, k3}, "layer att: MultiHeadAttention's key"},
		{"one", []tfwrap.Output{x3}, "layer att: MultiHeadAttention takes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := l.ForwardAll(ctx, tc.xs); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("ForwardAll = %v; want an error with %q", err, tc.err)
			}
		})
	}
	if _, err := l.Forward(ctx, x2); err == nil || !strings.Contains(err.Error(), "layer att") {
		t.Fatalf("Forward(rank 2) = %v", err)
	}
	// Built for 5 query features, a second call with 6 is an error.
	if _, err := l.ForwardAll(ctx, []tfwrap.Output{x3, y3}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ForwardAll(ctx, []tfwrap.Output{y3, y3}); err == nil || !strings.Contains(err.Error(), "layer att: query, value and key have 6, 6 and 6 features") {
		t.Fatalf("ForwardAll after build = %v", err)
	}
	if err := CheckOptions(MultiHeadAttention(2, 3, WithStrides(2, 2), WithName("s"))); err == nil || !strings.Contains(err.Error(), "layer s: MultiHeadAttention does not take option WithStrides") {
		t.Fatalf("CheckOptions = %v", err)
	}
	if err := CheckOptions(MultiHeadAttention(2, 3, NoBias(), WithSeed(1))); err != nil {
		t.Fatal(err)
	}
}
