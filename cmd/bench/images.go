package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tfgo-project/gotf/data/imagefolder"
	"github.com/tfgo-project/gotf/data/shapes"
)

// imageCase decodes, resizes and batches a folder of JPEGs, as a training
// input pipeline does, on both sides:
//
//	BENCH case=images_jpeg_96 unit=images/s go=… keras=… ratio=…
//	BENCH case=images_jpeg_96_load unit=images/s go=… keras=… ratio=…
//
// The first is like for like: Go's data/imagefolder.Open and Keras's
// image_dataset_from_directory, both batches of 32 iterated to the end
// and dropped (tf.data's parallel map of TensorFlow's DecodeImage and
// ResizeBilinear on both sides). The second times imagefolder.Load, which
// also copies every image into one Go slice, against the same Keras
// number. 3,000 JPEGs of 128×128 (data/shapes, three classes) resized to
// 96×96; the best of three passes each, after one untimed pass that warms
// the file cache.
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
	opts := imagefolder.Options{Height: size, Width: size, BatchSize: 32}
	stream := func() (int, error) {
		s, err := imagefolder.Open(dir, opts)
		if err != nil {
			return 0, err
		}
		defer s.Close()
		n := 0
		for {
			b, err := s.Next(context.Background())
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			if err != nil {
				return 0, err
			}
			n += int(b.X.Shape()[0])
		}
	}
	load := func() (int, error) {
		s, err := imagefolder.Load(dir, opts)
		if err != nil {
			return 0, err
		}
		return len(s.Files), nil
	}
	var rates [2]float64
	n := 0
	for k, read := range []func() (int, error){stream, load} {
		best := time.Duration(1 << 62)
		for p := 0; p <= passes; p++ {
			start := time.Now()
			if n, err = read(); err != nil {
				return err
			}
			if p > 0 {
				best = min(best, time.Since(start))
			}
		}
		rates[k] = float64(n) / best.Seconds()
	}
	lines := []string{
		fmt.Sprintf("BENCH case=%s unit=images/s images=%d go=%.0f", imageCase, n, rates[0]),
		fmt.Sprintf("BENCH case=%s_load unit=images/s images=%d go=%.0f", imageCase, n, rates[1]),
	}
	if python == "" {
		fmt.Println(strings.Join(lines, "\n"))
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
	for i, line := range lines {
		fmt.Printf("%s keras=%.0f ratio=%.2f\n", line, k.Rate, rates[i]/k.Rate)
	}
	return nil
}
