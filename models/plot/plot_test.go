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

func TestMeanSD(t *testing.T) {
	x := []float64{1, 2, 5, 10, 20, 50}
	band := func(name string, base float64) Band {
		b := Band{Name: name, X: x}
		for i := range x {
			b.Mean = append(b.Mean, base+0.05*float64(i))
			b.SD = append(b.SD, 0.02)
		}
		return b
	}
	path := filepath.Join(t.TempDir(), "study.png")
	pn := Panel{Title: "near", XLabel: "labels per class", YLabel: "test accuracy", LogX: true,
		Bands: []Band{band("scratch", 0.5), band("frozen", 0.6)}}
	far := pn
	far.Title = "far"
	if err := MeanSD(path, pn, far); err != nil {
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
	if b := img.Bounds(); b.Dx() < 2*b.Dy() {
		t.Fatalf("image is %v, want two panels", b)
	}
	bad := Panel{Bands: []Band{{Name: "x", X: x, Mean: x[:2]}}}
	if err := MeanSD(path, bad); err == nil {
		t.Fatal("mismatched band accepted")
	}
	if err := MeanSD(path); err == nil {
		t.Fatal("no panels accepted")
	}
}
