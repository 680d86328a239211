package models

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

func resumable(t *testing.T) *Sequential {
	t.Helper()
	m, err := NewSequential([]int64{8},
		layers.Dense(16, layers.WithActivation(layers.ReLU)),
		layers.BatchNormalization(),
		layers.Dropout(0.3),
		layers.Dense(3, layers.WithActivation(layers.Softmax)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.Adam(0.01), Seed: 2}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func dataset(t *testing.T) *Dataset {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	xs := make([]float32, 96*8)
	ys := make([]int32, 96)
	for i := range xs {
		xs[i] = float32(r.NormFloat64())
	}
	for i := range ys {
		ys[i] = int32(r.IntN(3))
	}
	x, err := tfwrap.NewTensor(xs, 96, 8)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := tfwrap.NewTensor(ys)
	d, err := NewDataset(x, y)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func allWeights(t *testing.T, m *Sequential) []float64 {
	t.Helper()
	ws, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	for _, w := range ws {
		out = append(out, floats64(t, w)...)
	}
	return out
}

// TestResumeEqualsUninterrupted: stopping after epoch 2 of 5 and resuming
// from the checkpoint gives exactly the weights of an uninterrupted run
// (Adam's slots, BatchNormalization's moving statistics, dropout masks and
// shuffling included).
func TestResumeEqualsUninterrupted(t *testing.T) {
	d := dataset(t)
	opts := FitOptions{Epochs: 5, BatchSize: 16, Seed: 9, Progress: ProgressSilent, Output: io.Discard}
	whole := resumable(t)
	if _, err := whole.Fit(context.Background(), d, opts); err != nil {
		t.Fatal(err)
	}
	want := allWeights(t, whole)

	mgr := &CheckpointManager{Dir: filepath.Join(t.TempDir(), "ckpts"), MaxToKeep: 2}
	first := resumable(t)
	part := opts
	part.Epochs = 2
	if _, err := first.Fit(context.Background(), d, part); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Save(first, 2); err != nil {
		t.Fatal(err)
	}
	weightsOnly, err := first.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	first.Close()

	second := resumable(t)
	done, err := mgr.Restore(second)
	if err != nil {
		t.Fatal(err)
	}
	if done != 2 {
		t.Fatalf("restored %d epochs done, want 2", done)
	}
	rest := opts
	rest.InitialEpoch = done
	h, err := second.Fit(context.Background(), d, rest)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Epochs) != 3 || h.Epochs[0] != 2 {
		t.Fatalf("resumed epochs %v, want [2 3 4]", h.Epochs)
	}
	closeTo(t, "resumed weights", allWeights(t, second), want, 0)

	// Resuming from the weights alone (no Adam slots, step count or epoch)
	// does not give the same run: the comparison above can fail.
	fourth := resumable(t)
	if err := fourth.SetWeights(weightsOnly); err != nil {
		t.Fatal(err)
	}
	if _, err := fourth.Fit(context.Background(), d, rest); err != nil {
		t.Fatal(err)
	}
	got, same := allWeights(t, fourth), true
	for i := range got {
		same = same && got[i] == want[i]
	}
	if same {
		t.Fatal("resuming from weights alone matched the uninterrupted run")
	}
}

// A save that died half-way (its files half-written, the "checkpoint" file
// not yet replaced) leaves the last good checkpoint as the latest, and
// Python agrees which one that is.
func TestInterruptedSaveKeepsLastGood(t *testing.T) {
	m := resumable(t)
	mgr := &CheckpointManager{Dir: t.TempDir(), MaxToKeep: 2}
	for n := 1; n <= 3; n++ {
		if _, err := mgr.Save(m, n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(mgr.Dir, "ckpt-1.index")); !os.IsNotExist(err) {
		t.Fatal("ckpt-1 was not pruned with MaxToKeep 2")
	}
	// What a crash during save 4 leaves behind.
	os.WriteFile(filepath.Join(mgr.Dir, "ckpt-4.data-00000-of-00001"), []byte("partial"), 0o644)
	os.WriteFile(filepath.Join(mgr.Dir, ".checkpoint.tmp"), []byte("model_checkpoint_path: \"ckpt-4\"\n"), 0o644)
	latest, err := mgr.Latest()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(latest) != "ckpt-3" {
		t.Fatalf("latest = %s, want ckpt-3", latest)
	}
	var ref struct {
		Latest string   `json:"latest"`
		Keys   []string `json:"keys"`
	}
	if err := pyref.Run("latest_checkpoint.py", map[string]string{"dir": mgr.Dir}, &ref); err != nil {
		t.Fatal(err)
	}
	if filepath.Base(ref.Latest) != "ckpt-3" || len(ref.Keys) == 0 {
		t.Fatalf("Python: %+v", ref)
	}
	var slots int
	for _, k := range ref.Keys {
		if filepath.Base(k) == "m" || filepath.Base(k) == "v" {
			slots++
		}
	}
	if slots == 0 {
		t.Fatalf("the checkpoint holds no optimizer slots: %v", ref.Keys)
	}
	if _, err := mgr.Restore(m); err != nil {
		t.Fatal(err)
	}
	empty := &CheckpointManager{Dir: t.TempDir()}
	if _, err := empty.Restore(m); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("empty folder: %v", err)
	}
}
