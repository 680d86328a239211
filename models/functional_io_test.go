package models

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

// twoHeads is a compiled functional model of two inputs ("pixels",
// "meta") and two outputs ("digit", "size"), with Dropout and Adam, so
// that resuming must restore the optimizer's slots and the step count.
func twoHeads(t *testing.T) *Model {
	t.Helper()
	p, q := Input("pixels", 6), Input("meta", 3)
	x := CallMulti(layers.Concatenate(-1), Call(layers.Dense(8, layers.WithActivation(layers.ReLU)), p), q)
	x = Call(layers.Dropout(0.3), x)
	digit := Call(layers.Dense(3, layers.WithActivation(layers.Softmax), layers.WithName("digit")), x)
	size := Call(layers.Dense(1, layers.WithName("size")), x)
	m, err := NewModel("two_heads", []*Symbol{p, q}, []*Symbol{digit, size})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Compile(CompileOptions{
		Losses:      map[string]losses.Loss{"digit": losses.SparseCategoricalCrossentropy{}, "size": losses.MeanSquaredError{}},
		LossWeights: map[string]float64{"size": 0.2},
		Metrics:     []metrics.Metric{},
		OutputMetrics: map[string][]metrics.Metric{
			"digit": {metrics.SparseCategoricalAccuracy{}},
		},
		Optimizer: optimizers.Adam(0.01), Seed: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// twoHeadsData: the digit is the largest of the first three pixels, the
// size the sum of meta.
func twoHeadsData(t *testing.T, n int, named bool) *Dataset {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n), 3))
	px, meta := make([]float32, n*6), make([]float32, n*3)
	digit, size := make([]int32, n), make([]float32, n)
	for i := 0; i < n; i++ {
		for j := 0; j < 6; j++ {
			px[i*6+j] = r.Float32()
		}
		for j := 0; j < 3; j++ {
			meta[i*3+j] = r.Float32()
			size[i] += meta[i*3+j]
		}
		for j := 1; j < 3; j++ {
			if px[i*6+j] > px[i*6+int(digit[i])] {
				digit[i] = int32(j)
			}
		}
	}
	mk := func(x *tfwrap.Tensor, err error) *tfwrap.Tensor {
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	x := []*tfwrap.Tensor{mk(tfwrap.NewTensor(px, int64(n), 6)), mk(tfwrap.NewTensor(meta, int64(n), 3))}
	y := []*tfwrap.Tensor{mk(tfwrap.NewTensor(digit, int64(n))), mk(tfwrap.NewTensor(size, int64(n), 1))}
	var d *Dataset
	var err error
	if named {
		d, err = NewNamedDataset(map[string]*tfwrap.Tensor{"pixels": x[0], "meta": x[1]}, map[string]*tfwrap.Tensor{"digit": y[0], "size": y[1]})
	} else {
		d, err = NewMultiDataset(x, y)
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestFunctionalLearnsNamedData trains on data given by name, reports
// Keras's per-output logs, and predicts by name and by position alike.
func TestFunctionalLearnsNamedData(t *testing.T) {
	m := twoHeads(t)
	train := twoHeadsData(t, 512, true)
	h, err := m.Fit(context.Background(), train, FitOptions{Epochs: 30, BatchSize: 32, Seed: 1, Progress: ProgressSilent, Output: io.Discard, ValidationSplit: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"loss", "digit_loss", "size_loss", "digit_accuracy", "val_loss", "val_digit_loss", "val_size_loss", "val_digit_accuracy"} {
		if len(h.Metrics[k]) != 30 {
			t.Fatalf("history lacks %s: %v", k, h.Metrics)
		}
	}
	last := func(k string) float64 { return h.Metrics[k][29] }
	// The total is the weighted sum of the outputs' losses.
	if d := math.Abs(last("loss") - (last("digit_loss") + 0.2*last("size_loss"))); d > 1e-4 {
		t.Errorf("loss %v is not digit_loss + 0.2·size_loss (%v, %v)", last("loss"), last("digit_loss"), last("size_loss"))
	}
	test := twoHeadsData(t, 200, false)
	logs, err := m.Evaluate(test, EvaluateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("test: %v", logs)
	// Predicting the mean size would lose about 0.25.
	if logs["digit_accuracy"] < 0.85 || logs["size_loss"] > 0.1 {
		t.Errorf("after training: %v", logs)
	}
	byName, err := m.PredictNamed(map[string]*tfwrap.Tensor{"meta": test.Inputs()[1], "pixels": test.Inputs()[0]}, PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byPos, err := m.PredictAll(test.Inputs(), PredictOptions{BatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "digit by name and by position", floats64(t, byName["digit"]), floats64(t, byPos[0]), 1e-6)
	closeTo(t, "size by name and by position", floats64(t, byName["size"]), floats64(t, byPos[1]), 1e-6)
	if _, err := m.Predict(test.X(), PredictOptions{}); err == nil || !strings.Contains(err.Error(), "use PredictAll or PredictNamed") {
		t.Errorf("Predict on a two-input model: %v", err)
	}
}

// TestFunctionalResumeEqualsUninterrupted: a checkpoint of a functional
// model (Adam slots, step count for the dropout masks, epochs) resumes
// exactly as the uninterrupted run.
func TestFunctionalResumeEqualsUninterrupted(t *testing.T) {
	d := twoHeadsData(t, 96, false)
	opts := FitOptions{Epochs: 4, BatchSize: 16, Seed: 9, Progress: ProgressSilent, Output: io.Discard}
	whole := twoHeads(t)
	if _, err := whole.Fit(context.Background(), d, opts); err != nil {
		t.Fatal(err)
	}
	want := allWeights(t, whole)
	mgr := &CheckpointManager{Dir: filepath.Join(t.TempDir(), "ckpts")}
	first := twoHeads(t)
	part := opts
	part.Epochs = 2
	if _, err := first.Fit(context.Background(), d, part); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Save(first, 2); err != nil {
		t.Fatal(err)
	}
	second := twoHeads(t)
	done, err := mgr.Restore(second)
	if err != nil || done != 2 {
		t.Fatalf("restore: %d epochs, %v", done, err)
	}
	rest := opts
	rest.InitialEpoch = done
	if _, err := second.Fit(context.Background(), d, rest); err != nil {
		t.Fatal(err)
	}
	closeTo(t, "resumed weights", allWeights(t, second), want, 0)

	// Weights by file, too.
	prefix := filepath.Join(t.TempDir(), "w")
	if err := second.SaveWeights(prefix); err != nil {
		t.Fatal(err)
	}
	third := twoHeads(t)
	if err := third.LoadWeights(prefix); err != nil {
		t.Fatal(err)
	}
	closeTo(t, "loaded weights", allWeights(t, third), want, 0)
}

// TestFunctionalExportNamedSignature exports a two-input, two-output
// model: the serving signature takes "pixels" and "meta" and returns
// "digit" and "size", and Python TF and savedmodels.Load compute Go's
// outputs from it.
func TestFunctionalExportNamedSignature(t *testing.T) {
	m := twoHeads(t)
	d := twoHeadsData(t, 64, false)
	if _, err := m.Fit(context.Background(), d, FitOptions{Epochs: 2, Progress: ProgressSilent, Output: io.Discard}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "two_heads", "1")
	if err := m.Export(dir); err != nil {
		t.Fatal(err)
	}
	sub, err := d.Subset([]int{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	goOut, err := m.PredictAll(sub.Inputs(), PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	px, _ := sub.Inputs()[0].Float32s()
	meta, _ := sub.Inputs()[1].Float32s()
	var ref struct {
		Outputs map[string][]float64 `json:"outputs"`
		CLI     string               `json:"cli"`
	}
	in := map[string]any{"dir": dir, "signature": tfwrap.DefaultSignature, "inputs": map[string]any{
		"pixels": map[string]any{"shape": []int{3, 6}, "data": px},
		"meta":   map[string]any{"shape": []int{3, 3}, "data": meta},
	}}
	if err := pyref.Run("call_savedmodel.py", in, &ref); err != nil {
		t.Fatal(err)
	}
	closeTo(t, "Python's digit", floats64(t, goOut[0]), ref.Outputs["digit"], 1e-5)
	closeTo(t, "Python's size", floats64(t, goOut[1]), ref.Outputs["size"], 1e-5)
	for _, want := range []string{"inputs['pixels'] tensor_info", "inputs['meta'] tensor_info", "outputs['digit'] tensor_info", "outputs['size'] tensor_info"} {
		if !strings.Contains(ref.CLI, want) {
			t.Fatalf("saved_model_cli output lacks %q:\n%s", want, ref.CLI)
		}
	}
	loaded, err := savedmodels.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	res, err := loaded.Predict(tfwrap.DefaultSignature, map[string]*tfwrap.Tensor{"pixels": sub.Inputs()[0], "meta": sub.Inputs()[1]})
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "reloaded digit", floats64(t, res["digit"]), floats64(t, goOut[0]), 1e-6)
	closeTo(t, "reloaded size", floats64(t, res["size"]), floats64(t, goOut[1]), 1e-6)
}

// TestFrozenParamsCountAsKeras: a frozen layer's weights count as
// non-trainable, as Keras's summary counts them after trainable = False
// (Dense 4→3 frozen: 15; Dense 3→2: 8 trainable; BatchNormalization on 3:
// 6 trainable, 6 not).
func TestFrozenParamsCountAsKeras(t *testing.T) {
	a := Input("a", 4)
	h := Call(layers.Dense(3, layers.Frozen()), a)
	h = Call(layers.BatchNormalization(), h)
	m, err := NewModel("", []*Symbol{a}, []*Symbol{Call(layers.Dense(2), h)})
	if err != nil {
		t.Fatal(err)
	}
	if tr, nt := m.ParamCount(); tr != 14 || nt != 21 {
		t.Fatalf("params: %d trainable, %d not; Keras: 14, 21", tr, nt)
	}
	if s := m.Summary(); !strings.Contains(s, "Trainable params: 14 ") || !strings.Contains(s, "Non-trainable params: 21 ") {
		t.Fatalf("summary:\n%s", s)
	}
}
