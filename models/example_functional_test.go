package models_test

import (
	"context"
	"fmt"
	"io"
	"log"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/course"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// A functional model, as keras.Model(inputs, outputs): two clusters of
// points go through a residual block (a skip connection with Add), and
// two outputs read the result, each with its own loss and metrics. Fit
// takes the data by name.
func ExampleNewModel() {
	x, labels, err := course.TwoClusters(400, 7)
	if err != nil {
		log.Fatal(err)
	}
	point := models.Input("point", 2)
	h := models.Call(layers.Dense(8, layers.WithActivation(layers.Tanh)), point)
	r := models.Call(layers.Dense(8, layers.WithActivation(layers.Tanh)), h)
	h = models.CallMulti(layers.Add(), h, r) // the skip connection
	cluster := models.Call(layers.Dense(1, layers.WithActivation(layers.Sigmoid), layers.WithName("cluster")), h)
	echo := models.Call(layers.Dense(2, layers.WithName("echo")), h) // reconstructs the point
	m, err := models.NewModel("two_heads", []*models.Symbol{point}, []*models.Symbol{cluster, echo})
	if err != nil {
		log.Fatal(err) // any mistake above (shapes, names) shows here
	}
	fmt.Print(m.Summary())
	err = m.Compile(models.CompileOptions{
		Losses:        map[string]losses.Loss{"cluster": losses.BinaryCrossentropy{}, "echo": losses.MeanSquaredError{}},
		LossWeights:   map[string]float64{"echo": 0.5},
		OutputMetrics: map[string][]metrics.Metric{"cluster": {metrics.BinaryAccuracy{}}},
		Optimizer:     optimizers.Adam(0.02),
		Seed:          1,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	data, err := models.NewNamedDataset(
		map[string]*tfwrap.Tensor{"point": x},
		map[string]*tfwrap.Tensor{"cluster": labels, "echo": x})
	if err != nil {
		log.Fatal(err)
	}
	h2, err := m.Fit(context.Background(), data, models.FitOptions{Epochs: 10, Output: io.Discard})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("cluster accuracy %.2f\n", h2.Metrics["cluster_accuracy"][9])
	// Output:
	// Model: "two_heads"
	// ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓
	// ┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃ Connected to               ┃
	// ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩
	// │ point (InputLayer)              │ (None, 2)              │             0 │ -                          │
	// ├─────────────────────────────────┼────────────────────────┼───────────────┼────────────────────────────┤
	// │ dense (Dense)                   │ (None, 8)              │            24 │ point[0][0]                │
	// ├─────────────────────────────────┼────────────────────────┼───────────────┼────────────────────────────┤
	// │ dense_1 (Dense)                 │ (None, 8)              │            72 │ dense[0][0]                │
	// ├─────────────────────────────────┼────────────────────────┼───────────────┼────────────────────────────┤
	// │ add (Add)                       │ (None, 8)              │             0 │ dense[0][0], dense_1[0][0] │
	// ├─────────────────────────────────┼────────────────────────┼───────────────┼────────────────────────────┤
	// │ cluster (Dense)                 │ (None, 1)              │             9 │ add[0][0]                  │
	// ├─────────────────────────────────┼────────────────────────┼───────────────┼────────────────────────────┤
	// │ echo (Dense)                    │ (None, 2)              │            18 │ add[0][0]                  │
	// └─────────────────────────────────┴────────────────────────┴───────────────┴────────────────────────────┘
	//  Total params: 123 (492.00 B)
	//  Trainable params: 123 (492.00 B)
	//  Non-trainable params: 0 (0.00 B)
	// cluster accuracy 1.00
}
