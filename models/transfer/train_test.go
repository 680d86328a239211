package transfer_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/data/imagefolder"
	"github.com/tfgo-project/gotf/data/shapes"
	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/transfer"
	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

const shapeSize = 32

// shapesBackbone returns a small MobileNetV2-style network (32×32) pretrained by
// Keras on four source shapes (ring, cross, bar, hexagon; none of them a target shape), made
// once and kept in .cache/shapes-backbone under the hash of the script
// that makes it, as the MNIST backbones are.
func shapesBackbone(t *testing.T) string {
	t.Helper()
	root, err := pyref.Root()
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(root, "scripts", "pretrain_shapes_backbone.py"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(script)
	dir := filepath.Join(root, ".cache", "shapes-backbone")
	out := filepath.Join(dir, "mobilenetv2_32_"+hex.EncodeToString(sum[:4])+".keras")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	src := filepath.Join(t.TempDir(), "source")
	if _, err := shapes.Write(src, shapes.Options{Shapes: []string{"ring", "cross", "bar", "hexagon"},
		PerClass: 300, Size: shapeSize, Seed: 100}); err != nil {
		t.Fatal(err)
	}
	if err := pyref.Script("pretrain_shapes_backbone.py", "--data", src, "--out", out, "--size", "32"); err != nil {
		t.Fatal(err)
	}
	return out
}

func load(t *testing.T, dir string) (*imagefolder.Set, *models.Dataset) {
	t.Helper()
	s, err := imagefolder.Load(dir, imagefolder.Options{Height: shapeSize, Width: shapeSize, Shuffle: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	x, err := tfwrap.NewTensor(s.Images, int64(len(s.Files)), shapeSize, shapeSize, 3)
	if err != nil {
		t.Fatal(err)
	}
	y, err := tfwrap.NewTensor(s.Labels, int64(len(s.Labels)))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := models.NewDataset(x, y)
	if err != nil {
		t.Fatal(err)
	}
	return s, ds
}

func accuracy(t *testing.T, m *models.Model, s *imagefolder.Set) (float64, []float32) {
	t.Helper()
	x, err := tfwrap.NewTensor(s.Images, int64(len(s.Files)), shapeSize, shapeSize, 3)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Predict(x, models.PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	probs, err := p.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	c, err := transfer.Confusion(probs, s.Labels, len(s.Classes))
	if err != nil {
		t.Fatal(err)
	}
	right := 0
	for i := range c {
		right += c[i][i]
	}
	return float64(right) / float64(len(s.Labels)), probs
}

// TestFineTunedBeatsScratch: on circles, squares and triangles, 20 images
// per class, a MobileNetV2 pretrained on other shapes and fine-tuned beats
// the same network trained from scratch by at least 5 points of test
// accuracy (mean of 3 seeds); the fine-tuned model's export, loaded as
// cmd/serve loads it, predicts what Go predicted.
func TestFineTunedBeatsScratch(t *testing.T) {
	backbone := shapesBackbone(t)
	dir := t.TempDir()
	target := []string{"circle", "square", "triangle"}
	if _, err := shapes.Write(filepath.Join(dir, "test"), shapes.Options{Shapes: target, PerClass: 60, Size: shapeSize, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	testSet, _ := load(t, filepath.Join(dir, "test"))
	var fine, frozen, scratch []float64
	for seed := int64(1); seed <= 3; seed++ {
		train := filepath.Join(dir, "train", string(rune('0'+seed)))
		if _, err := shapes.Write(train, shapes.Options{Shapes: target, PerClass: 20, Size: shapeSize, Seed: 10 + seed}); err != nil {
			t.Fatal(err)
		}
		_, ds := load(t, train)
		for _, method := range []string{"finetuned", "frozen", "scratch"} {
			o := transfer.TrainOptions{Backbone: backbone, Classes: 3, Epochs: 8, FineFrom: "block_5_expand", FineEpochs: 8,
				FineLR: 1e-4, BatchSize: 16, Seed: uint64(seed), Scratch: method == "scratch", Progress: models.ProgressSilent}
			if method == "frozen" {
				o.FineFrom = ""
			}
			tr, err := transfer.Train(context.Background(), ds, nil, o)
			if err != nil {
				t.Fatal(err)
			}
			acc, probs := accuracy(t, tr.Model, testSet)
			switch method {
			case "scratch":
				scratch = append(scratch, acc)
			case "frozen":
				frozen = append(frozen, acc)
			default:
				fine = append(fine, acc)
				if seed == 1 {
					checkExport(t, tr.Model, testSet, probs)
				}
			}
			tr.Model.Close()
		}
	}
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	t.Logf("test accuracy on 180 images, 20 training images per class, seeds 1-3: fine-tuned %.3f %.3f, frozen backbone + head %.3f %.3f, scratch %.3f %.3f",
		mean(fine), fine, mean(frozen), frozen, mean(scratch), scratch)
	if mean(fine) < mean(scratch)+0.05 {
		t.Errorf("fine-tuned %.3f is not 5 points above scratch %.3f", mean(fine), mean(scratch))
	}
}

// checkExport exports the model and loads it with savedmodels (what
// cmd/serve runs): its probabilities are Go's, for decoded images and for
// the encoded files themselves (the serving_bytes signature, also run by
// Python's tf.saved_model.load).
func checkExport(t *testing.T, m *models.Model, s *imagefolder.Set, want []float32) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "1")
	if err := m.ExportWith(dir, models.ExportOptions{ImageBytes: true}); err != nil {
		t.Fatal(err)
	}
	// A second export reuses the decoding graph: the same size.
	again := filepath.Join(t.TempDir(), "2")
	if err := m.ExportWith(again, models.ExportOptions{ImageBytes: true}); err != nil {
		t.Fatal(err)
	}
	a, errA := os.Stat(filepath.Join(dir, "saved_model.pb"))
	b, errB := os.Stat(filepath.Join(again, "saved_model.pb"))
	if errA != nil || errB != nil || a.Size() != b.Size() {
		t.Errorf("saved_model.pb of two exports: %v %v (%v, %v)", a, b, errA, errB)
	}
	sm, err := savedmodels.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	x, err := tfwrap.NewTensor(s.Images, int64(len(s.Files)), shapeSize, shapeSize, 3)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sm.Predict("serving_default", map[string]*tfwrap.Tensor{"image": x})
	if err != nil {
		t.Fatal(err)
	}
	files := make([]string, len(s.Files))
	for i, f := range s.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = string(b)
	}
	enc, err := tfwrap.NewStrings(files, int64(len(files)))
	if err != nil {
		t.Fatal(err)
	}
	fromBytes, err := sm.Predict(models.ImageBytesSignature, map[string]*tfwrap.Tensor{"image_bytes": enc})
	if err != nil {
		t.Fatal(err)
	}
	if len(fromBytes) != 1 {
		t.Fatalf("serving_bytes outputs: %v", fromBytes)
	}
	junk, _ := tfwrap.NewStrings([]string{files[0], "not an image"}, 2)
	if _, err := sm.Predict(models.ImageBytesSignature, map[string]*tfwrap.Tensor{"image_bytes": junk}); err == nil {
		t.Error("serving_bytes took bytes that are not an image")
	}
	for name, v := range fromBytes {
		out["bytes:"+name] = v
	}
	var py struct {
		Outputs map[string][]float32 `json:"outputs"`
	}
	if err := pyref.Run("call_savedmodel_bytes.py", map[string]any{"dir": dir, "signature": models.ImageBytesSignature,
		"input": "image_bytes", "files": s.Files}, &py); err != nil {
		t.Fatal(err)
	}
	for name, v := range py.Outputs {
		py, err := tfwrap.NewTensor(v, int64(len(v)))
		if err != nil {
			t.Fatal(err)
		}
		out["python bytes:"+name] = py
	}
	for name, v := range out {
		got, err := v.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for i := range got {
			worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		}
		if len(got) != len(want) || worst > 1e-6 {
			t.Errorf("export output %s: %d values, largest difference from Go's %g", name, len(got), worst)
		}
	}
}

// TestTrainRefusesEarly: a FineFrom naming no layer, and options that are
// not numbers, are errors before any training.
func TestTrainRefusesEarly(t *testing.T) {
	backbone := shapesBackbone(t)
	x, _ := tfwrap.NewTensor(make([]float32, 2*shapeSize*shapeSize*3), 2, shapeSize, shapeSize, 3)
	y, _ := tfwrap.NewTensor([]int32{0, 1}, 2)
	ds, err := models.NewDataset(x, y)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    transfer.TrainOptions
		want string
	}{
		{transfer.TrainOptions{FineFrom: "block_5_expnd"}, `names no layer (did you mean "block_5_expand"?)`},
		{transfer.TrainOptions{Scale: math.NaN()}, "must be finite numbers"},
		{transfer.TrainOptions{Backbone: "/dev/null"}, "is neither a file nor a folder"},
	} {
		o := c.o
		if o.Backbone == "" {
			o.Backbone = backbone
		}
		o.Classes, o.Progress = 2, models.ProgressSilent
		tr, err := transfer.Train(context.Background(), ds, nil, o)
		if err == nil {
			tr.Model.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error saying %q", c.o, err, c.want)
		}
	}
}
