package models

import (
	"context"
	"math"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
)

// TestOptimizersMatchKeras takes five steps with each optimizer from the
// same weights on the same batch in Go and in Keras and compares the
// weights after them.
func TestOptimizersMatchKeras(t *testing.T) {
	const steps = 5
	cases := []struct {
		name string
		opt  func() optimizers.Optimizer
	}{
		{"sgd", func() optimizers.Optimizer { return optimizers.SGD(0.1) }},
		{"momentum", func() optimizers.Optimizer { return optimizers.Momentum(0.1, 0.9, false) }},
		{"nesterov", func() optimizers.Optimizer { return optimizers.Momentum(0.1, 0.9, true) }},
		{"adam", func() optimizers.Optimizer { return optimizers.Adam(0.01) }},
		{"rmsprop", func() optimizers.Optimizer { return optimizers.RMSprop(0.01) }},
	}
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
	start := build(optimizers.SGD(1))
	w0, err := start.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	var weights []tensorJSON
	for _, w := range w0 {
		weights = append(weights, toJSON(t, w))
	}
	var specs []map[string]any
	lrs := map[string]float64{"sgd": 0.1, "momentum": 0.1, "nesterov": 0.1, "adam": 0.01, "rmsprop": 0.01}
	for _, c := range cases {
		specs = append(specs, map[string]any{"name": c.name, "lr": lrs[c.name]})
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
