package course

import (
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

func rows(t *testing.T, x *tfwrap.Tensor) [][]float32 {
	t.Helper()
	v, err := x.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	s := x.Shape()
	out := make([][]float32, s[0])
	for i := range out {
		out[i] = v[i*int(s[1]) : (i+1)*int(s[1])]
	}
	return out
}

// TestPerceptronMatchesPython trains the same perceptron, from the same
// weights on the same data, in Go and in Python TensorFlow and compares the
// loss after every step, the final weights and the predictions.
func TestPerceptronMatchesPython(t *testing.T) {
	const steps = 60
	x, y, err := TwoClusters(500, 7)
	if err != nil {
		t.Fatal(err)
	}
	w0 := []float32{0.3, 0.8}
	b0 := []float32{0}
	p, err := NewPerceptron(2, 1, PerceptronOptions{LearningRate: 0.1, InitialW: w0, InitialB: b0})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	losses := make([]float64, steps)
	for i := range losses {
		l, err := p.TrainStep(x, y)
		if err != nil {
			t.Fatal(err)
		}
		losses[i] = float64(l)
	}
	W, b, err := p.Weights()
	if err != nil {
		t.Fatal(err)
	}
	pred, err := p.Predict(x)
	if err != nil {
		t.Fatal(err)
	}

	var ref struct {
		Losses      []float64   `json:"losses"`
		W           [][]float64 `json:"W"`
		B           []float64   `json:"b"`
		Predictions [][]float64 `json:"predictions"`
	}
	in := map[string]any{"x": rows(t, x), "labels": rows(t, y), "W": [][]float32{{w0[0]}, {w0[1]}}, "b": b0, "lr": 0.1, "steps": steps}
	if err := pyref.Run("perceptron.py", in, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Losses) != steps {
		t.Fatalf("Python gave %d losses", len(ref.Losses))
	}
	for i := range losses {
		if d := math.Abs(losses[i] - ref.Losses[i]); d > 1e-5 {
			t.Fatalf("step %d: Go loss %.8f, Python %.8f (diff %.2g)", i, losses[i], ref.Losses[i], d)
		}
	}
	for i, w := range []float64{ref.W[0][0], ref.W[1][0], ref.B[0]} {
		got := float64(append(W, b...)[i])
		if math.Abs(got-w) > 1e-5 {
			t.Fatalf("weight %d: Go %.7f, Python %.7f", i, got, w)
		}
	}
	pv, _ := pred.Float32s()
	for i, r := range ref.Predictions {
		if math.Abs(float64(pv[i])-r[0]) > 1e-5 {
			t.Fatalf("prediction %d: Go %v, Python %v", i, pv[i], r[0])
		}
	}
	t.Logf("loss %.5f -> %.5f over %d steps; Go and Python agree within 1e-5", losses[0], losses[steps-1], steps)
	// It learned: the loss fell by more than half.
	if losses[steps-1] > losses[0]/2 {
		t.Fatalf("loss did not fall: %v -> %v", losses[0], losses[steps-1])
	}
}

func TestPerceptronBadInput(t *testing.T) {
	p, err := NewPerceptron(2, 1, PerceptronOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	x := func(data []float32, dims ...int64) *tfwrap.Tensor {
		v, err := tfwrap.NewTensor(data, dims...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	good := x([]float32{1, 2}, 1, 2)
	label := x([]float32{1}, 1, 1)
	tests := []struct {
		name string
		err  func() error
		want string
	}{
		{"zero inputs", func() error { _, err := NewPerceptron(0, 1, PerceptronOptions{}); return err }, "at least one input"},
		{"negative lr", func() error { _, err := NewPerceptron(2, 1, PerceptronOptions{LearningRate: -1}); return err }, "learning rate"},
		{"NaN lr", func() error { _, err := NewPerceptron(2, 1, PerceptronOptions{LearningRate: math.NaN()}); return err }, "learning rate"},
		{"short W", func() error { _, err := NewPerceptron(2, 1, PerceptronOptions{InitialW: []float32{1}}); return err }, "InitialW has 1 values, want 2"},
		{"short b", func() error { _, err := NewPerceptron(2, 2, PerceptronOptions{InitialB: []float32{1}}); return err }, "InitialB has 1 values, want 2"},
		{"nil x", func() error { _, err := p.Predict(nil); return err }, "inputs are nil"},
		{"int x", func() error { _, err := p.Predict(tfwrap.Scalar(int32(1))); return err }, "inputs are int32"},
		{"x wrong width", func() error { _, err := p.Predict(x([]float32{1, 2, 3}, 1, 3)); return err }, "want (n, 2)"},
		{"x rank 1", func() error { _, err := p.Predict(x([]float32{1, 2})); return err }, "want (n, 2)"},
		{"empty x", func() error { _, err := p.Predict(x([]float32{}, 0, 2)); return err }, "no samples"},
		{"nil labels", func() error { _, err := p.TrainStep(good, nil); return err }, "labels are nil"},
		{"labels dtype", func() error { _, err := p.TrainStep(good, tfwrap.Scalar(1.0)); return err }, "labels are float64"},
		{"labels rows", func() error { _, err := p.TrainStep(good, x([]float32{1, 0}, 2, 1)); return err }, "want (1, 1)"},
		{"loss labels", func() error { _, err := p.Loss(good, x([]float32{1}, 1)); return err }, "want (1, 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil || !contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := p.TrainStep(good, label); err != nil {
		t.Fatalf("a good step after bad ones: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for name, err := range map[string]error{
		"Predict":   func() error { _, err := p.Predict(good); return err }(),
		"TrainStep": func() error { _, err := p.TrainStep(good, label); return err }(),
		"Loss":      func() error { _, err := p.Loss(good, label); return err }(),
		"Weights":   func() error { _, _, err := p.Weights(); return err }(),
	} {
		if !errors.Is(err, models.ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
	if _, _, err := TwoClusters(0, 1); err == nil {
		t.Error("TwoClusters(0) gave no error")
	}
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}

// The perceptron is also one Dense layer with a ReLU, trained by plain SGD
// on the MSE over the whole batch: both give the same losses step by step.
func TestPerceptronIsOneDenseLayer(t *testing.T) {
	x, y, err := TwoClusters(100, 3)
	if err != nil {
		t.Fatal(err)
	}
	w0, b0 := []float32{0.4, 0.7}, []float32{0.1}
	p, err := NewPerceptron(2, 1, PerceptronOptions{LearningRate: 0.1, InitialW: w0, InitialB: b0})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m, err := models.NewSequential([]int64{2}, layers.Dense(1, layers.WithActivation(layers.ReLU)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(models.CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1)}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	wt, _ := tfwrap.NewTensor(w0, 2, 1)
	bt, _ := tfwrap.NewTensor(b0, 1)
	if err := m.SetWeights([]*tfwrap.Tensor{wt, bt}); err != nil {
		t.Fatal(err)
	}
	d, _ := models.NewDataset(x, y)
	for step := 0; step < 20; step++ {
		want, err := p.TrainStep(x, y)
		if err != nil {
			t.Fatal(err)
		}
		h, err := m.Fit(context.Background(), d, models.FitOptions{BatchSize: 200, NoShuffle: true, Progress: models.ProgressSilent, Output: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := h.Last("loss"); math.Abs(got-float64(want)) > 1e-6 {
			t.Fatalf("step %d: Dense loss %v, perceptron %v", step, got, want)
		}
	}
}
