package imagefolder_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/tfgo-project/gotf/data/imagefolder"
	"github.com/tfgo-project/gotf/data/shapes"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
)

// Open streams a folder of images, one subfolder per class, into
// FitStream batch by batch: only the batches in flight are in memory, so
// the folder may be larger than memory. (Load reads a folder into one
// Dataset instead.)
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "shapes")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// A folder as a user keeps one: circle/, square/, triangle/ of 24 × 24 JPEGs.
	if _, err := shapes.Write(dir, shapes.Options{PerClass: 20, Size: 24, Seed: 1, JPEG: true}); err != nil {
		log.Fatal(err)
	}
	src, err := imagefolder.Open(dir, imagefolder.Options{Height: 16, Width: 16, BatchSize: 16, Shuffle: true, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	fmt.Println(src.Classes, len(src.Files), "files,", src.Len(), "batches an epoch")

	m, err := models.NewSequential([]int64{16, 16, 3},
		layers.Rescaling(1.0/255, 0),
		layers.Flatten(),
		layers.Dense(3, layers.WithActivation(layers.Softmax)))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if err := m.Compile(models.CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.Adam(0.01), Seed: 1}); err != nil {
		log.Fatal(err)
	}
	hist, err := m.FitStream(context.Background(), src, models.FitOptions{Epochs: 3, Progress: models.ProgressSilent})
	if err != nil {
		log.Fatal(err)
	}
	loss := hist.Metrics["loss"]
	fmt.Println(len(hist.Epochs), "epochs, loss went down:", loss[2] < loss[0])
	// Output:
	// [circle square triangle] 60 files, 4 batches an epoch
	// 3 epochs, loss went down: true
}
