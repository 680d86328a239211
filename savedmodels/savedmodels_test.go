package savedmodels

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

func tensor(t *testing.T, data []float32, dims ...int64) *tfwrap.Tensor {
	t.Helper()
	x, err := tfwrap.NewTensor(data, dims...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func values(t *testing.T, x *tfwrap.Tensor) []float64 {
	t.Helper()
	v, err := x.Float64sAny()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func near(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// trained returns a small CNN trained for one epoch on random data.
func trained(t *testing.T) *models.Sequential {
	t.Helper()
	m, err := models.NewSequential([]int64{6, 6, 1},
		layers.Conv2D(3, 3, 3, layers.WithActivation(layers.ReLU)),
		layers.BatchNormalization(),
		layers.Flatten(),
		layers.Dropout(0.2),
		layers.Dense(4, layers.WithActivation(layers.Softmax)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(models.CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.Adam(0.01), Seed: 4}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	xs := make([]float32, 32*36)
	ys := make([]int32, 32)
	for i := range xs {
		xs[i] = float32(math.Sin(float64(i) * 0.37))
	}
	for i := range ys {
		ys[i] = int32(i % 4)
	}
	y, _ := tfwrap.NewTensor(ys)
	d, err := models.NewDataset(tensor(t, xs, 32, 6, 6, 1), y)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Fit(context.Background(), d, models.FitOptions{Epochs: 2, BatchSize: 8, Progress: models.ProgressSilent, Output: io.Discard}); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPredictBadInput(t *testing.T) {
	loaded := exportedAndLoaded(t)
	good := tensor(t, make([]float32, 36), 1, 6, 6, 1)
	in := func(name string, x *tfwrap.Tensor) map[string]*tfwrap.Tensor {
		return map[string]*tfwrap.Tensor{name: x}
	}
	ints, _ := tfwrap.NewTensor(make([]int32, 36), 1, 6, 6, 1)
	tests := []struct {
		name   string
		sig    string
		inputs map[string]*tfwrap.Tensor
		want   string
	}{
		{"unknown signature", "predict", in("inputs", good), "signature not found"},
		{"misspelt input", DefaultSignature, in("input", good), `has no input "input" (did you mean "inputs"?)`},
		{"extra input", DefaultSignature, map[string]*tfwrap.Tensor{"inputs": good, "extra": good}, `has no input "extra"`},
		{"missing input", DefaultSignature, map[string]*tfwrap.Tensor{}, `needs input "inputs"`},
		{"nil input", DefaultSignature, in("inputs", nil), "is nil"},
		{"dtype", DefaultSignature, in("inputs", ints), "is int32, signature \"serving_default\" wants float32"},
		{"rank", DefaultSignature, in("inputs", tensor(t, make([]float32, 36), 1, 36)), "has rank 2"},
		{"dimension", DefaultSignature, in("inputs", tensor(t, make([]float32, 35), 1, 5, 7, 1)), "dimension 1 is 5, signature \"serving_default\" wants 6"},
		{"zero batch", DefaultSignature, in("inputs", tensor(t, nil, 0, 6, 6, 1)), "dimension 0 is 0, want at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loaded.Predict(tt.sig, tt.inputs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := loaded.Predict(DefaultSignature, in("input", good)); !errors.Is(err, ErrBadInput) {
		t.Fatalf("bad input is not ErrBadInput: %v", err)
	}
	// Concurrent callers share the session; Close waits for them.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if _, err := loaded.Predict(DefaultSignature, in("inputs", good)); err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("concurrent predict: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := loaded.Close(); err != nil {
		t.Fatal(err)
	}
	if err := loaded.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := loaded.Predict(DefaultSignature, in("inputs", good)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	for name, d := range map[string]string{"missing": filepath.Join(t.TempDir(), "none"), "empty": t.TempDir()} {
		if _, err := Load(d); err == nil {
			t.Fatalf("%s folder loaded", name)
		}
	}
	dir := loaded.Dir()
	os.RemoveAll(filepath.Join(dir, "variables"))
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "variables") {
		t.Fatalf("missing variables: %v", err)
	}
}

// TestSignatureKeysAndClose: "" means serving_default, an unknown key gets
// a did-you-mean, and after Close every method that can fail returns an
// error wrapping the one tfwrap.ErrClosed.
func TestSignatureKeysAndClose(t *testing.T) {
	loaded := exportedAndLoaded(t)
	x := map[string]*tfwrap.Tensor{"inputs": tensor(t, make([]float32, 36), 1, 6, 6, 1)}
	byDefault, err := loaded.Predict("", x)
	if err != nil {
		t.Fatalf(`Predict(""): %v`, err)
	}
	named, err := loaded.Predict(DefaultSignature, x)
	if err != nil {
		t.Fatal(err)
	}
	near(t, `Predict("") = Predict(serving_default)`, values(t, byDefault["outputs"]), values(t, named["outputs"]), 0)
	if _, err := loaded.Signature("serving_defualt"); !errors.Is(err, ErrSignatureNotFound) || !strings.Contains(err.Error(), `did you mean "serving_default"?`) {
		t.Fatalf("misspelt key: %v", err)
	}
	if err := loaded.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := loaded.Signature(DefaultSignature); !errors.Is(err, tfwrap.ErrClosed) {
		t.Fatalf("Signature after Close: %v, want tfwrap.ErrClosed", err)
	}
	if _, err := loaded.Predict("", x); !errors.Is(err, tfwrap.ErrClosed) || !errors.Is(err, ErrClosed) || !errors.Is(err, models.ErrClosed) {
		t.Fatalf("Predict after Close: %v, want the one ErrClosed", err)
	}
}

// exportedAndLoaded exports trained(t) and loads it back.
func exportedAndLoaded(t *testing.T) *Model {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "m")
	if err := trained(t).Export(dir); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return loaded
}
