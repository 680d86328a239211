package models

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// toyData is a learnable 3-class problem on 6 features.
func toyData(t *testing.T, n int, seed uint64) *Dataset {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	xs := make([]float32, n*6)
	ys := make([]int32, n)
	for i := 0; i < n; i++ {
		var s float32
		for j := 0; j < 6; j++ {
			xs[i*6+j] = float32(r.NormFloat64())
			s += xs[i*6+j] * float32(j-2)
		}
		switch {
		case s < -1:
			ys[i] = 0
		case s < 1:
			ys[i] = 1
		default:
			ys[i] = 2
		}
	}
	x, err := tfwrap.NewTensor(xs, int64(n), 6)
	if err != nil {
		t.Fatal(err)
	}
	y, err := tfwrap.NewTensor(ys)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDataset(x, y)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func toyModel(t *testing.T, seed uint64, extra ...layers.Layer) *Sequential {
	t.Helper()
	ls := append([]layers.Layer{layers.Dense(16, layers.WithActivation(layers.ReLU))}, extra...)
	ls = append(ls, layers.Dense(3, layers.WithActivation(layers.Softmax)))
	m, err := NewSequential([]int64{6}, ls...)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(CompileOptions{
		Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.Adam(0.01),
		Metrics: []metrics.Metric{metrics.SparseCategoricalAccuracy{}}, Seed: seed,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

var quiet = FitOptions{Output: io.Discard, Progress: ProgressSilent}

func fitOpts(epochs, batch int, seed uint64) FitOptions {
	o := quiet
	o.Epochs, o.BatchSize, o.Seed = epochs, batch, seed
	return o
}

func TestFitLearnsAndEvaluates(t *testing.T) {
	m := toyModel(t, 1)
	train, test := toyData(t, 600, 1), toyData(t, 200, 2)
	o := fitOpts(15, 32, 1)
	o.ValidationData = test
	h, err := m.Fit(context.Background(), train, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Epochs) != 15 || len(h.Metrics["val_accuracy"]) != 15 {
		t.Fatalf("history: %v", h.Metrics)
	}
	first, last := h.Metrics["loss"][0], h.Metrics["loss"][14]
	if !(last < first/2) {
		t.Fatalf("loss did not fall: %v -> %v", first, last)
	}
	logs, err := m.Evaluate(test, EvaluateOptions{BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	if logs["accuracy"] < 0.85 {
		t.Fatalf("test accuracy %v", logs["accuracy"])
	}
	// Evaluate's numbers are those Fit reported for the same data.
	if v, _ := h.Last("val_loss"); math.Abs(v-logs["loss"]) > 1e-5 {
		t.Fatalf("Evaluate loss %v, last val_loss %v", logs["loss"], v)
	}
	// Predict's argmax agrees with the accuracy.
	p, err := m.Predict(test.X(), PredictOptions{BatchSize: 48})
	if err != nil {
		t.Fatal(err)
	}
	pv, _ := p.Float32s()
	ids, _ := test.Y().Int32s()
	correct := 0
	for i, id := range ids {
		best := 0
		for k := 1; k < 3; k++ {
			if pv[i*3+k] > pv[i*3+best] {
				best = k
			}
		}
		if int32(best) == id {
			correct++
		}
	}
	if got := float64(correct) / float64(len(ids)); math.Abs(got-logs["accuracy"]) > 1e-9 {
		t.Fatalf("Predict accuracy %v, Evaluate %v", got, logs["accuracy"])
	}
}

func weightsOf(t *testing.T, m *Sequential) [][]float32 {
	t.Helper()
	ws, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]float32, len(ws))
	for i, w := range ws {
		out[i], _ = w.Float32s()
	}
	return out
}

func equalWeights(a, b [][]float32) bool {
	for i := range a {
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

func TestSameSeedSameRun(t *testing.T) {
	train := toyData(t, 300, 3)
	run := func(seed uint64) [][]float32 {
		m := toyModel(t, seed, layers.Dropout(0.3))
		if _, err := m.Fit(context.Background(), train, fitOpts(3, 16, seed)); err != nil {
			t.Fatal(err)
		}
		return weightsOf(t, m)
	}
	a, b, c := run(7), run(7), run(8)
	if !equalWeights(a, b) {
		t.Fatal("the same seed gave different weights")
	}
	if equalWeights(a, c) {
		t.Fatal("different seeds gave the same weights")
	}
}

func TestFitCancel(t *testing.T) {
	m := toyModel(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	o := fitOpts(5, 10, 1)
	o.Callbacks = []Callback{CallbackFuncs{BatchEnd: func(_ TrainingView, batch int, logs Logs) error {
		if batch == 3 {
			cancel()
		}
		return nil
	}}}
	h, err := m.Fit(ctx, toyData(t, 100, 1), o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if h == nil || len(h.Epochs) != 0 {
		t.Fatalf("history after a cancel in the first epoch: %+v", h)
	}
	// The model is still usable.
	if _, err := m.Fit(context.Background(), toyData(t, 100, 1), fitOpts(1, 10, 1)); err != nil {
		t.Fatal(err)
	}
}

func TestCallbacksSeeBatchesAndEpochs(t *testing.T) {
	m := toyModel(t, 1)
	var batches, epochs int
	o := fitOpts(3, 25, 1)
	o.Callbacks = []Callback{CallbackFuncs{
		BatchEnd: func(_ TrainingView, _ int, logs Logs) error {
			batches++
			if _, ok := logs["accuracy"]; !ok {
				t.Errorf("batch logs lack accuracy: %v", logs)
			}
			return nil
		},
		EpochEnd: func(m TrainingView, e int, _ Logs) error {
			epochs++
			if e == 1 {
				m.StopTraining()
			}
			return nil
		},
	}}
	h, err := m.Fit(context.Background(), toyData(t, 100, 1), o)
	if err != nil {
		t.Fatal(err)
	}
	if batches != 8 || epochs != 2 || len(h.Epochs) != 2 {
		t.Fatalf("batches %d epochs %d history %d; want 8, 2, 2", batches, epochs, len(h.Epochs))
	}
	boom := errors.New("boom")
	o.Callbacks = []Callback{CallbackFuncs{EpochEnd: func(TrainingView, int, Logs) error { return boom }}}
	if _, err := m.Fit(context.Background(), toyData(t, 100, 1), o); err != boom {
		t.Fatalf("callback error not returned as it is: %v", err)
	}
	o.Callbacks = []Callback{CallbackFuncs{BatchEnd: func(TrainingView, int, Logs) error { return boom }}}
	if _, err := m.Fit(context.Background(), toyData(t, 100, 1), o); err != boom {
		t.Fatalf("batch callback error not returned as it is: %v", err)
	}
}

// stepCounter is a Loop hook given to Fit: it counts steps, reads the
// running logs, reads the weights (a read-only call, as callbacks make),
// and adds a log of its own at each epoch's end.
type stepCounter struct {
	m     *Model
	steps int
}

func (h *stepCounter) Name() string { return "step counter" }

func (h *stepCounter) OnStepEnd(_ *LoopRun, _ int, logs func() (Logs, error)) error {
	l, err := logs()
	if err != nil {
		return err
	}
	if _, ok := l["loss"]; !ok {
		return fmt.Errorf("step logs lack the loss: %v", l)
	}
	h.steps++
	return nil
}

func (h *stepCounter) OnEpochEnd(_ *LoopRun, _ int, logs Logs) error {
	if _, err := h.m.GetWeights(); err != nil {
		return err
	}
	logs["steps_so_far"] = float64(h.steps)
	if _, ok := logs["val_loss"]; !ok {
		return errors.New("epoch logs lack val_loss: validation runs before the hooks")
	}
	return nil
}

// TestFitHooks: Loop hooks given to Fit see every step and every epoch,
// after validation, and what they add to the logs reaches the history.
func TestFitHooks(t *testing.T) {
	m := toyModel(t, 1)
	h := &stepCounter{m: m}
	o := fitOpts(2, 25, 1)
	o.ValidationData = toyData(t, 20, 2)
	o.Hooks = []Hook{h}
	hist, err := m.Fit(context.Background(), toyData(t, 100, 1), o)
	if err != nil {
		t.Fatal(err)
	}
	if h.steps != 8 || fmt.Sprint(hist.Metrics["steps_so_far"]) != "[4 8]" {
		t.Errorf("steps %d, history %v; want 8 steps, [4 8]", h.steps, hist.Metrics["steps_so_far"])
	}
}

// A NaN in the training data is refused before the first step, naming
// the sample, on every CPU: where oneDNN's fused ReLU runs (Intel CPUs
// with AMX by default, or TF_ENABLE_ONEDNN_OPTS=1) it turns the NaN into
// 0 and the loss stays finite, so the loss check alone would miss it.
func TestNaNDataRefused(t *testing.T) {
	m := toyModel(t, 1)
	d := toyData(t, 40, 1)
	xs, _ := d.X().Float32s()
	xs[3*6+2] = float32(math.NaN())
	x, _ := tfwrap.NewTensor(xs, 40, 6)
	bad, _ := NewDataset(x, d.Y())
	before := weightsOf(t, m)
	_, err := m.Fit(context.Background(), bad, fitOpts(1, 40, 1))
	if err == nil || !strings.Contains(err.Error(), "training data: input of sample 3 has NaN at element 2") {
		t.Fatalf("got %v, want the NaN named", err)
	}
	o := fitOpts(1, 40, 1)
	o.ValidationData = bad
	if _, err := m.Fit(context.Background(), d, o); err == nil || !strings.Contains(err.Error(), "validation data: input of sample 3 has NaN") {
		t.Fatalf("validation: got %v, want the NaN named", err)
	}
	if !equalWeights(before, weightsOf(t, m)) {
		t.Fatal("refused data changed the weights")
	}
}

// A loss that overflows (finite data, diverging predictions) stops
// training with an error before the step changes any weight. No ReLU lies
// on the path, so the loss is infinite on every kernel family.
func TestNaNLossStopsTraining(t *testing.T) {
	m, err := NewSequential([]int64{2}, layers.Dense(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.01), Seed: 1}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x, _ := tfwrap.NewTensor([]float32{1e30, 1e30, 1, 2}, 2, 2)
	y, _ := tfwrap.NewTensor([]float32{0, 0}, 2, 1)
	d, _ := NewDataset(x, y)
	before := weightsOf(t, m)
	_, err = m.Fit(context.Background(), d, fitOpts(1, 2, 1))
	if err == nil || !strings.Contains(err.Error(), "NaN or infinite") {
		t.Fatalf("got %v, want a NaN error", err)
	}
	if !equalWeights(before, weightsOf(t, m)) {
		t.Fatal("a NaN step changed the weights")
	}
}

func TestModelBadInput(t *testing.T) {
	m := toyModel(t, 1)
	good := toyData(t, 20, 1)
	f32 := func(data []float32, dims ...int64) *tfwrap.Tensor {
		x, err := tfwrap.NewTensor(data, dims...)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	i32 := func(data []int32, dims ...int64) *tfwrap.Tensor {
		x, err := tfwrap.NewTensor(data, dims...)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	ds := raw
	uncompiled, err := mnistMLP()
	if err != nil {
		t.Fatal(err)
	}
	closed := toyModel(t, 1)
	closed.Close()
	ctx := context.Background()
	tests := []struct {
		name string
		err  func() error
		want string
	}{
		{"fit before compile", func() error { _, err := uncompiled.Fit(ctx, good, quiet); return err }, "not compiled"},
		{"predict before compile", func() error { _, err := uncompiled.Predict(good.X(), PredictOptions{}); return err }, "not compiled"},
		{"label out of range", func() error {
			_, err := m.Fit(ctx, ds(f32(make([]float32, 12), 2, 6), i32([]int32{1, 3})), quiet)
			return err
		}, "label 3 of sample 1 is outside the 3 classes"},
		{"negative label", func() error {
			_, err := m.Evaluate(ds(f32(make([]float32, 6), 1, 6), i32([]int32{-1})), EvaluateOptions{})
			return err
		}, "outside the 3 classes"},
		{"input shape", func() error {
			_, err := m.Fit(ctx, ds(f32(make([]float32, 10), 2, 5), i32([]int32{0, 1})), quiet)
			return err
		}, "inputs have shape (2, 5), the model takes (None, 6)"},
		{"input dtype", func() error {
			_, err := m.Fit(ctx, ds(i32(make([]int32, 12), 2, 6), i32([]int32{0, 1})), quiet)
			return err
		}, "inputs are int32"},
		{"label dtype", func() error {
			_, err := m.Fit(ctx, ds(f32(make([]float32, 12), 2, 6), f32([]float32{0, 1})), quiet)
			return err
		}, "labels are float32"},
		{"label count", func() error {
			_, err := m.Fit(ctx, ds(f32(make([]float32, 12), 2, 6), i32([]int32{0})), quiet)
			return err
		}, "2 inputs but 1 labels"},
		{"label shape", func() error {
			_, err := m.Fit(ctx, ds(f32(make([]float32, 12), 2, 6), i32([]int32{0, 1, 1, 0}, 2, 2)), quiet)
			return err
		}, "labels have shape (2, 2)"},
		{"empty dataset", func() error { _, err := NewDataset(f32(nil, 0, 6), i32(nil, 0)); return err }, "empty"},
		{"empty dataset in fit", func() error { _, err := m.Fit(ctx, ds(f32(nil, 0, 6), i32(nil, 0)), quiet); return err }, "empty"},
		{"nil dataset", func() error { _, err := m.Fit(ctx, nil, quiet); return err }, "is nil"},
		{"negative batch size", func() error { o := quiet; o.BatchSize = -1; _, err := m.Fit(ctx, good, o); return err }, "must not be negative"},
		{"negative epochs", func() error { o := quiet; o.Epochs = -2; _, err := m.Fit(ctx, good, o); return err }, "must not be negative"},
		{"bad validation split", func() error { o := quiet; o.ValidationSplit = 1.5; _, err := m.Fit(ctx, good, o); return err }, "validation split"},
		{"bad validation data", func() error {
			o := quiet
			o.ValidationData = ds(f32(make([]float32, 5), 1, 5), i32([]int32{0}))
			_, err := m.Fit(ctx, good, o)
			return err
		}, "validation data: inputs have shape"},
		{"nil callback", func() error { o := quiet; o.Callbacks = []Callback{nil}; _, err := m.Fit(ctx, good, o); return err }, "callback 0 is nil"},
		{"bad progress", func() error { o := quiet; o.Progress = 9; _, err := m.Fit(ctx, good, o); return err }, "progress mode"},
		{"predict nil", func() error { _, err := m.Predict(nil, PredictOptions{}); return err }, "inputs are nil"},
		{"predict shape", func() error { _, err := m.Predict(f32(make([]float32, 4), 1, 4), PredictOptions{}); return err }, "inputs have shape (1, 4)"},
		{"predict dtype", func() error { _, err := m.Predict(i32(make([]int32, 6), 1, 6), PredictOptions{}); return err }, "inputs are int32"},
		{"predict empty", func() error { _, err := m.Predict(f32(nil, 0, 6), PredictOptions{}); return err }, "no inputs"},
		{"evaluate nil", func() error { _, err := m.Evaluate(nil, EvaluateOptions{}); return err }, "is nil"},
		{"set weights count", func() error { return m.SetWeights(nil) }, "got 0 tensors"},
		{"set weights shape", func() error {
			ws, _ := m.GetWeights()
			ws[0] = f32(make([]float32, 6), 6, 1)
			return m.SetWeights(ws)
		}, "set weights"},
		{"load missing weights", func() error { return m.LoadWeights(t.TempDir() + "/none") }, "no checkpoint"},
		{"compile twice", func() error {
			return m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(1)})
		}, "already compiled"},
		{"learning rate", func() error { return m.SetLearningRate(-1) }, "must be positive"},
		{"closed model", func() error { _, err := closed.Predict(good.X(), PredictOptions{}); return err }, "closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	// After all that, the model still trains.
	if _, err := m.Fit(ctx, good, quiet); err != nil {
		t.Fatal(err)
	}
}

func TestBuildAndCompileErrors(t *testing.T) {
	dense := func() layers.Layer { return layers.Dense(3) }
	named := layers.Dense(2, layers.WithName("x"))
	tests := []struct {
		name string
		err  func() error
		want string
	}{
		{"no input shape", func() error { _, err := NewSequential(nil, dense()); return err }, "input shape is empty"},
		{"negative input", func() error { _, err := NewSequential([]int64{-1}, dense()); return err }, "positive"},
		{"no layers", func() error { _, err := NewSequential([]int64{4}); return err }, "at least one layer"},
		{"nil layer", func() error { _, err := NewSequential([]int64{4}, nil); return err }, "nil"},
		{"duplicate names", func() error {
			_, err := NewSequential([]int64{4}, named, layers.Dense(2, layers.WithName("x")))
			return err
		}, "two layers are named"},
		{"dense on images, a whole-sample loss", func() error {
			m, err := NewSequential([]int64{28, 28, 1}, dense())
			if err != nil {
				return err
			}
			defer m.Close()
			return m.Compile(CompileOptions{Loss: losses.CategoricalCrossentropy{}, Optimizer: optimizers.SGD(0.1)})
		}, "add a Flatten or global pooling layer"},
		{"conv on vectors", func() error { _, err := NewSequential([]int64{784}, layers.Conv2D(4, 3, 3)); return err }, "takes images"},
		{"kernel too big", func() error { _, err := NewSequential([]int64{2, 2, 1}, layers.Conv2D(4, 3, 3)); return err }, "smaller than the window"},
		{"pool too big", func() error { _, err := NewSequential([]int64{4, 4, 1}, layers.MaxPool2D(5, 5)); return err }, "smaller than the window"},
		{"zero units", func() error { _, err := NewSequential([]int64{4}, layers.Dense(0)); return err }, "units must be positive"},
		{"dropout rate", func() error { _, err := NewSequential([]int64{4}, layers.Dropout(1)); return err }, "rate 1 must be in [0, 1)"},
		{"bad padding", func() error {
			_, err := NewSequential([]int64{8, 8, 1}, layers.Conv2D(2, 3, 3, layers.WithPadding("FULL")))
			return err
		}, "neither SAME nor VALID"},
		{"bad activation", func() error {
			_, err := NewSequential([]int64{4}, layers.Dense(2, layers.WithActivation(42)))
			return err
		}, "unknown activation"},
		{"compile without loss", func() error {
			m, _ := NewSequential([]int64{4}, dense())
			return m.Compile(CompileOptions{Optimizer: optimizers.SGD(1)})
		}, "needs a Loss and an Optimizer"},
		{"metric mismatch", func() error {
			m, _ := NewSequential([]int64{4}, dense())
			return m.Compile(CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.SGD(1), Metrics: []metrics.Metric{metrics.CategoricalAccuracy{}}})
		}, "categorical accuracy needs float32"},
		{"loss mismatch", func() error {
			m, _ := NewSequential([]int64{4, 4, 1}, layers.Conv2D(2, 3, 3))
			return m.Compile(CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.SGD(1)})
		}, "needs a vector of class scores"},
		{"bad learning rate", func() error {
			m, _ := NewSequential([]int64{4}, dense())
			return m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.Adam(0)})
		}, "learning rate 0 must be positive"},
		{"optimizer reused", func() error {
			opt := optimizers.SGD(0.1)
			a, _ := NewSequential([]int64{4}, dense())
			if err := a.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: opt}); err != nil {
				return err
			}
			defer a.Close()
			b, _ := NewSequential([]int64{4}, dense())
			return b.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: opt})
		}, "already built into a model"},
		{"no trainable weights", func() error {
			m, _ := NewSequential([]int64{4}, layers.Flatten())
			return m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(1)})
		}, "no trainable weights"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestDropoutTrainingOnly(t *testing.T) {
	m, err := NewSequential([]int64{1000}, layers.Dropout(0.3), layers.Dense(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1), Seed: 5}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ones := make([]float32, 1000)
	for i := range ones {
		ones[i] = 1
	}
	x, _ := tfwrap.NewTensor(ones, 1, 1000)
	y, _ := tfwrap.NewTensor([]float32{0}, 1, 1)
	// With kernel = 1 and bias 0 the output is the sum of the dropout layer.
	k := make([]float32, 1000)
	for i := range k {
		k[i] = 1
	}
	kt, _ := tfwrap.NewTensor(k, 1000, 1)
	bt, _ := tfwrap.NewTensor([]float32{0}, 1)
	if err := m.SetWeights([]*tfwrap.Tensor{kt, bt}); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Predict(x, PredictOptions{})
	if v, _ := p.Float32s(); v[0] != 1000 {
		t.Fatalf("inference output %v, want 1000 (dropout off)", v[0])
	}
	// In training, the gradient of 0.5·(sum)^2-style MSE w.r.t. the bias is
	// 2·sum; the sum of the kept, rescaled ones is about 1000.
	res, err := m.Gradients(x, y)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := res[1].Float32s() // d loss / d kernel: 2·sum·mask/0.7
	var kept int
	var sum float64
	for _, v := range g {
		if v != 0 {
			kept++
		}
		sum += float64(v)
	}
	if kept < 620 || kept > 780 {
		t.Fatalf("%d of 1000 units kept, want about 700", kept)
	}
	loss, _ := res[0].Float32s()
	total := math.Sqrt(float64(loss[0]))
	if math.Abs(total-float64(kept)/0.7) > 0.1 {
		t.Fatalf("training output %v, want kept/0.7 = %v", total, float64(kept)/0.7)
	}
}
