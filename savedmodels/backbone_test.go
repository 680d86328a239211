package savedmodels

import (
	"path/filepath"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestBackboneFrozenAndTrainableAgree pretrains a backbone for one epoch
// with scripts/pretrain_backbone.py, then checks that the features of the
// loaded SavedModel, at every depth, equal those of the backbone rebuilt in
// Go from its trainable form, and that frozen layers stay out of training.
func TestBackboneFrozenAndTrainableAgree(t *testing.T) {
	root, err := pyref.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "backbone")
	if err := pyref.Script("pretrain_backbone.py", "--out", dir, "--epochs", "1", "--data", filepath.Join(root, ".cache", "mnist")); err != nil {
		t.Fatal(err)
	}
	bb, err := LoadBackbone(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer bb.Close()
	xs := make([]float32, 3*784)
	for i := range xs {
		xs[i] = float32(i%29) / 29
	}
	x := tensor(t, xs, 3, 28, 28, 1)
	for depth, upTo := range map[string]string{"block1": "block1_pool", "block2": "block2_pool", "features": "features"} {
		t.Run(depth, func(t *testing.T) {
			frozen, err := bb.Features(depth, x)
			if err != nil {
				t.Fatal(err)
			}
			m := rebuild(t, bb, upTo, "")
			if err := bb.LoadInto(m); err != nil {
				t.Fatal(err)
			}
			rebuilt, err := m.Predict(x, models.PredictOptions{})
			if err != nil {
				t.Fatal(err)
			}
			near(t, depth, values(t, rebuilt), values(t, frozen), 1e-5)
		})
	}
	m := rebuild(t, bb, "", "block2_conv")
	var names []string
	for _, w := range m.Trainable() {
		names = append(names, w.Name())
	}
	if len(names) != 2 || names[0] != "block2_conv/kernel" {
		t.Fatalf("trainable with block 1 frozen: %v", names)
	}
	if _, err := bb.Layers("nope", ""); err == nil {
		t.Fatal("unknown layer accepted")
	}
	if _, err := bb.Features("nope", x); err == nil {
		t.Fatal("unknown depth accepted")
	}
	if _, err := LoadBackbone(t.TempDir()); err == nil {
		t.Fatal("empty folder loaded")
	}
	_, err = tfwrap.ReadCheckpoint(filepath.Join(dir, "weights"), map[string]tfwrap.DType{"no/such": tfwrap.Float32})
	if err == nil {
		t.Fatal("missing key read")
	}
}

// rebuild compiles the backbone's layers up to upTo, frozen below
// trainableFrom, into a model closed when the test ends.
func rebuild(t *testing.T, bb *Backbone, upTo, trainableFrom string) *models.Sequential {
	t.Helper()
	ls, err := bb.Layers(upTo, trainableFrom)
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.NewSequential(bb.Spec.Input, ls...)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(models.CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
