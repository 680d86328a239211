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

// TestRecurrentShapes checks Keras's output shapes and parameter counts
// of LSTM, GRU and Bidirectional, and the errors for what they cannot take.
func TestRecurrentShapes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		l      Layer
		in     []int64
		want   []int64
		params int64
		err    string
	}{
		// Keras: LSTM 4·u·(f+u+1), GRU (reset_after) 3·u·(f+u+2).
		{"lstm", LSTM(4), []int64{5, 3}, []int64{4}, 128, ""},
		{"lstm sequences", LSTM(4, ReturnSequences()), []int64{5, 3}, []int64{5, 4}, 128, ""},
		{"gru", GRU(4), []int64{5, 3}, []int64{4}, 108, ""},
		{"gru sequences", GRU(2, ReturnSequences()), []int64{7, 1}, []int64{7, 2}, 30, ""},
		{"bidirectional", Bidirectional(LSTM(4)), []int64{5, 3}, []int64{8}, 256, ""},
		{"bidirectional sequences", Bidirectional(GRU(4, ReturnSequences())), []int64{5, 3}, []int64{5, 8}, 216, ""},
		{"flat input", LSTM(4, WithName("r")), []int64{5}, nil, 0, "r: LSTM takes sequences (steps, features) per sample, got per-sample shape [5]"},
		{"images", GRU(4, WithName("r")), []int64{5, 5, 3}, nil, 0, "r: GRU takes sequences"},
		{"unknown steps", LSTM(4, WithName("r")), []int64{-1, 3}, nil, 0, "r: LSTM is unrolled over the steps, so their number must be known"},
		{"unknown features", GRU(4, WithName("r")), []int64{5, -1}, nil, 0, "r: the number of features must be known"},
		{"zero units", LSTM(0, WithName("r")), []int64{5, 3}, nil, 0, "r: units must be positive"},
		{"return state", LSTM(4, ReturnState(), WithName("r")), []int64{5, 3}, nil, 0, "r: LSTM with ReturnState gives 3 outputs (output and states); a Sequential model takes one, use it in a functional model"},
		{"bidirectional return state", Bidirectional(GRU(4, ReturnState()), WithName("b")), []int64{5, 3}, nil, 0, "b: Bidirectional of GRU with ReturnState gives 3 outputs"},
		{"bidirectional of dense", Bidirectional(Dense(4), WithName("b")), []int64{5, 3}, nil, 0, "b: Bidirectional wraps an LSTM or GRU layer, got Dense"},
		{"bidirectional of nil", Bidirectional(nil, WithName("b")), []int64{5, 3}, nil, 0, "got nil"},
		{"bidirectional flat", Bidirectional(LSTM(4), WithName("b")), []int64{5}, nil, 0, "b: forward_lstm: LSTM takes sequences"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.l.OutputShape(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("OutputShape(%v) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("OutputShape(%v) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if p, _ := tc.l.ParamCount(tc.in); p != tc.params {
				t.Fatalf("ParamCount(%v) = %d, want %d", tc.in, p, tc.params)
			}
		})
	}
	// With ReturnState, OutputShapes lists the states.
	for _, tc := range []struct {
		l    MultiLayer
		want [][]int64
	}{
		{LSTM(4, ReturnState()), [][]int64{{4}, {4}, {4}}},
		{GRU(4, ReturnState(), ReturnSequences()), [][]int64{{5, 4}, {4}}},
		{Bidirectional(LSTM(2, ReturnState())), [][]int64{{4}, {2}, {2}, {2}, {2}}},
		{GRU(4), [][]int64{{4}}},
	} {
		got, err := tc.l.OutputShapes([][]int64{{5, 3}})
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: OutputShapes = %v, %v; want %v", tc.l.Type(), got, err, tc.want)
		}
	}
	if _, err := LSTM(2).OutputShapes([][]int64{{5, 3}, {5, 3}}); err == nil || !strings.Contains(err.Error(), "takes one input, got 2") {
		t.Errorf("two inputs: %v", err)
	}
}

func TestRecurrentOptionsAndConfig(t *testing.T) {
	for _, c := range []struct {
		l    Layer
		want string
	}{
		{LSTM(4, WithStrides(2, 2), WithName("r")), "layer r: LSTM does not take option WithStrides"},
		{GRU(4, WithActivation(ReLU)), "GRU does not take option WithActivation"},
		{Bidirectional(LSTM(4), ReturnSequences()), "Bidirectional does not take option ReturnSequences"},
		{Dense(4, ReturnState()), "Dense does not take option ReturnState"},
		{Dense(4, MaskZero()), "Dense does not take option MaskZero"},
	} {
		if err := CheckOptions(c.l); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: CheckOptions = %v, want an error containing %q", c.l.Type(), err, c.want)
		}
	}
	for _, c := range []struct {
		l    Layer
		want Config
	}{
		{LSTM(4, ReturnSequences(), WithName("a")), Config{Type: "LSTM", Name: "a", Units: 4, ReturnSequences: true}},
		{GRU(3, ReturnState(), WithSeed(2), WithName("b")), Config{Type: "GRU", Name: "b", Units: 3, ReturnState: true, Seed: ptr(uint64(2))}},
		{Bidirectional(LSTM(2, WithName("l")), WithName("c")), Config{Type: "Bidirectional", Name: "c", Layer: &Config{Type: "LSTM", Name: "l", Units: 2}}},
		{Embedding(5, 2, MaskZero(), WithName("e")), Config{Type: "Embedding", Name: "e", InputDim: 5, OutputDim: 2, MaskZero: true}},
	} {
		if err := CheckOptions(c.l); err != nil {
			t.Errorf("%s: %v", c.l.Type(), err)
		}
		got := c.l.Config()
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Config() = %+v, want %+v", got, c.want)
		}
		r, err := FromConfig(got)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r.Config(), got) {
			t.Errorf("rebuilt %+v, want %+v", r.Config(), got)
		}
		if err := CheckOptions(r); err != nil {
			t.Errorf("%s from its config: %v", r.Type(), err)
		}
	}
	if _, err := FromConfig(Config{Type: "Bidirectional", Name: "b"}); err == nil || !strings.Contains(err.Error(), "no layer to wrap") {
		t.Errorf("Bidirectional without a layer: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// run builds l's ForwardAll on x (and mask) in a fresh graph, sets its
// weights to small random values and returns the outputs and weights.
func runRecurrent(t *testing.T, l MultiLayer, x *tfwrap.Tensor, mask *tfwrap.Tensor, r *rand.Rand) ([][]float64, []*tfwrap.Tensor, *Context) {
	t.Helper()
	g := tfwrap.NewGraph()
	ctx := &Context{Graph: g.WithScope("rnn"), Seed: 1}
	if mask != nil {
		ctx.Masks = []tfwrap.Output{g.Const(mask)}
	}
	outs, err := l.ForwardAll(ctx, []tfwrap.Output{g.Const(x)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.InitVariables(); err != nil {
		t.Fatal(err)
	}
	var ws []*tfwrap.Tensor
	for _, w := range l.Weights() {
		v := make([]float32, product(w.Shape()))
		for i := range v {
			v[i] = float32(r.Float64() - 0.5)
		}
		wt, err := tfwrap.NewTensor(v, w.Shape()...)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetValue(w, wt); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, wt)
	}
	res, err := s.Run(nil, outs)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]float64
	for _, o := range res {
		v, err := o.Float64sAny()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	return got, ws, ctx
}

func randomSequences(t *testing.T, r *rand.Rand, dims ...int64) *tfwrap.Tensor {
	t.Helper()
	v := make([]float32, product(dims))
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	x, err := tfwrap.NewTensor(v, dims...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

type tensorSpec struct {
	Shape []int64   `json:"shape"`
	Data  []float64 `json:"data"`
}

func spec(t *testing.T, x *tfwrap.Tensor) tensorSpec {
	t.Helper()
	v, err := x.Float64sAny()
	if err != nil {
		t.Fatal(err)
	}
	return tensorSpec{Shape: x.Shape(), Data: v}
}

// TestRecurrentReturnState compares ForwardAll's outputs and states with
// Keras's (return_state=True) for the same weights and inputs.
func TestRecurrentReturnState(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		name string
		l    RecurrentLayer
	}{
		{"lstm_state", LSTM(3, ReturnState())},
		{"lstm_sequences_state", LSTM(2, ReturnSequences(), ReturnState())},
		{"gru_sequences_state", GRU(3, ReturnSequences(), ReturnState())},
		{"bidirectional_lstm_state", Bidirectional(LSTM(2, ReturnState()))},
		{"bidirectional_gru_sequences_state", Bidirectional(GRU(2, ReturnSequences(), ReturnState()))},
	}
	type stateCase struct {
		Name    string       `json:"name"`
		Input   []int64      `json:"input"`
		Layer   Config       `json:"layer"`
		Weights []tensorSpec `json:"weights"`
		X       tensorSpec   `json:"x"`
	}
	var in []stateCase
	var got [][][]float64
	for _, c := range cases {
		x := randomSequences(t, r, 3, 4, 2)
		outs, ws, _ := runRecurrent(t, c.l, x, nil, r)
		want, _ := c.l.OutputShapes([][]int64{{4, 2}})
		if len(outs) != len(want) {
			t.Fatalf("%s: %d outputs, OutputShapes says %d", c.name, len(outs), len(want))
		}
		sc := stateCase{Name: c.name, Input: []int64{4, 2}, Layer: c.l.Config(), X: spec(t, x)}
		for _, w := range ws {
			sc.Weights = append(sc.Weights, spec(t, w))
		}
		in, got = append(in, sc), append(got, outs)
	}
	var ref map[string]struct {
		Outputs [][]float64 `json:"outputs"`
	}
	if err := pyref.Run("keras_parity_rnn.py", map[string]any{"states": in}, &ref); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		want := ref[c.name].Outputs
		if len(want) != len(got[i]) {
			t.Fatalf("%s: %d outputs in Go, %d in Keras", c.name, len(got[i]), len(want))
		}
		for j := range want {
			worst := maxDiff(t, got[i][j], want[j])
			if worst > 1e-5 {
				t.Errorf("%s: output %d differs from Keras's by %.3g", c.name, j, worst)
			}
			t.Logf("%s: output %d: %d values, max abs diff %.2g", c.name, j, len(want[j]), worst)
		}
	}
}

func maxDiff(t *testing.T, a, b []float64) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d values against %d", len(a), len(b))
	}
	worst := 0.0
	for i := range a {
		worst = math.Max(worst, math.Abs(a[i]-b[i]))
	}
	return worst
}

// With a mask, the state h is the output of the last real step: the last
// output of a layer without ReturnSequences, and the layer hands the mask
// on only with ReturnSequences.
func TestRecurrentMaskedState(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	x := randomSequences(t, r, 3, 4, 2)
	mask, err := tfwrap.NewTensor([]bool{true, true, false, false, true, false, true, false, false, false, false, false}, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []RecurrentLayer{LSTM(3, ReturnState()), GRU(2, ReturnState())} {
		outs, _, ctx := runRecurrent(t, l, x, mask, r)
		if d := maxDiff(t, outs[0], outs[1]); d != 0 {
			t.Errorf("%s: last output and h differ by %g", l.Type(), d)
		}
		for j, v := range outs[0][2*len(outs[0])/3:] { // the fully masked sample
			if v != 0 {
				t.Errorf("%s: fully masked sample's output[%d] = %g, want 0", l.Type(), j, v)
			}
		}
		if len(ctx.OutMasks) != len(outs) || ctx.OutMasks[0].Valid() {
			t.Errorf("%s: output masks %v, want none", l.Type(), ctx.OutMasks)
		}
	}
	_, _, ctx := runRecurrent(t, LSTM(2, ReturnSequences()), x, mask, r)
	if len(ctx.OutMasks) != 1 || !ctx.OutMasks[0].Valid() {
		t.Errorf("ReturnSequences: output masks %v, want the input's", ctx.OutMasks)
	}
	_, _, ctx = runRecurrent(t, Bidirectional(GRU(2)), x, mask, r)
	if ctx.OutMasks == nil || len(ctx.OutMasks) != 0 {
		t.Errorf("Bidirectional without sequences: output masks %v, want consumed", ctx.OutMasks)
	}
}

// Bad inputs are errors naming the layer, not panics.
func TestRecurrentForwardErrors(t *testing.T) {
	g := tfwrap.NewGraph()
	flat := g.Placeholder("flat", tfwrap.Float32, -1, 5)
	seq := g.Placeholder("seq", tfwrap.Float32, -1, 5, 3)
	open := g.Placeholder("open", tfwrap.Float32, -1, -1, 3)
	ids := g.Placeholder("ids", tfwrap.Int32, -1, 5, 3)
	for _, c := range []struct {
		l    RecurrentLayer
		x    tfwrap.Output
		want string
	}{
		{LSTM(2, WithName("r")), flat, "layer r: input"},
		{GRU(2, WithName("r")), open, "r: GRU is unrolled over the steps"},
		{LSTM(2, WithName("r")), ids, "r: input"},
		{LSTM(2, ReturnState(), WithName("r")), seq, "layer r: LSTM with ReturnState gives its states too; call it in a functional model"},
		{Bidirectional(LSTM(2, ReturnState()), WithName("b")), seq, "layer b: Bidirectional of LSTM with ReturnState"},
		{Bidirectional(Dense(2), WithName("b")), seq, "b: Bidirectional wraps an LSTM or GRU layer"},
		{Bidirectional(GRU(2), WithName("b")), flat, "b: forward_gru: GRU takes sequences"},
	} {
		ctx := &Context{Graph: g.WithScope(c.l.Name())}
		if _, err := c.l.Forward(ctx, c.x); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Forward(%v) = %v, want an error with %q", c.x, err, c.want)
		}
	}
	ctx := &Context{Graph: g.WithScope("m"), Masks: []tfwrap.Output{g.Placeholder("m", tfwrap.Bool, -1, 4)}}
	if _, err := LSTM(2, WithName("m")).Forward(ctx, seq); err == nil || !strings.Contains(err.Error(), "mask") {
		t.Errorf("mask of 4 steps on 5: %v", err)
	}
}
