package models

import (
	"context"
	"math"
	"testing"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestShuffledBatchesInEpochOrder: Fit visits the samples of each epoch in
// epochOrder's order, batch by batch, the last batch short. A linear
// model trained by SGD on mean squared error is replayed in Go, sample by
// sample in that order; its weights after 3 epochs must be Fit's. It
// guards any change to how a step draws its batch (gathering the data
// once per epoch and slicing per step was tried against it: README, "The
// last per-step costs").
func TestShuffledBatchesInEpochOrder(t *testing.T) {
	const n, dim, batch, epochs, seed, lr = 7, 3, 2, 3, 5, 0.05
	xs := make([]float32, n*dim)
	ys := make([]float32, n)
	for i := range xs {
		xs[i] = float32(math.Sin(float64(i)*1.3) * 2)
	}
	for i := range ys {
		ys[i] = float32(i) - 3
	}
	x, _ := tfwrap.NewTensor(xs, n, dim)
	y, _ := tfwrap.NewTensor(ys, n, 1)
	d, err := NewDataset(x, y)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewSequential([]int64{dim}, layers.Dense(1, layers.NoBias()))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(lr), Seed: 1}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w0, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	w := floats64(t, w0[0])
	o := fitOpts(epochs, batch, seed)
	if _, err := m.Fit(context.Background(), d, o); err != nil {
		t.Fatal(err)
	}
	for e := 0; e < epochs; e++ {
		order := epochOrder(n, true, seed, e)
		for b := 0; b < n; b += batch {
			rows := order[b:min(b+batch, n)]
			grad := make([]float64, dim)
			for _, s := range rows {
				pred := 0.0
				for j := 0; j < dim; j++ {
					pred += float64(xs[int(s)*dim+j]) * w[j]
				}
				for j := 0; j < dim; j++ {
					grad[j] += 2 * (pred - float64(ys[s])) * float64(xs[int(s)*dim+j]) / float64(len(rows))
				}
			}
			for j := range w {
				w[j] -= lr * grad[j]
			}
		}
	}
	got, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	moved := 0.0
	for j, v := range floats64(t, got[0]) {
		if math.Abs(v-w[j]) > 1e-5*(1+math.Abs(w[j])) {
			t.Errorf("weight %d: Fit %.7g, replayed in epoch order %.7g", j, v, w[j])
		}
		moved = max(moved, math.Abs(v-floats64(t, w0[0])[j]))
	}
	if moved < 0.01 {
		t.Fatalf("the weights barely moved (%g): the replay proves nothing", moved)
	}
}
