package plot

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/tfgo-project/gotf/models"
)

func TestLearningCurves(t *testing.T) {
	h := &models.History{Epochs: []int{0, 1, 2}, Metrics: map[string][]float64{
		"loss": {1, 0.5, 0.3}, "val_loss": {1.1, 0.6, 0.5}, "accuracy": {0.5, 0.8, 0.9}, "val_accuracy": {0.4, 0.7, 0.85},
	}}
	path := filepath.Join(t.TempDir(), "out", "curves.png")
	if err := LearningCurves(h, "MLP", path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 2*b.Dy() { // two panels side by side
		t.Fatalf("image is %v, want two panels", b)
	}
	if err := LearningCurves(&models.History{}, "x", path); err == nil {
		t.Fatal("empty history accepted")
	}
}
