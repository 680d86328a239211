package callbacks

import (
	"context"
	"math"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
)

// TestReduceLROnPlateauMatchesKeras drives Go's callback and Keras's with
// the same scripted logs, on a real model each, and compares the learning
// rate after every epoch: patience, cooldown, min_lr, min_delta and both
// modes.
func TestReduceLROnPlateauMatchesKeras(t *testing.T) {
	type kw = map[string]any
	plateau := []float64{1, 0.9, 0.9, 0.9, 0.95, 0.9, 0.9, 0.91, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8}
	cases := []struct {
		name    string
		monitor string
		values  []float64
		cb      *ReduceLROnPlateau
		kw      kw
	}{
		{"defaults_patience2", "val_loss", plateau,
			&ReduceLROnPlateau{Factor: 0.1, Patience: 2, MinDelta: 1e-4},
			kw{"patience": 2}},
		{"cooldown_minlr", "val_loss", plateau,
			&ReduceLROnPlateau{Factor: 0.5, Patience: 1, MinDelta: 1e-4, Cooldown: 2, MinLR: 0.2},
			kw{"factor": 0.5, "patience": 1, "cooldown": 2, "min_lr": 0.2}},
		{"min_delta", "val_loss", []float64{1, 0.95, 0.92, 0.91, 0.905, 0.9, 0.85, 0.84, 0.83},
			&ReduceLROnPlateau{Factor: 0.5, Patience: 1, MinDelta: 0.02},
			kw{"factor": 0.5, "patience": 1, "min_delta": 0.02}},
		{"accuracy_max", "val_accuracy", []float64{0.5, 0.6, 0.6, 0.59, 0.7, 0.7, 0.7, 0.71},
			&ReduceLROnPlateau{Factor: 0.3, Patience: 2, Mode: Max},
			kw{"factor": 0.3, "patience": 2, "min_delta": 0, "mode": "max"}},
		{"patience0", "loss", []float64{1, 1, 1, 0.5, 0.5},
			&ReduceLROnPlateau{Factor: 0.5, Patience: 0, MinDelta: 1e-4},
			kw{"factor": 0.5, "patience": 0, "mode": "min"}},
	}
	var spec []map[string]any
	for _, c := range cases {
		spec = append(spec, map[string]any{"name": c.name, "monitor": c.monitor, "values": c.values, "kw": c.kw})
	}
	var ref map[string][]float64
	if err := pyref.Run("keras_reduce_lr.py", map[string]any{"lr": 1.0, "cases": spec}, &ref); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := model(t)
			if err := m.SetLearningRate(1); err != nil {
				t.Fatal(err)
			}
			c.cb.Monitor = c.monitor
			if err := c.cb.OnTrainBegin(m); err != nil {
				t.Fatal(err)
			}
			changed := false
			for epoch, v := range c.values {
				logs := models.Logs{c.monitor: v}
				if err := c.cb.OnEpochEnd(m, epoch, logs); err != nil {
					t.Fatal(err)
				}
				lr, err := m.LearningRate()
				if err != nil {
					t.Fatal(err)
				}
				if want := ref[c.name][epoch]; math.Abs(lr-want) > 1e-6*want {
					t.Fatalf("epoch %d: learning rate %v, Keras %v (Go so far vs Keras %v)", epoch, lr, want, ref[c.name][:epoch+1])
				}
				changed = changed || lr != 1
			}
			if !changed {
				t.Fatal("the learning rate never changed: the case proves nothing")
			}
		})
	}
}

// Inside Fit the callback lowers the rate the next epochs train with, and
// each epoch's logs carry the rate it used.
func TestReduceLROnPlateauInFit(t *testing.T) {
	m := model(t)
	cb := &ReduceLROnPlateau{Monitor: "loss", Factor: 0.5, Patience: 0, MinDelta: 10} // no epoch improves by 10
	h, err := m.Fit(context.Background(), data(t, 64), models.FitOptions{Epochs: 4, BatchSize: 16, Progress: models.ProgressSilent, Callbacks: []models.Callback{cb}})
	if err != nil {
		t.Fatal(err)
	}
	lr, err := m.LearningRate()
	if err != nil {
		t.Fatal(err)
	}
	if want := 0.01 * 0.125; math.Abs(lr-want) > 1e-9 {
		t.Fatalf("learning rate after 4 epochs %v, want %v (halved after epochs 2, 3 and 4)", lr, want)
	}
	got := h.Metrics["learning_rate"]
	want := []float64{0.01, 0.01, 0.005, 0.0025}
	if len(got) != len(want) {
		t.Fatalf("history learning_rate %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatalf("history learning_rate %v, want %v", got, want)
		}
	}
	bad := []*ReduceLROnPlateau{{Factor: 1}, {Factor: 0.5, Patience: -1}, {Factor: 0.5, MinLR: -1}}
	for _, b := range bad {
		if _, err := m.Fit(context.Background(), data(t, 16), models.FitOptions{Epochs: 1, BatchSize: 16, Progress: models.ProgressSilent, Callbacks: []models.Callback{b}}); err == nil {
			t.Errorf("%+v: Fit accepted it", *b)
		}
	}
}
