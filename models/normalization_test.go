package models

import (
	"context"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestNormalizationMatchesKeras: layers.Adapt gives Keras's adapt
// statistics within 1e-6 (relative), and a model holding the layer with
// those statistics gives Keras's outputs within 1e-6, normalizing and
// inverted; a feature of zero variance divides by Keras's epsilon.
func TestNormalizationMatchesKeras(t *testing.T) {
	const f = 6
	r := rand.New(rand.NewSource(11))
	data := make([]float32, 500*f)
	for i := range data {
		switch i % f {
		case 0:
			data[i] = float32(r.NormFloat64())
		case 1:
			data[i] = float32(1000 + 50*r.NormFloat64())
		case 2:
			data[i] = float32(r.Intn(3))
		case 3:
			data[i] = 7 // constant: variance 0
		default:
			data[i] = float32(r.ExpFloat64() * 1e-3)
		}
	}
	x := make([]float32, 20*f)
	for i := range x {
		x[i] = data[(i*37)%len(data)] * 1.1
	}
	var want struct{ Mean, Variance, Y, Inverted []float64 }
	if err := pyref.Run("keras_normalization.py", map[string]any{"data": data, "features": f, "x": x}, &want); err != nil {
		t.Fatal(err)
	}
	mean, variance, err := layers.Adapt(data, f)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < f; i++ {
		if !closeRel(float64(mean[i]), want.Mean[i], 1e-6) || !closeRel(float64(variance[i]), want.Variance[i], 1e-6) {
			t.Errorf("feature %d: mean %v variance %v; Keras %v %v", i, mean[i], variance[i], want.Mean[i], want.Variance[i])
		}
	}
	// The layer's own arithmetic, on Keras's statistics: numpy sums
	// float32 in float32, so its mean of the feature near 1000 is off by
	// about 5e-7 of itself, which the normalized output, near 1, shows as
	// 1e-5; Adapt sums in float64.
	km, kv := make([]float32, f), make([]float32, f)
	for i := range km {
		km[i], kv[i] = float32(want.Mean[i]), float32(want.Variance[i])
	}
	for _, inv := range []bool{false, true} {
		// An identity Dense after it: Compile wants a weight to train, and
		// x·I + 0 is exact in float32.
		m, err := NewSequential([]int64{f}, layers.Normalization(layers.NormalizationOptions{Mean: km, Variance: kv, Invert: inv}), layers.Dense(f))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1)}); err != nil {
			t.Fatal(err)
		}
		eye := make([]float32, f*f)
		for i := 0; i < f; i++ {
			eye[i*f+i] = 1
		}
		kernel, _ := tfwrap.NewTensor(eye, f, f)
		bias, _ := tfwrap.NewTensor(make([]float32, f), f)
		if err := m.SetWeights([]*tfwrap.Tensor{kernel, bias}); err != nil {
			t.Fatal(err)
		}
		xt, _ := tfwrap.NewTensor(x, 20, f)
		out, err := m.Predict(xt, PredictOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := out.Float32s()
		ref := want.Y
		if inv {
			ref = want.Inverted
		}
		for i, v := range ref {
			if !closeRel(float64(got[i]), v, 1e-6) {
				t.Fatalf("invert=%v: output %d is %v, Keras %v", inv, i, got[i], v)
			}
		}
		m.Close()
	}
}

func closeRel(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(1, math.Abs(b))
}

// TestNormalizationErrors: statistics that do not fit are errors naming
// them, at Adapt or when the model is built.
func TestNormalizationErrors(t *testing.T) {
	if _, _, err := layers.Adapt([]float32{1, 2, 3}, 2); err == nil {
		t.Error("3 values adapted as rows of 2")
	}
	if _, _, err := layers.Adapt([]float32{1, float32(math.NaN())}, 2); err == nil || !strings.Contains(err.Error(), "feature 1") {
		t.Errorf("NaN: %v", err)
	}
	for _, c := range []struct {
		o    layers.NormalizationOptions
		want string
	}{
		{layers.NormalizationOptions{}, "compute them with layers.Adapt"},
		{layers.NormalizationOptions{Mean: []float32{0, 0}, Variance: []float32{1}}, "of one length"},
		{layers.NormalizationOptions{Mean: []float32{0, 0}, Variance: []float32{1, -1}}, "not negative"},
		{layers.NormalizationOptions{Mean: []float32{0, 0, 0}, Variance: []float32{1, 1, 1}}, "the 3 features"},
	} {
		if _, err := NewSequential([]int64{2}, layers.Normalization(c.o)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	// The layer's config rebuilds it.
	l := layers.Normalization(layers.NormalizationOptions{Mean: []float32{1, 2}, Variance: []float32{3, 4}, Invert: true}, layers.WithName("norm"))
	back, err := layers.FromConfig(l.Config())
	if err != nil {
		t.Fatal(err)
	}
	if c := back.Config(); c.Type != "Normalization" || c.Name != "norm" || !c.Invert || c.Mean[1] != 2 || c.Variance[1] != 4 {
		t.Errorf("config round trip: %+v", c)
	}
}

// TestRandomFlipInAModel: a model that flips its images trains (the
// layer gets the model's step) and predicts without flipping: two
// predictions agree.
func TestRandomFlipInAModel(t *testing.T) {
	m, err := NewSequential([]int64{4, 4, 1}, layers.RandomFlip(""), layers.Flatten(), layers.Dense(2, layers.WithActivation(layers.Softmax)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Compile(CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.SGD(0.1), Seed: 3}); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 32*16)
	y := make([]int32, 32)
	for i := range x {
		x[i] = float32(i%7) / 7
	}
	for i := range y {
		y[i] = int32(i % 2)
	}
	xt, _ := tfwrap.NewTensor(x, 32, 4, 4, 1)
	yt, _ := tfwrap.NewTensor(y, 32)
	ds, err := NewDataset(xt, yt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Fit(context.Background(), ds, FitOptions{Epochs: 2, BatchSize: 8, Progress: ProgressSilent}); err != nil {
		t.Fatal(err)
	}
	a, err := m.Predict(xt, PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Predict(xt, PredictOptions{})
	av, _ := a.Float32s()
	bv, _ := b.Float32s()
	for i := range av {
		if av[i] != bv[i] {
			t.Fatalf("prediction %d differs between calls: %v, %v (flipped at inference?)", i, av[i], bv[i])
		}
	}
}

// TestRandomTranslationMatchesKeras: with a fixed move (lower == upper,
// so no randomness is left) the layer's training output is Keras's
// within 1e-5, for each fill mode and both interpolations; at inference
// it is the identity.
func TestRandomTranslationMatchesKeras(t *testing.T) {
	const n, h, w, c = 3, 6, 8, 2
	x := make([]float32, n*h*w*c)
	r := rand.New(rand.NewSource(2))
	for i := range x {
		x[i] = float32(r.Intn(256))
	}
	for _, tc := range []struct {
		height, width [2]float64
		o             layers.TransformOptions
	}{
		{[2]float64{0.25, 0.25}, [2]float64{-0.125, -0.125}, layers.TransformOptions{}},
		{[2]float64{-0.3, -0.3}, [2]float64{0.2, 0.2}, layers.TransformOptions{FillMode: "constant", FillValue: 7}},
		{[2]float64{0.1, 0.1}, [2]float64{0.35, 0.35}, layers.TransformOptions{FillMode: "wrap", Interpolation: "nearest"}},
		{[2]float64{0.5, 0.5}, [2]float64{0, 0}, layers.TransformOptions{FillMode: "nearest"}},
	} {
		o := tc.o
		fill, interp := o.FillMode, o.Interpolation
		if fill == "" {
			fill = "reflect"
		}
		if interp == "" {
			interp = "bilinear"
		}
		var want struct{ Y []float64 }
		req := map[string]any{"x": x, "shape": []int{n, h, w, c}, "height": tc.height, "width": tc.width,
			"fill_mode": fill, "interpolation": interp, "fill_value": o.FillValue}
		if err := pyref.Run("keras_translation.py", req, &want); err != nil {
			t.Fatal(err)
		}
		g := tfwrap.NewGraph()
		in := g.Placeholder("x", tfwrap.Float32, -1, h, w, c)
		l := layers.RandomTranslation(tc.height, tc.width, o)
		out, err := l.Forward(&layers.Context{Graph: g, Training: true, Seed: 1, Step: g.Const(tfwrap.Scalar(int64(0)))}, in)
		if err != nil {
			t.Fatal(err)
		}
		s, err := g.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		xt, _ := tfwrap.NewTensor(x, n, h, w, c)
		res, err := s.Eval(out, tfwrap.Feeds{in: xt})
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := res.Float32s()
		for i, v := range want.Y {
			if !closeRel(float64(got[i]), v, 1e-5) {
				t.Fatalf("%+v: value %d is %v, Keras %v", tc, i, got[i], v)
			}
		}
		if inf, err := l.Forward(&layers.Context{Graph: g, Training: false}, in); err != nil || inf != in {
			t.Errorf("not the identity at inference: %v", err)
		}
	}
	if _, err := NewSequential([]int64{4, 4, 1}, layers.RandomTranslation([2]float64{0.5, 0.1}, [2]float64{0, 0}, layers.TransformOptions{})); err == nil {
		t.Error("lower > upper was taken")
	}
	if _, err := NewSequential([]int64{4, 4, 1}, layers.RandomTranslation([2]float64{0, 0}, [2]float64{0, 0}, layers.TransformOptions{FillMode: "mirror"})); err == nil {
		t.Error("an unknown fill mode was taken")
	}
}
