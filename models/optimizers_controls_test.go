package models

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
)

// TestOptimizerControlsMatchKeras: gradient clipping, weight decay,
// AdamW, Adagrad and learning-rate schedules take eight steps from the same
// weights on the same batch in Go and in Keras; the weights after them
// agree within 1e-5.
func TestOptimizerControlsMatchKeras(t *testing.T) {
	const steps = 8
	type kw = map[string]any
	cases := []optCase{
		{"sgd_clipnorm", func() optimizers.Optimizer { return optimizers.SGD(0.5, optimizers.ClipNorm(0.1)) },
			kw{"kind": "sgd", "lr": 0.5, "kw": kw{"clipnorm": 0.1}}},
		{"adam_clipvalue", func() optimizers.Optimizer { return optimizers.Adam(0.01, optimizers.ClipValue(0.02)) },
			kw{"kind": "adam", "lr": 0.01, "kw": kw{"clipvalue": 0.02}}},
		{"sgd_global_clipnorm", func() optimizers.Optimizer { return optimizers.SGD(0.5, optimizers.GlobalClipNorm(0.2)) },
			kw{"kind": "sgd", "lr": 0.5, "kw": kw{"global_clipnorm": 0.2}}},
		{"sgd_weight_decay", func() optimizers.Optimizer { return optimizers.SGD(0.1, optimizers.WeightDecay(0.5)) },
			kw{"kind": "sgd", "lr": 0.1, "kw": kw{"weight_decay": 0.5}}},
		{"adamw", func() optimizers.Optimizer { return optimizers.AdamW(0.01, 0.3) },
			kw{"kind": "adamw", "lr": 0.01, "kw": kw{"weight_decay": 0.3}}},
		{"adagrad", func() optimizers.Optimizer { return optimizers.Adagrad(0.1) },
			kw{"kind": "adagrad", "lr": 0.1}},
		{"exponential", func() optimizers.Optimizer {
			return optimizers.SGD(0, optimizers.WithSchedule(optimizers.ExponentialDecay(0.5, 3, 0.5, false)))
		}, kw{"kind": "sgd", "lr": 0, "schedule": kw{"type": "ExponentialDecay", "kw": kw{"initial_learning_rate": 0.5, "decay_steps": 3, "decay_rate": 0.5}}}},
		{"exponential_staircase", func() optimizers.Optimizer {
			return optimizers.RMSprop(0, optimizers.WithSchedule(optimizers.ExponentialDecay(0.02, 3, 0.3, true)))
		}, kw{"kind": "rmsprop", "lr": 0, "schedule": kw{"type": "ExponentialDecay", "kw": kw{"initial_learning_rate": 0.02, "decay_steps": 3, "decay_rate": 0.3, "staircase": true}}}},
		{"piecewise", func() optimizers.Optimizer {
			return optimizers.SGD(0, optimizers.WithSchedule(optimizers.PiecewiseConstantDecay([]int64{2, 5}, []float64{0.5, 0.2, 0.05})))
		}, kw{"kind": "sgd", "lr": 0, "schedule": kw{"type": "PiecewiseConstantDecay", "kw": kw{"boundaries": []int{2, 5}, "values": []float64{0.5, 0.2, 0.05}}}}},
		{"cosine", func() optimizers.Optimizer {
			return optimizers.Adam(0, optimizers.WithSchedule(optimizers.CosineDecay(0.05, 5, 0.1)))
		}, kw{"kind": "adam", "lr": 0, "schedule": kw{"type": "CosineDecay", "kw": kw{"initial_learning_rate": 0.05, "decay_steps": 5, "alpha": 0.1}}}},
		{"cosine_warmup", func() optimizers.Optimizer {
			return optimizers.SGD(0, optimizers.WithSchedule(optimizers.CosineDecayWarmup(0.01, 4, 0, 0.5, 3)))
		}, kw{"kind": "sgd", "lr": 0, "schedule": kw{"type": "CosineDecay", "kw": kw{"initial_learning_rate": 0.01, "decay_steps": 4, "warmup_target": 0.5, "warmup_steps": 3}}}},
	}
	checkOptimizersAgainstKeras(t, steps, cases)
}

// optCase is one optimizer built in Go and described for Keras
// (scripts/reference/keras_optimizers.py: name, lr, kind, kw, schedule).
type optCase struct {
	name string
	opt  func() optimizers.Optimizer
	spec map[string]any
}

// checkOptimizersAgainstKeras takes steps steps with each optimizer from
// the same weights on the same batch in Go and in Keras and compares the
// weights after them (1e-5); a case whose weights barely move fails, as it
// would prove nothing.
func checkOptimizersAgainstKeras(t *testing.T, steps int, cases []optCase) {
	t.Helper()
	data := toyData(t, 16, 5)
	build := func(opt optimizers.Optimizer) *Sequential {
		m, err := NewSequential([]int64{6}, layers.Dense(4, layers.WithActivation(layers.ReLU)), layers.Dense(3, layers.WithActivation(layers.Softmax)))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Compile(CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: opt, Seed: 9}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	w0, err := build(optimizers.SGD(1)).GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	var weights []tensorJSON
	for _, w := range w0 {
		weights = append(weights, toJSON(t, w))
	}
	var specs []map[string]any
	for _, c := range cases {
		c.spec["name"] = c.name
		specs = append(specs, c.spec)
	}
	var ref map[string][][]float64
	in := map[string]any{"weights": weights, "x": toJSON(t, data.X()), "y": toJSON(t, data.Y()), "steps": steps, "optimizers": specs}
	if err := pyref.Run("keras_optimizers.py", in, &ref); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := build(c.opt())
			if err := m.SetWeights(w0); err != nil {
				t.Fatal(err)
			}
			o := fitOpts(steps, 16, 1)
			o.NoShuffle = true
			if _, err := m.Fit(context.Background(), data, o); err != nil {
				t.Fatal(err)
			}
			got, err := m.GetWeights()
			if err != nil {
				t.Fatal(err)
			}
			moved := 0.0
			for i, w := range got {
				closeTo(t, m.Weights()[i].Name(), floats64(t, w), ref[c.name][i], 1e-5)
				before := floats64(t, w0[i])
				for j, v := range floats64(t, w) {
					moved = max(moved, math.Abs(v-before[j]))
				}
			}
			if moved < 1e-3 {
				t.Fatalf("the weights barely moved (%g): the comparison proves nothing", moved)
			}
		})
	}
}

// Options Keras refuses are errors at Compile, naming what is wrong.
func TestOptimizerOptionErrors(t *testing.T) {
	cases := []struct {
		opt  optimizers.Optimizer
		want string
	}{
		{optimizers.SGD(0.1, optimizers.ClipNorm(1), optimizers.ClipValue(1)), "only one of ClipNorm, ClipValue and GlobalClipNorm"},
		{optimizers.Adam(0.1, optimizers.ClipNorm(-1)), "must be positive"},
		{optimizers.SGD(0.1, optimizers.WeightDecay(-0.1)), "weight decay"},
		{optimizers.SGD(0, optimizers.WithSchedule(optimizers.ExponentialDecay(0.1, 0, 0.5, false))), "ExponentialDecay"},
		{optimizers.SGD(0, optimizers.WithSchedule(optimizers.PiecewiseConstantDecay([]int64{3, 2}, []float64{1, 2, 3}))), "must increase"},
		{optimizers.SGD(0, optimizers.WithSchedule(optimizers.PiecewiseConstantDecay([]int64{3}, []float64{1}))), "need 2 values"},
		{optimizers.SGD(0, optimizers.WithSchedule(optimizers.CosineDecay(0.1, 5, 2))), "alpha in [0, 1]"},
		{optimizers.AdagradWith(0.1, -1, 1e-7), "initial accumulator"},
	}
	for _, c := range cases {
		m, err := NewSequential([]int64{6}, layers.Dense(3))
		if err != nil {
			t.Fatal(err)
		}
		err = m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: c.opt})
		m.Close()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Compile error %v, want one mentioning %q", c.opt.Name(), err, c.want)
		}
	}
}
