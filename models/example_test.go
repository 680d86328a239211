package models_test

import (
	"context"
	"fmt"
	"iter"
	"log"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/course"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// The course's Keras workflow: define the training data, define a network
// of layers, choose the loss, optimizer and metrics, then fit.
func ExampleSequential() {
	// 1. The data: the two clusters, as class ids 0 and 1.
	x, labels, err := course.TwoClusters(500, 1)
	if err != nil {
		log.Fatal(err)
	}
	l, _ := labels.Float32s()
	ids := make([]int32, len(l))
	for i, v := range l {
		ids[i] = int32(v)
	}
	y, _ := tfwrap.NewTensor(ids)
	data, err := models.NewDataset(x, y)
	if err != nil {
		log.Fatal(err)
	}

	// 2. The layers.
	m, err := models.NewSequential([]int64{2},
		layers.Dense(8, layers.WithActivation(layers.ReLU)),
		layers.Dense(2, layers.WithActivation(layers.Softmax)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(m.Summary())

	// 3. Loss, optimizer, metrics.
	if err := m.Compile(models.CompileOptions{
		Loss:      losses.SparseCategoricalCrossentropy{},
		Optimizer: optimizers.Adam(0.01),
		Metrics:   []metrics.Metric{metrics.SparseCategoricalAccuracy{}},
		Seed:      1,
	}); err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// 4. Fit, then evaluate.
	hist, err := m.Fit(context.Background(), data, models.FitOptions{
		Epochs: 5, BatchSize: 32, Seed: 1, Progress: models.ProgressSilent,
	})
	if err != nil {
		log.Fatal(err)
	}
	acc, _ := hist.Last("accuracy")
	fmt.Printf("training accuracy after %d epochs: %.2f\n", len(hist.Epochs), acc)
	// Output:
	// Model: "sequential"
	// ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
	// ┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
	// ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
	// │ dense (Dense)                   │ (None, 8)              │            24 │
	// ├─────────────────────────────────┼────────────────────────┼───────────────┤
	// │ dense_1 (Dense)                 │ (None, 2)              │            18 │
	// └─────────────────────────────────┴────────────────────────┴───────────────┘
	//  Total params: 42 (168.00 B)
	//  Trainable params: 42 (168.00 B)
	//  Non-trainable params: 0 (0.00 B)
	// training accuracy after 5 epochs: 1.00
}

// FitStream trains from batches made one at a time, for data that does not
// fit in memory: here a generator draws each batch of the two clusters on
// the fly, and a goroutine reads two batches ahead of the training step.
func ExampleSequential_FitStream() {
	// batch draws n points of each cluster, labelled with class ids.
	batch := func(n int, seed uint64) (models.Batch, error) {
		x, labels, err := course.TwoClusters(n, seed)
		if err != nil {
			return models.Batch{}, err
		}
		l, _ := labels.Float32s()
		ids := make([]int32, len(l))
		for i, v := range l {
			ids[i] = int32(v)
		}
		y, err := tfwrap.NewTensor(ids)
		return models.Batch{X: x, Y: y}, err
	}
	// Each epoch is 20 batches of 32, never all in memory at once.
	src := models.StreamFunc(func(epoch int) iter.Seq2[models.Batch, error] {
		return func(yield func(models.Batch, error) bool) {
			for i := range 20 {
				if !yield(batch(16, uint64(100*epoch+i))) {
					return
				}
			}
		}
	})
	val, err := batch(200, 7)
	if err != nil {
		log.Fatal(err)
	}
	valData, err := models.NewDataset(val.X, val.Y)
	if err != nil {
		log.Fatal(err)
	}

	m, err := models.NewSequential([]int64{2},
		layers.Dense(8, layers.WithActivation(layers.ReLU)),
		layers.Dense(2, layers.WithActivation(layers.Softmax)))
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Compile(models.CompileOptions{
		Loss:      losses.SparseCategoricalCrossentropy{},
		Optimizer: optimizers.Adam(0.01),
		Metrics:   []metrics.Metric{metrics.SparseCategoricalAccuracy{}},
		Seed:      1,
	}); err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	hist, err := m.FitStream(context.Background(), src, models.FitOptions{
		Epochs: 3, ValidationData: valData, Progress: models.ProgressSilent,
	})
	if err != nil {
		log.Fatal(err)
	}
	acc, _ := hist.Last("val_accuracy")
	fmt.Printf("validation accuracy after %d epochs: %.2f\n", len(hist.Epochs), acc)
	// Output:
	// validation accuracy after 3 epochs: 0.99
}
