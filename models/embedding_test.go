package models

import (
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestEmbeddingIDOutOfRange checks that an id outside the embedding's table
// is an error from Predict, not a crash.
func TestEmbeddingIDOutOfRange(t *testing.T) {
	m, err := NewSequential([]int64{3}, layers.Embedding(5, 2), layers.Flatten())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1)}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, ids := range [][]float32{{0, 4, 5}, {-1, 0, 0}} {
		x, err := tfwrap.NewTensor(ids, 1, 3)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Predict(x, PredictOptions{}); err == nil || !strings.Contains(err.Error(), "not in [0, 5)") {
			t.Fatalf("Predict(%v) error %v, want one about the id range", ids, err)
		}
	}
	x, _ := tfwrap.NewTensor([]float32{0, 4, 2.7}, 1, 3)
	out, err := m.Predict(x, PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := out.Shape(); len(s) != 2 || s[1] != 6 {
		t.Fatalf("output shape %v, want [1 6]", s)
	}
}
