package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/tfgo-project/gotf/data/imagefolder"
	"github.com/tfgo-project/gotf/data/shapes"
)

// imageCase decodes, resizes and batches a folder of JPEGs, as a training
// input pipeline does, on both sides:
//
//	BENCH case=images_jpeg_96 unit=images/s go=… keras=… ratio=…
//
// Go: data/imagefolder.Load (TensorFlow's DecodeImage and ResizeBilinear,
// one call per image, on every core); Keras: image_dataset_from_directory
// iterated to the end (tf.data's parallel map). 3,000 JPEGs of 128×128
// (data/shapes, three classes) resized to 96×96; the best of three passes
// each, after one untimed pass that warms the file cache.
const imageCase = "images_jpeg_96"

func runImages(python string) error {
	dir, err := os.MkdirTemp("", "bench-images")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := shapes.Write(dir, shapes.Options{PerClass: 1000, Size: 128, Seed: 1, JPEG: true}); err != nil {
		return err
	}
	const size, passes = 96, 3
	best := time.Duration(1 << 62)
	n := 0
	for p := 0; p <= passes; p++ {
		start := time.Now()
		s, err := imagefolder.Load(dir, imagefolder.Options{Height: size, Width: size})
		if err != nil {
			return err
		}
		if p > 0 {
			best = min(best, time.Since(start))
		}
		n = len(s.Files)
	}
	goRate := float64(n) / best.Seconds()
	line := fmt.Sprintf("BENCH case=%s unit=images/s images=%d go=%.0f", imageCase, n, goRate)
	if python == "" {
		fmt.Println(line)
		return nil
	}
	body, _ := json.Marshal(map[string]any{"dir": dir, "size": size, "passes": passes})
	cmd := exec.Command(python, filepath.Join("scripts", "bench_images.py"))
	cmd.Stdin = bytes.NewReader(body)
	cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=3")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s: %w", imageCase, err)
	}
	var k struct {
		Images int     `json:"images"`
		Rate   float64 `json:"images_per_s"`
	}
	if err := json.Unmarshal(out, &k); err != nil {
		return fmt.Errorf("%s: keras said %q: %w", imageCase, out, err)
	}
	if k.Images != n {
		return fmt.Errorf("%s: Keras read %d images, Go %d", imageCase, k.Images, n)
	}
	fmt.Printf("%s keras=%.0f ratio=%.2f\n", line, k.Rate, goRate/k.Rate)
	return nil
}
