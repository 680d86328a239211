package models

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// fitWithin runs f (a Fit) and fails the test if it has not returned in
// time: a callback that calls the model must not deadlock Fit.
func fitWithin(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("Fit did not return within %v: a callback deadlocked it", d)
	}
}

// A callback that calls Fit, SetWeights, Close or any other mutating method
// of the model Fit is training gets ErrTraining, and the outer Fit ends
// with exactly the loss and weights of a run without that callback; the
// read-only calls work from the callback, without deadlock.
func TestCallbackCannotDisturbFit(t *testing.T) {
	ctx := context.Background()
	train, other := toyData(t, 100, 1), toyData(t, 40, 2)
	o := fitOpts(3, 25, 1)

	ref := toyModel(t, 1)
	refHist, err := ref.Fit(ctx, train, o)
	if err != nil {
		t.Fatal(err)
	}
	refWeights := weightsOf(t, ref)

	m := toyModel(t, 1)
	alien, err := toyModel(t, 2).GetWeights() // would change the run if set
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	initial := filepath.Join(dir, "initial")
	if err := m.SaveWeights(initial); err != nil {
		t.Fatal(err)
	}
	if err := m.SaveCheckpoint(initial + "_full"); err != nil {
		t.Fatal(err)
	}
	mutators := []struct {
		name string
		call func() error
	}{
		{"Fit", func() error { _, err := m.Fit(ctx, other, quiet); return err }},
		{"SetWeights", func() error { return m.SetWeights(alien) }},
		{"SetWeightsByName", func() error { return m.SetWeightsByName(map[string]*tfwrap.Tensor{m.Weights()[0].Name(): alien[0]}) }},
		{"LoadWeights", func() error { return m.LoadWeights(initial) }},
		{"RestoreCheckpoint", func() error { _, err := m.RestoreCheckpoint(initial + "_full"); return err }},
		{"Compile", func() error {
			return m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(1)})
		}},
		{"Close", func() error { return m.Close() }},
	}
	var checked []string
	check := func(v TrainingView, where string) error {
		t.Helper()
		for _, mu := range mutators {
			err := mu.call()
			if !errors.Is(err, ErrTraining) {
				t.Errorf("%s: %s: got %v, want ErrTraining", where, mu.name, err)
			} else if !strings.HasPrefix(err.Error(), "models: ") {
				t.Errorf("%s: %s: error %q lacks context", where, mu.name, err)
			}
		}
		// Read-only calls, through the view and through the model.
		if _, err := v.GetWeights(); err != nil {
			t.Errorf("%s: GetWeights: %v", where, err)
		}
		if lr, err := v.LearningRate(); err != nil || lr != float64(float32(0.01)) {
			t.Errorf("%s: LearningRate = %v, %v; want 0.01", where, lr, err)
		}
		if s := v.Summary(); !strings.Contains(s, "dense_1 (Dense)") {
			t.Errorf("%s: Summary:\n%s", where, s)
		}
		if _, err := v.Predict(other.X(), PredictOptions{}); err != nil {
			t.Errorf("%s: Predict: %v", where, err)
		}
		if _, err := v.Evaluate(other, EvaluateOptions{}); err != nil {
			t.Errorf("%s: Evaluate: %v", where, err)
		}
		if err := v.SaveWeights(filepath.Join(dir, where)); err != nil {
			t.Errorf("%s: SaveWeights: %v", where, err)
		}
		if err := v.SaveCheckpoint(filepath.Join(dir, where+"_full")); err != nil {
			t.Errorf("%s: SaveCheckpoint: %v", where, err)
		}
		if _, err := m.Gradients(other.X(), other.Y()); err != nil {
			t.Errorf("%s: Gradients: %v", where, err)
		}
		checked = append(checked, where)
		return nil
	}
	withCB := o
	withCB.Callbacks = []Callback{CallbackFuncs{
		BatchEnd: func(v TrainingView, b int, _ Logs) error {
			if b == 1 {
				return check(v, "batch")
			}
			return nil
		},
		EpochEnd: func(v TrainingView, e int, _ Logs) error {
			if e == 0 {
				return check(v, "epoch")
			}
			return nil
		},
	}}
	var h *History
	fitWithin(t, 2*time.Minute, func() { h, err = m.Fit(ctx, train, withCB) })
	if err != nil {
		t.Fatal(err)
	}
	if len(checked) != 4 { // batch 1 of each of 3 epochs, the end of epoch 0
		t.Fatalf("the callbacks checked %v", checked)
	}
	for i, want := range refHist.Metrics["loss"] {
		if got := h.Metrics["loss"][i]; got != want {
			t.Errorf("epoch %d: loss %v, without the callback %v", i, got, want)
		}
	}
	if !equalWeights(weightsOf(t, m), refWeights) {
		t.Error("the callback changed the trained weights")
	}
	// Once Fit has returned, the model takes changes again.
	if err := m.SetLearningRate(0.02); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// Another goroutine gets ErrTraining too, without waiting for Fit, and its
// Close closes nothing; a TrainEnder then gets the released model and may
// change it.
func TestOtherGoroutineWhileFitting(t *testing.T) {
	ctx := context.Background()
	m := toyModel(t, 1)
	inFit, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	o := fitOpts(2, 25, 1)
	end := &setOnEnd{}
	o.Callbacks = []Callback{CallbackFuncs{BatchEnd: func(TrainingView, int, Logs) error {
		once.Do(func() { close(inFit); <-release })
		return nil
	}}, end}
	var err error
	done := make(chan struct{})
	go func() { defer close(done); _, err = m.Fit(ctx, toyData(t, 100, 1), o) }()
	<-inFit
	if cerr := m.Close(); !errors.Is(cerr, ErrTraining) {
		t.Errorf("Close during Fit: got %v, want ErrTraining", cerr)
	}
	if _, ferr := m.Fit(ctx, toyData(t, 10, 1), quiet); !errors.Is(ferr, ErrTraining) {
		t.Errorf("a second Fit: got %v, want ErrTraining", ferr)
	}
	close(release)
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("Fit did not return")
	}
	if err != nil {
		t.Fatalf("Fit: %v", err)
	}
	if end.err != nil {
		t.Fatalf("OnTrainEnd could not change the released model: %v", end.err)
	}
}

// setOnEnd sets the learning rate when training ends.
type setOnEnd struct{ err error }

func (s *setOnEnd) OnEpochEnd(TrainingView, int, Logs) error { return nil }
func (s *setOnEnd) OnTrainEnd(m *Sequential, _ *History) error {
	s.err = m.SetLearningRate(0.001)
	return nil
}
