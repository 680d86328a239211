package transfer

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
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
	x, err := tfwrap.NewTensor(xs, 3, 28, 28, 1)
	if err != nil {
		t.Fatal(err)
	}
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
			near(t, depth, rebuilt, frozen, 1e-5)
		})
	}
	m := rebuild(t, bb, "", "block2_conv")
	var names []string
	for _, w := range m.Trainable() {
		names = append(names, w.Name())
	}
	if len(names) != 4 || names[0] != "block2_conv/kernel" || names[2] != "features/kernel" {
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

// TestBackboneLayersFromConfig rebuilds, in pure Go, the layers that
// backbone.json describes, frozen below trainableFrom, and rejects what
// layers.FromConfig rejects.
func TestBackboneLayersFromConfig(t *testing.T) {
	bb := &Backbone{Spec: BackboneSpec{Input: []int64{28, 28, 1}, Layers: []layers.Config{
		{Type: "Conv2D", Name: "block1_conv", Filters: 32, Kernel: []int{3, 3}, Activation: "relu"},
		{Type: "MaxPooling2D", Name: "block1_pool", Size: []int{2, 2}},
		{Type: "Flatten", Name: "features"},
	}}}
	ls, err := bb.Layers("block1_pool", "block1_pool")
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || !ls[0].Config().Frozen || ls[1].Config().Frozen || ls[0].Config().Filters != 32 {
		t.Fatalf("layers %v", ls)
	}
	bb.Spec.Layers[1].Size = []int{2}
	if _, err := bb.Layers("", ""); err == nil || !strings.Contains(err.Error(), "block1_pool") {
		t.Fatalf("a one-number pool size: %v", err)
	}
}

func near(t *testing.T, what string, got, want *tfwrap.Tensor, tol float64) {
	t.Helper()
	g, err := got.Float64sAny()
	if err != nil {
		t.Fatal(err)
	}
	w, err := want.Float64sAny()
	if err != nil {
		t.Fatal(err)
	}
	if len(g) != len(w) {
		t.Fatalf("%s: %d values, want %d", what, len(g), len(w))
	}
	for i := range g {
		if math.Abs(g[i]-w[i]) > tol*(1+math.Abs(w[i])) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, g[i], w[i])
		}
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
