package callbacks

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

func model(t *testing.T) *models.Sequential {
	t.Helper()
	m, err := models.NewSequential([]int64{4},
		layers.Dense(8, layers.WithActivation(layers.ReLU)),
		layers.Dense(2, layers.WithActivation(layers.Softmax)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(models.CompileOptions{
		Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.Adam(0.01),
		Metrics: []metrics.Metric{metrics.SparseCategoricalAccuracy{}}, Seed: 1,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func data(t *testing.T, n int) *models.Dataset {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]float32, 4*n)
	ys := make([]int32, n)
	for i := 0; i < n; i++ {
		for j := 0; j < 4; j++ {
			xs[4*i+j] = float32(r.NormFloat64())
		}
		if xs[4*i]+xs[4*i+1] > 0 {
			ys[i] = 1
		}
	}
	x, _ := tfwrap.NewTensor(xs, int64(n), 4)
	y, _ := tfwrap.NewTensor(ys)
	d, err := models.NewDataset(x, y)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func flat(t *testing.T, m *models.Sequential) []float32 {
	t.Helper()
	ws, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	for _, w := range ws {
		v, _ := w.Float32s()
		out = append(out, v...)
	}
	return out
}

// EarlyStopping waits Patience epochs past the best, stops, and restores
// the best epoch's weights.
func TestEarlyStoppingRestoresBest(t *testing.T) {
	m := model(t)
	es := &EarlyStopping{Patience: 1, RestoreBestWeights: true}
	if err := es.OnTrainBegin(m); err != nil {
		t.Fatal(err)
	}
	best := flat(t, m)
	step := func(epoch int, loss float64) {
		t.Helper()
		if err := es.OnEpochEnd(m, epoch, models.Logs{"val_loss": loss}); err != nil {
			t.Fatal(err)
		}
	}
	step(0, 1.0) // best so far: remembers these weights
	if _, err := m.Fit(context.Background(), data(t, 64), models.FitOptions{Output: io.Discard, Progress: models.ProgressSilent}); err != nil {
		t.Fatal(err)
	}
	changed := flat(t, m)
	step(1, 1.5) // worse: wait 1
	if es.StoppedEpoch != -1 {
		t.Fatal("stopped too early")
	}
	step(2, 2.0) // worse again: wait 2 > patience 1
	if es.StoppedEpoch != 2 {
		t.Fatalf("StoppedEpoch = %d, want 2", es.StoppedEpoch)
	}
	if err := es.OnTrainEnd(m, nil); err != nil {
		t.Fatal(err)
	}
	got := flat(t, m)
	same := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	if same(best, changed) || !same(got, best) {
		t.Fatal("the best weights were not restored")
	}
	if v, e := es.Best(); v != 1.0 || e != 0 {
		t.Fatalf("Best() = %v, %d", v, e)
	}
	if err := es.OnEpochEnd(m, 3, models.Logs{"loss": 1}); err == nil || !strings.Contains(err.Error(), "val_loss") {
		t.Fatalf("missing monitor: %v", err)
	}
	if err := (&EarlyStopping{Patience: -1}).OnTrainBegin(m); err == nil {
		t.Fatal("negative patience accepted")
	}
}

// ModelCheckpoint writes TF checkpoints that Python's tf.train reads and
// that LoadWeights restores; TensorBoard writes events TF's reader parses.
func TestCheckpointAndTensorBoardReadByPython(t *testing.T) {
	m := model(t)
	dir := t.TempDir()
	ckpt := &ModelCheckpoint{Path: filepath.Join(dir, "ckpt", "epoch{epoch}")}
	tb := &TensorBoard{LogDir: filepath.Join(dir, "logs")}
	d := data(t, 200)
	h, err := m.Fit(context.Background(), d, models.FitOptions{
		Epochs: 3, ValidationSplit: 0.25, Callbacks: []models.Callback{ckpt, tb},
		Output: io.Discard, Progress: models.ProgressSilent,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ckpt.Saved) != 3 || !strings.HasSuffix(ckpt.Saved[2], "epoch03") {
		t.Fatalf("saved %v", ckpt.Saved)
	}
	for _, p := range ckpt.Saved {
		if _, err := os.Stat(p + ".index"); err != nil {
			t.Fatal(err)
		}
	}
	var ref struct {
		Checkpoint map[string]struct {
			Shape []int64   `json:"shape"`
			Data  []float64 `json:"data"`
		} `json:"checkpoint"`
		Events map[string][]struct {
			Tag   string  `json:"tag"`
			Step  int64   `json:"step"`
			Value float64 `json:"value"`
			Kind  string  `json:"kind"`
		} `json:"events"`
	}
	trainDir, valDir := filepath.Join(tb.LogDir, "train"), filepath.Join(tb.LogDir, "validation")
	if err := pyref.Run("read_tf_files.py", map[string]any{"checkpoint": ckpt.Saved[2], "events": []string{trainDir, valDir}}, &ref); err != nil {
		t.Fatal(err)
	}
	ws, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Checkpoint) != len(ws) {
		t.Fatalf("checkpoint holds %d tensors, model has %d", len(ref.Checkpoint), len(ws))
	}
	for i, w := range m.Weights() {
		c, ok := ref.Checkpoint[w.Name()]
		if !ok {
			t.Fatalf("checkpoint lacks %s", w.Name())
		}
		v, _ := ws[i].Float32s()
		for j := range v {
			if float64(v[j]) != c.Data[j] {
				t.Fatalf("%s[%d]: Go %v, checkpoint %v", w.Name(), j, v[j], c.Data[j])
			}
		}
	}
	for dirName, prefix := range map[string]string{trainDir: "", valDir: "val_"} {
		events := ref.Events[dirName]
		if len(events) != 6 {
			t.Fatalf("%s: %d scalar events, want 6 (loss and accuracy, 3 epochs)", dirName, len(events))
		}
		for _, e := range events {
			name := prefix + strings.TrimPrefix(e.Tag, "epoch_")
			want := h.Metrics[name][e.Step]
			if math.Abs(e.Value-want) > 1e-6 || e.Kind != "simple_value" {
				t.Fatalf("%s step %d: event %v (%s), history %v", e.Tag, e.Step, e.Value, e.Kind, want)
			}
		}
	}
	// The first checkpoint restores the first epoch's predictions.
	first := model(t)
	if err := first.LoadWeights(ckpt.Saved[0]); err != nil {
		t.Fatal(err)
	}
	if err := m.LoadWeights(ckpt.Saved[0]); err != nil {
		t.Fatal(err)
	}
	a, _ := first.Predict(d.X(), models.PredictOptions{})
	b, _ := m.Predict(d.X(), models.PredictOptions{})
	av, _ := a.Float32s()
	bv, _ := b.Float32s()
	for i := range av {
		if av[i] != bv[i] {
			t.Fatal("restored models disagree")
		}
	}
}

func TestCheckpointBestOnly(t *testing.T) {
	m := model(t)
	c := &ModelCheckpoint{Path: filepath.Join(t.TempDir(), "best"), SaveBestOnly: true, Monitor: "val_accuracy"}
	if err := c.OnTrainBegin(m); err != nil {
		t.Fatal(err)
	}
	for e, acc := range []float64{0.5, 0.7, 0.6, 0.8} {
		if err := c.OnEpochEnd(m, e, models.Logs{"val_accuracy": acc}); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.Saved) != 3 {
		t.Fatalf("saved %d times, want 3 (epochs 1, 2 and 4)", len(c.Saved))
	}
	if err := (&ModelCheckpoint{}).OnTrainBegin(m); err == nil {
		t.Fatal("empty path accepted")
	}
}

// Inside Fit, EarlyStopping stops training and restores the best epoch's
// weights: its OnTrainEnd changes the model once Fit has released it, so
// the restore does not get models.ErrTraining.
func TestEarlyStoppingInFit(t *testing.T) {
	m := model(t)
	// val_loss compared with Max mode: the first epoch stays the best.
	es := &EarlyStopping{Monitor: "val_loss", Mode: Max, MinDelta: 1e9, Patience: 1, RestoreBestWeights: true}
	var first []float32
	cb := models.CallbackFuncs{EpochEnd: func(v models.TrainingView, epoch int, _ models.Logs) error {
		if epoch == 0 {
			ws, err := v.GetWeights()
			if err != nil {
				return err
			}
			for _, w := range ws {
				f, _ := w.Float32s()
				first = append(first, f...)
			}
		}
		return nil
	}}
	h, err := m.Fit(context.Background(), data(t, 64), models.FitOptions{
		Epochs: 10, ValidationSplit: 0.25, Callbacks: []models.Callback{cb, es},
		Output: io.Discard, Progress: models.ProgressSilent,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Epochs) != 3 || es.StoppedEpoch != 2 {
		t.Fatalf("ran %d epochs, stopped after %d; want 3 and 2", len(h.Epochs), es.StoppedEpoch)
	}
	got := flat(t, m)
	for i := range got {
		if got[i] != first[i] {
			t.Fatal("the best (first) epoch's weights were not restored")
		}
	}
}
