package models

import (
	"context"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestEmbeddingIDOutOfRange checks that an id outside the embedding's table
// is an error from Predict, not a crash, and that a negative one counts
// from the end, as Keras's take does (-1 is the last row; -6 of 5 rows is
// out of range, and Keras names it -1 after adding 5, as Go does).
func TestEmbeddingIDOutOfRange(t *testing.T) {
	m, err := NewSequential([]int64{3}, layers.Embedding(5, 2), layers.Flatten())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1)}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, ids := range [][]float32{{0, 4, 5}, {-6, 0, 0}} {
		x, err := tfwrap.NewTensor(ids, 1, 3)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Predict(x, PredictOptions{}); err == nil || !strings.Contains(err.Error(), "not in [0, 5)") {
			t.Fatalf("Predict(%v) error %v, want one about the id range", ids, err)
		}
	}
	ws, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	table, err := ws[0].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	x, _ := tfwrap.NewTensor([]float32{-1, -5, 2.7}, 1, 3)
	out, err := m.Predict(x, PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := out.Shape(); len(s) != 2 || s[1] != 6 {
		t.Fatalf("output shape %v, want [1 6]", s)
	}
	got, err := out.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	for i, row := range []int{4, 0, 2} { // 2.7 truncates to 2, as Keras's cast
		for j := range 2 {
			if got[2*i+j] != table[2*row+j] {
				t.Fatalf("id %d gave %v, want row %d of the table %v", i, got[2*i:2*i+2], row, table)
			}
		}
	}
}

// TestMaskedOutputRefusesTraining: when an Embedding's mask reaches an
// output position by position, Keras leaves the masked positions out of
// the loss; Go's losses do not, so Fit, FitStream and Evaluate refuse the
// model with an error saying so, while Predict works. Without mask_zero the
// same model trains.
func TestMaskedOutputRefusesTraining(t *testing.T) {
	for _, masked := range []bool{true, false} {
		var opts []layers.Option
		if masked {
			opts = append(opts, layers.MaskZero())
		}
		m, err := NewSequential([]int64{4}, layers.Embedding(5, 2, opts...), layers.Dense(3))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1)}); err != nil {
			t.Fatal(err)
		}
		x, _ := tfwrap.NewTensor([]float32{1, 2, 0, 0, 3, 0, 0, 0}, 2, 4)
		y, _ := tfwrap.Zeros(tfwrap.Float32, 2, 4, 3)
		if _, err := m.Predict(x, PredictOptions{}); err != nil {
			t.Fatalf("masked %v: Predict: %v", masked, err)
		}
		ds, err := NewDataset(x, y)
		if err != nil {
			t.Fatal(err)
		}
		_, ferr := m.Fit(context.Background(), ds, FitOptions{Epochs: 1, Progress: ProgressSilent})
		_, eerr := m.Evaluate(ds, EvaluateOptions{})
		m.Close()
		for what, err := range map[string]error{"Fit": ferr, "Evaluate": eerr} {
			if masked && (err == nil || !strings.Contains(err.Error(), "carries an Embedding's mask")) {
				t.Errorf("masked output: %s error %v, want the refusal", what, err)
			}
			if !masked && err != nil {
				t.Errorf("no mask: %s: %v", what, err)
			}
		}
	}
}
