package models

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/cpuinfo"
	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// mixedRef is keras_mixed.py's answer for one policy.
type mixedRef struct {
	Losses         []float64   `json:"losses"`
	Weights        [][]float64 `json:"weights"`
	Pred           []float64   `json:"pred"`
	VariableDTypes []string    `json:"variable_dtypes"`
	ComputeDType   string      `json:"compute_dtype"`
}

// maxDiff is the largest |a-b|/(1+|b|) over two lists of weights.
func maxDiff(a, b [][]float64) float64 {
	worst := 0.0
	for i := range a {
		for j := range a[i] {
			worst = max(worst, math.Abs(a[i][j]-b[i][j])/(1+math.Abs(b[i][j])))
		}
	}
	return worst
}

// TestMixedBFloat16MatchesKeras: a small CNN takes 3 SGD steps from the
// same weights on the same batch in Go and in Keras, under float32 and
// under mixed_bfloat16. Float32 agrees within 1e-5. bfloat16 keeps 8
// significant bits (a relative rounding of up to 2^-9), and Keras casts at
// each layer while TensorFlow's rewrite casts around each matrix op, so
// the two mixed runs round in different places: each is held to its
// distance from float32 instead. Go's mixed weights must differ from its
// float32 ones (the rewrite ran), and lie nearer Keras's mixed weights
// than Keras's float32 weights do. The losses are only held to 2^-7, a
// sanity bound: float32's are already that near. (A rewrite of only part
// of the graph could still pass; the bench's speed and the MNIST
// accuracy are the rest of the evidence.)
func TestMixedBFloat16MatchesKeras(t *testing.T) {
	if err := cpuinfo.BFloat16(); err != nil {
		t.Skip(err)
	}
	const steps, n, side = 3, 32, 12
	r := rand.New(rand.NewPCG(5, 1))
	xs := make([]float32, n*side*side)
	for i := range xs {
		xs[i] = float32(r.Float64())
	}
	ys := make([]int32, n)
	for i := range ys {
		ys[i] = int32(i % 10)
	}
	x, err := tfwrap.NewTensor(xs, n, side, side, 1)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := tfwrap.NewTensor(ys)
	data, err := NewDataset(x, y)
	if err != nil {
		t.Fatal(err)
	}
	build := func(precision string) *Sequential {
		relu := layers.WithActivation(layers.ReLU)
		m, err := NewSequential([]int64{side, side, 1}, layers.Conv2D(8, 3, 3, relu), layers.MaxPool2D(2, 2), layers.Flatten(),
			layers.Dense(16, relu), layers.Dense(10, layers.WithActivation(layers.Softmax)))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Compile(CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.SGD(0.1), Seed: 3, Precision: precision}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	w0, err := build("").GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	var weights []tensorJSON
	for _, w := range w0 {
		weights = append(weights, toJSON(t, w))
	}
	var ref map[string]mixedRef
	in := map[string]any{"weights": weights, "x": toJSON(t, x), "y": toJSON(t, y), "steps": steps, "lr": 0.1}
	if err := pyref.Run("keras_mixed.py", in, &ref); err != nil {
		t.Fatal(err)
	}
	goRun := func(precision string) ([][]float64, []float64) {
		m := build(precision)
		if err := m.SetWeights(w0); err != nil {
			t.Fatal(err)
		}
		o := fitOpts(steps, n, 1)
		o.NoShuffle = true
		h, err := m.Fit(context.Background(), data, o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.GetWeights()
		if err != nil {
			t.Fatal(err)
		}
		var ws [][]float64
		for _, w := range got {
			if w.DType() != tfwrap.Float32 {
				t.Fatalf("%s: a weight is %v, not float32", precision, w.DType())
			}
			ws = append(ws, floats64(t, w))
		}
		return ws, h.Metrics["loss"]
	}
	goF32, lossF32 := goRun("float32")
	goBF16, lossBF16 := goRun(MixedBFloat16)
	kF32, kBF16 := ref["float32"], ref[MixedBFloat16]
	if kBF16.ComputeDType != "bfloat16" {
		t.Fatalf("Keras's mixed policy computed in %q", kBF16.ComputeDType)
	}
	f32 := maxDiff(goF32, kF32.Weights)
	bf16 := maxDiff(goBF16, kBF16.Weights)
	kerasSpread := maxDiff(kBF16.Weights, kF32.Weights)
	goSpread := maxDiff(goBF16, goF32)
	t.Logf("weights after %d steps: Go-Keras float32 %.2g, Go-Keras mixed %.2g; mixed-float32 Keras %.2g, Go %.2g", steps, f32, bf16, kerasSpread, goSpread)
	t.Logf("losses: Go float32 %v, Keras %v; Go mixed %v, Keras %v", lossF32, kF32.Losses, lossBF16, kBF16.Losses)
	if f32 > 1e-5 {
		t.Errorf("float32: Go's weights differ from Keras's by %.3g (> 1e-5)", f32)
	}
	if goSpread < 1e-4 {
		t.Errorf("mixed_bfloat16 weights within %.2g of float32: the bfloat16 rewrite did not run", goSpread)
	}
	if bf16 > kerasSpread {
		t.Errorf("mixed_bfloat16: Go's weights differ from Keras's by %.3g, more than Keras's mixed differ from its float32 (%.3g)", bf16, kerasSpread)
	}
	for i := range lossBF16 {
		if d := math.Abs(lossBF16[i]-kBF16.Losses[i]) / kBF16.Losses[i]; d > 1.0/128 {
			t.Errorf("mixed_bfloat16 step %d: loss %.6g in Go, %.6g in Keras (relative %.3g > 2^-7)", i+1, lossBF16[i], kBF16.Losses[i], d)
		}
	}
}

// TestPrecisionErrors: an unknown policy is an error naming it, and
// mixed_bfloat16 where it cannot run says why.
func TestPrecisionErrors(t *testing.T) {
	m, err := NewSequential([]int64{4}, layers.Dense(2))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	err = m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1), Precision: "mixed_float16"})
	if err == nil || !strings.Contains(err.Error(), `precision "mixed_float16"`) || !strings.Contains(err.Error(), MixedBFloat16) {
		t.Fatalf("mixed_float16: %v", err)
	}
	err = m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1), Precision: MixedBFloat16})
	if want := cpuinfo.BFloat16(); want != nil {
		if !errors.Is(err, cpuinfo.ErrNoBFloat16) {
			t.Fatalf("mixed_bfloat16 without support: %v, want %v", err, want)
		}
	} else if err != nil {
		t.Fatal(err)
	}
}
