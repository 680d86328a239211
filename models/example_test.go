package models_test

import (
	"context"
	"fmt"
	"iter"
	"log"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// The course's perceptron learns to separate two clusters of points:
// predict(x) = max(0, x·W + b), trained by gradient steps on the MSE loss.
func ExamplePerceptron() {
	x, labels, err := models.TwoClusters(1000, 42)
	if err != nil {
		log.Fatal(err)
	}
	p, err := models.NewPerceptron(2, 1, models.PerceptronOptions{
		LearningRate: 0.1,
		InitialW:     []float32{0.5, 0.5},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	for step := 0; step < 40; step++ {
		loss, err := p.TrainStep(x, labels)
		if err != nil {
			log.Fatal(err)
		}
		if step%10 == 0 {
			fmt.Printf("step %2d: loss %.4f\n", step, loss)
		}
	}
	pred, err := p.Predict(x)
	if err != nil {
		log.Fatal(err)
	}
	pv, _ := pred.Float32s()
	lv, _ := labels.Float32s()
	correct := 0
	for i := range pv {
		if (pv[i] > 0.5) == (lv[i] > 0.5) {
			correct++
		}
	}
	fmt.Printf("accuracy %.2f\n", float64(correct)/float64(len(pv)))
	// Output:
	// step  0: loss 2.0203
	// step 10: loss 0.0474
	// step 20: loss 0.0409
	// step 30: loss 0.0358
	// accuracy 0.99
}

// The course's Keras workflow: define the training data, define a network
// of layers, choose the loss, optimizer and metrics, then fit.
func ExampleSequential() {
	// 1. The data: the two clusters, as class ids 0 and 1.
	x, labels, err := models.TwoClusters(500, 1)
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
		x, labels, err := models.TwoClusters(n, seed)
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
