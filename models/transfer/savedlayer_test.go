package transfer_test

import (
	"context"
	"maps"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/models/transfer"
	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestSavedModelLayer builds a keras.applications MobileNetV2 SavedModel
// (alpha 0.35, 32×32, random weights, exported by
// scripts/export_keras_app.py; nothing downloads) into a Go model as a
// frozen layer, checks its features against the ones Python computed
// with tf.saved_model.load, trains a new head on it, exports backbone and
// head as one SavedModel and checks that Python's tf.saved_model.load
// predicts with it what Go predicts.
func TestSavedModelLayer(t *testing.T) {
	tmp := t.TempDir()
	ref, err := pyref.ExportKerasApp(tmp, 32)
	if err != nil {
		t.Fatal(err)
	}
	dir := ref.Dir
	bb, err := transfer.SavedModelLayer(dir, transfer.SavedModelOptions{Name: "mobilenet"})
	if err != nil {
		t.Fatal(err)
	}
	in := models.Input("image", 32, 32, 3)
	feats := models.Call(bb, in)
	probs := models.Call(layers.Dense(3, layers.WithActivation(layers.Softmax), layers.WithName("head"), layers.WithSeed(1)), feats)
	m, err := models.NewModel("transfer", []*models.Symbol{in}, []*models.Symbol{feats, probs})
	if err != nil {
		t.Fatal(err)
	}
	names := m.OutputNames()
	// The features are an output to compare, not to train.
	if err := m.Compile(models.CompileOptions{Loss: losses.CategoricalCrossentropy{}, Optimizer: optimizers.Adam(1e-2),
		Losses: map[string]losses.Loss{names[0]: losses.MeanSquaredError{}}, LossWeights: map[string]float64{names[0]: 0}}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	trainable, frozen := 0, 0
	for _, v := range m.Weights() {
		if v.Trainable() {
			trainable++
		} else {
			frozen++
		}
	}
	if trainable != 2 || frozen != 260 {
		t.Fatalf("%d trainable and %d frozen weights, want the head's 2 and MobileNetV2's 260", trainable, frozen)
	}
	img, err := tfwrap.NewTensor(ref.Image, 1, 32, 32, 3)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := m.PredictAll([]*tfwrap.Tensor{img}, models.PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := outs[0].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range got {
		worst = math.Max(worst, math.Abs(float64(got[i])-ref.Features[i]))
	}
	t.Logf("%d features, largest difference from Python's %.2g", len(got), worst)
	if len(got) != len(ref.Features) || worst > 1e-5 {
		t.Fatalf("features differ from Python's by %g (%d against %d)", worst, len(got), len(ref.Features))
	}
	before, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	// A few steps on made-up images: the head moves, the backbone not.
	n := 12
	xs, ys := make([]float32, n*32*32*3), make([]float32, n*3)
	for i := range xs {
		xs[i] = float32(math.Sin(float64(i)*0.37)) * 0.9
	}
	for i := range n {
		ys[i*3+i%3] = 1
	}
	xt, _ := tfwrap.NewTensor(xs, int64(n), 32, 32, 3)
	yt, _ := tfwrap.NewTensor(ys, int64(n), 3)
	ft, _ := tfwrap.NewTensor(make([]float32, n*1280), int64(n), 1280)
	ds, err := models.NewMultiDataset([]*tfwrap.Tensor{xt}, []*tfwrap.Tensor{ft, yt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Fit(context.Background(), ds, models.FitOptions{Epochs: 2, BatchSize: 4, Progress: models.ProgressSilent}); err != nil {
		t.Fatal(err)
	}
	after, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for i, w := range m.Weights() {
		a, _ := before[i].Float32s()
		b, _ := after[i].Float32s()
		same := true
		for j := range a {
			same = same && a[j] == b[j]
		}
		if !same {
			moved++
			if !w.Trainable() {
				t.Fatalf("frozen weight %s moved", w.Name())
			}
		}
	}
	if moved != 2 {
		t.Fatalf("%d weights moved, want the head's 2", moved)
	}

	// One SavedModel, backbone and head, that Python runs as Go does.
	export := filepath.Join(tmp, "export")
	if err := m.Export(export); err != nil {
		t.Fatal(err)
	}
	want, err := m.PredictAll([]*tfwrap.Tensor{xt}, models.PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var py struct {
		Outputs map[string][]float64 `json:"outputs"`
	}
	req := map[string]any{"dir": export, "signature": tfwrap.DefaultSignature,
		"inputs": map[string]any{"image": map[string]any{"shape": []int{n, 32, 32, 3}, "data": xs}}}
	if err := pyref.Run("call_savedmodel.py", req, &py); err != nil {
		t.Fatal(err)
	}
	for k, name := range names {
		g, _ := want[k].Float32s()
		p := py.Outputs[name]
		if len(p) != len(g) {
			t.Fatalf("output %s: Python gave %d values, Go %d", name, len(p), len(g))
		}
		worst := 0.0
		for i := range g {
			worst = math.Max(worst, math.Abs(float64(g[i])-p[i]))
		}
		t.Logf("exported output %s: largest difference between Go and Python %.2g", name, worst)
		if worst > 1e-5 {
			t.Fatalf("exported output %s: Python differs from Go by %g", name, worst)
		}
	}
	// What cmd/serve loads it with.
	served, err := savedmodels.Load(export)
	if err != nil {
		t.Fatal(err)
	}
	defer served.Close()
	res, err := served.Predict(tfwrap.DefaultSignature, map[string]*tfwrap.Tensor{"image": xt})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := want[1].Float32s()
	s, _ := res[names[1]].Float32s()
	for i := range g {
		if g[i] != s[i] {
			t.Fatalf("savedmodels.Load of the export predicts %v, the model %v", s[i], g[i])
		}
	}

	// Frozen is all a SavedModel can be.
	for _, o := range []transfer.TrainOptions{{FineFrom: "block_1_expand"}, {Scratch: true}} {
		o.Backbone, o.Classes, o.Progress = dir, 3, models.ProgressSilent
		if _, err := transfer.Train(context.Background(), ds, nil, o); err == nil || !strings.Contains(err.Error(), "is a SavedModel: it is used frozen") {
			t.Errorf("Train(%+v) = %v, want the SavedModel refused", o, err)
		}
	}
}

// TestSavedModelLayerKinds: SavedModels without variables work; two
// SavedModels exported by separate processes, whose functions share names
// with different bodies, sit side by side in one model; a signature that
// needs a lookup table or writes a variable is refused when the layer is
// made; one that does not keep a row per input row is a run's error, not
// rows of another meaning (scripts/reference/savedmodel_kinds.py makes
// them and computes Python's features).
func TestSavedModelLayerKinds(t *testing.T) {
	dir := t.TempDir()
	py := map[string][]float64{}
	for _, kinds := range [][]string{{"relu", "novars", "table", "assigns", "batch_changes"}, {"tanh"}} {
		var part map[string][]float64
		if err := pyref.Run("savedmodel_kinds.py", map[string]any{"dir": dir, "kinds": kinds}, &part); err != nil {
			t.Fatal(err)
		}
		maps.Copy(py, part)
	}
	xs := make([]float32, 2*8*8*3)
	for i := range xs {
		xs[i] = float32(math.Sin(float64(i) * 0.37))
	}
	x, _ := tfwrap.NewTensor(xs, 2, 8, 8, 3)

	// relu and tanh side by side, and novars, each against Python.
	in := models.Input("images", 8, 8, 3)
	var outs []*models.Symbol
	kinds := []string{"relu", "tanh", "novars"}
	for _, k := range kinds {
		l, err := transfer.SavedModelLayer(filepath.Join(dir, k), transfer.SavedModelOptions{Name: k})
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, models.Call(l, in))
	}
	head := models.Call(layers.Dense(1, layers.WithName("head")), models.CallMulti(layers.Concatenate(-1), outs...))
	m, err := models.NewModel("kinds", []*models.Symbol{in}, append(outs, head))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(models.CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1)}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := m.PredictAll([]*tfwrap.Tensor{x}, models.PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range kinds {
		g, _ := got[i].Float32s()
		if len(g) != len(py[k]) {
			t.Fatalf("%s: %d features, Python %d", k, len(g), len(py[k]))
		}
		for j := range g {
			if math.Abs(float64(g[j])-py[k][j]) > 1e-5 {
				t.Fatalf("%s: feature %d is %v, Python %v", k, j, g[j], py[k][j])
			}
		}
	}

	for k, want := range map[string]string{"table": "uses a lookup table", "assigns": "writes a variable"} {
		if _, err := transfer.SavedModelLayer(filepath.Join(dir, k), transfer.SavedModelOptions{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to say %q", k, err, want)
		}
	}
	l, err := transfer.SavedModelLayer(filepath.Join(dir, "batch_changes"), transfer.SavedModelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bin := models.Input("images", 8, 8, 3)
	bm, err := models.NewModel("rows", []*models.Symbol{bin}, []*models.Symbol{models.Call(layers.Dense(1), models.Call(l, bin))})
	if err != nil {
		t.Fatal(err)
	}
	if err := bm.Compile(models.CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1)}); err != nil {
		t.Fatal(err)
	}
	defer bm.Close()
	if y, err := bm.Predict(x, models.PredictOptions{}); err == nil {
		t.Fatalf("a signature giving 48 rows for 2 images predicted %v", y.Shape())
	}
}
