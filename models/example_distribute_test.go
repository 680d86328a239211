package models_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/course"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/cluster"
)

// freeAddr returns a free loopback address.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Synchronous training over two workers. Each task of a real cluster is a
// process of its own (cmd/tfserver, or cmd/train --cluster … --task i);
// here both servers run in this process, on two loopback ports. The
// process that compiles the model is the chief: each batch is cut in two,
// worker i computes the gradients of half i, and their average makes one
// update, as MirroredStrategy does.
func ExampleDistribute() {
	spec := cluster.Spec{"worker": {freeAddr(), freeAddr()}}
	for i := range spec["worker"] {
		// TensorFlow 2.21 cannot stop a started server: it serves until
		// the process exits.
		if _, err := tfwrap.NewServer(spec, "worker", i); err != nil {
			log.Fatal(err)
		}
	}
	x, y, err := course.TwoClusters(200, 7)
	if err != nil {
		log.Fatal(err)
	}
	train, err := models.NewDataset(x, y)
	if err != nil {
		log.Fatal(err)
	}
	m, err := models.NewSequential([]int64{2}, layers.Dense(1, layers.WithActivation(layers.Sigmoid)))
	if err != nil {
		log.Fatal(err)
	}
	err = m.Compile(models.CompileOptions{
		Loss: losses.BinaryCrossentropy{}, Optimizer: optimizers.SGD(0.5),
		Metrics:    []metrics.Metric{metrics.BinaryAccuracy{}},
		Distribute: &models.Distribute{Cluster: spec, Strategy: models.Mirrored},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	hist, err := m.Fit(context.Background(), train, models.FitOptions{Epochs: 5, BatchSize: 32, Progress: models.ProgressSilent})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d epochs on 2 workers, final accuracy above 0.95: %v\n", len(hist.Epochs), hist.Metrics["accuracy"][4] > 0.95)
	// Output:
	// 5 epochs on 2 workers, final accuracy above 0.95: true
}
