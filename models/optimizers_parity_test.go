package models

import (
	"testing"

	"github.com/tfgo-project/gotf/models/optimizers"
)

// TestOptimizersMatchKeras takes five steps with each optimizer from the
// same weights on the same batch in Go and in Keras and compares the
// weights after them.
func TestOptimizersMatchKeras(t *testing.T) {
	lr := func(x float64) map[string]any { return map[string]any{"lr": x} }
	checkOptimizersAgainstKeras(t, 5, []optCase{
		{"sgd", func() optimizers.Optimizer { return optimizers.SGD(0.1) }, lr(0.1)},
		{"momentum", func() optimizers.Optimizer { return optimizers.Momentum(0.1, 0.9, false) }, lr(0.1)},
		{"nesterov", func() optimizers.Optimizer { return optimizers.Momentum(0.1, 0.9, true) }, lr(0.1)},
		{"adam", func() optimizers.Optimizer { return optimizers.Adam(0.01) }, lr(0.01)},
		{"rmsprop", func() optimizers.Optimizer { return optimizers.RMSprop(0.01) }, lr(0.01)},
	})
}
