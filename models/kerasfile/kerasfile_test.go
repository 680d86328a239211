package kerasfile_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/kerasfile"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

type refModel struct {
	Shape []int64   `json:"shape"`
	X     []float32 `json:"x"`
	Y     []float32 `json:"y"`
}

var (
	kerasOnce sync.Once
	kerasDir  string
	kerasRefs map[string]refModel
	kerasErr  error
)

// keras has Keras 3 save the reference models once per test binary and
// predict with them.
func keras(t *testing.T) (string, map[string]refModel) {
	t.Helper()
	kerasOnce.Do(func() {
		if kerasDir, kerasErr = os.MkdirTemp("", "kerasfile"); kerasErr != nil {
			return
		}
		kerasErr = pyref.Run("keras_import.py", map[string]any{"dir": kerasDir, "seed": 3}, &kerasRefs)
	})
	if kerasErr != nil {
		t.Fatal(kerasErr)
	}
	return kerasDir, kerasRefs
}

func TestMain(m *testing.M) {
	code := m.Run()
	if kerasDir != "" {
		os.RemoveAll(kerasDir)
	}
	os.Exit(code)
}

func compileOpts() models.CompileOptions {
	return models.CompileOptions{Loss: losses.CategoricalCrossentropy{}, Optimizer: optimizers.SGD(0.01)}
}

// TestImportMatchesKeras loads each .keras file Keras saved and checks that Go
// predicts what Keras predicted, within 1e-5.
func TestImportMatchesKeras(t *testing.T) {
	dir, refs := keras(t)
	for _, name := range []string{"cnn", "resnet", "mnv2", "nested", "text", "textfn"} {
		t.Run(name, func(t *testing.T) {
			r := refs[name]
			m, err := kerasfile.Load(filepath.Join(dir, name+".keras"), compileOpts())
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			x, err := tfwrap.NewTensor(r.X, r.Shape...)
			if err != nil {
				t.Fatal(err)
			}
			y, err := m.Predict(x, models.PredictOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := y.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(r.Y) {
				t.Fatalf("%d outputs, Keras %d", len(got), len(r.Y))
			}
			worst, size := 0.0, 0.0
			for i := range got {
				worst = math.Max(worst, math.Abs(float64(got[i]-r.Y[i])))
				size = math.Max(size, math.Abs(float64(r.Y[i])))
			}
			t.Logf("%s: %d outputs up to %.3g, largest difference from Keras %.2g", name, len(got), size, worst)
			if worst > 1e-5 {
				t.Errorf("largest difference from Keras %g > 1e-5", worst)
			}
		})
	}
}

// ExampleLoad reads a .keras file that Keras 3 saved (testdata/tiny.keras,
// made by testdata/make_tiny.py, where Keras predicts [[0.3058 0.6942]]
// for the same input) and predicts with it.
func ExampleLoad() {
	m, err := kerasfile.Load("testdata/tiny.keras", models.CompileOptions{
		Loss: losses.CategoricalCrossentropy{}, Optimizer: optimizers.SGD(0.01)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	for _, l := range m.Layers() {
		fmt.Println(l.Name(), l.Type())
	}
	x, _ := tfwrap.NewTensor([]float32{1, 2, 3}, 1, 3)
	y, err := m.Predict(x, models.PredictOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := y.Float32s()
	fmt.Printf("%.4f\n", p)
	// Output:
	// hidden Dense
	// probs Dense
	// [0.3058 0.6942]
}

// TestFineTuneMatchesKeras freezes the layers below a block, trains one
// SGD step from Go and from Keras on the same batch, and compares every
// weight after it (the frozen ones, the trained ones and BatchNorm's moving
// statistics) with Keras's: within 1e-5, or, where the step is so badly
// conditioned that float32 Keras itself is further than that from the same
// step in float64 (BatchNormalization's training mode on 3 samples of 3×3
// can lose 1e-3), at most as far from the float64 step as Keras is.
func TestFineTuneMatchesKeras(t *testing.T) {
	dir, refs := keras(t)
	for _, c := range []struct{ model, from string }{{"resnet", "b2_proj"}, {"mnv2", "block_16_expand"}, {"nested", "dense_2"}, {"textfn", "proj"}} {
		t.Run(c.model, func(t *testing.T) {
			path := filepath.Join(dir, c.model+".keras")
			if c.model == "nested" { // Keras's dropout masks are not Go's
				path = rewrite(t, path, configEdit(`"rate": 0.2`, `"rate": 0.0`))
			}
			r := refs[c.model]
			n := int(r.Shape[0])
			classes := len(r.Y) / n
			y := make([]float32, len(r.Y))
			for i := range y {
				y[i] = float32(i%classes) / float32(classes)
			}
			var want struct {
				Weights   [][]float32 `json:"weights"`
				Weights64 [][]float64 `json:"weights64"`
				Trainable int         `json:"trainable"`
			}
			in := map[string]any{"path": path, "trainable_from": c.from, "lr": 0.1, "shape": r.Shape, "x": r.X, "y": y}
			if err := pyref.Run("keras_finetune.py", in, &want); err != nil {
				t.Fatal(err)
			}
			s, err := kerasfile.Read(path, kerasfile.Options{TrainableFrom: c.from})
			if err != nil {
				t.Fatal(err)
			}
			m := s.Model
			if err := m.Compile(models.CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1)}); err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := s.Assign(m); err != nil {
				t.Fatal(err)
			}
			trainable := 0
			for _, v := range m.Weights() {
				if v.Trainable() {
					trainable++
				}
			}
			if trainable != want.Trainable {
				t.Errorf("%d trainable weights, Keras %d", trainable, want.Trainable)
			}
			x, err := tfwrap.NewTensor(r.X, r.Shape...)
			if err != nil {
				t.Fatal(err)
			}
			yt, err := tfwrap.NewTensor(y, int64(n), int64(classes))
			if err != nil {
				t.Fatal(err)
			}
			ds, err := models.NewDataset(x, yt)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Fit(context.Background(), ds, models.FitOptions{Epochs: 1, BatchSize: n, NoShuffle: true, Progress: models.ProgressSilent}); err != nil {
				t.Fatal(err)
			}
			got, err := m.GetWeights()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want.Weights) {
				t.Fatalf("%d weights, Keras %d", len(got), len(want.Weights))
			}
			worst, toTruth, kerasToTruth, moved := 0.0, 0.0, 0.0, 0
			for i, g := range got {
				v, err := g.Float32s()
				if err != nil {
					t.Fatal(err)
				}
				if len(v) != len(want.Weights[i]) {
					t.Fatalf("weight %d: %d values, Keras %d", i, len(v), len(want.Weights[i]))
				}
				for j := range v {
					truth := want.Weights64[i][j]
					worst = math.Max(worst, math.Abs(float64(v[j]-want.Weights[i][j])))
					toTruth = math.Max(toTruth, math.Abs(float64(v[j])-truth))
					kerasToTruth = math.Max(kerasToTruth, math.Abs(float64(want.Weights[i][j])-truth))
				}
			}
			for _, v := range m.Weights() {
				if v.Trainable() {
					moved++
				}
			}
			t.Logf("%s from %s: %d weights (%d trainable); after one step the largest difference from Keras is %.2g; from the float64 step Go is %.2g away, Keras %.2g",
				c.model, c.from, len(got), moved, worst, toTruth, kerasToTruth)
			if worst > 1e-5 && toTruth > math.Max(kerasToTruth, 1e-5) {
				t.Errorf("%.2g from Keras and %.2g from the float64 step, where Keras is %.2g from it", worst, toTruth, kerasToTruth)
			}
		})
	}
}

// TestNewHead uses a whole .keras model as a layer of a bigger one with a
// new head, assigns the file's weights into it, and checks that the inner
// model still computes Keras's outputs.
func TestNewHead(t *testing.T) {
	dir, refs := keras(t)
	r := refs["resnet"]
	s, err := kerasfile.Read(filepath.Join(dir, "resnet.keras"), kerasfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := models.Input("image", r.Shape[1:]...)
	feats := models.CallMulti(s.Model.AsLayer(), in)
	head := models.Call(layers.Dense(2, layers.WithActivation(layers.Softmax), layers.WithName("head")), feats)
	big, err := models.NewModel("with_head", []*models.Symbol{in}, []*models.Symbol{feats, head})
	if err != nil {
		t.Fatal(err)
	}
	// The first output is the file's model; its loss weighs nothing.
	if err := big.Compile(models.CompileOptions{Losses: map[string]losses.Loss{big.OutputNames()[1]: losses.CategoricalCrossentropy{}, big.OutputNames()[0]: losses.MeanSquaredError{}},
		LossWeights: map[string]float64{big.OutputNames()[0]: 0}, Optimizer: optimizers.SGD(0.1)}); err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	n, err := s.Assign(big)
	if err != nil {
		t.Fatal(err)
	}
	if n != 19 {
		t.Errorf("assigned %d layers, the file has 19 with weights", n)
	}
	x, err := tfwrap.NewTensor(r.X, r.Shape...)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := big.PredictAll([]*tfwrap.Tensor{x}, models.PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := outs[0].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range got {
		worst = math.Max(worst, math.Abs(float64(got[i]-r.Y[i])))
	}
	if worst > 1e-5 {
		t.Errorf("inside a bigger model the file's model is %g from Keras", worst)
	}
	// A model that holds none of the file's layers is an error.
	other, err := models.NewSequential([]int64{3}, layers.Dense(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Compile(compileOpts()); err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := s.Assign(other); err == nil || !strings.Contains(err.Error(), "holds none of the layers") {
		t.Errorf("assign into an unrelated model: %v", err)
	}
}

// TestExportReadByPython exports a model read from a .keras file as a
// SavedModel; Python's tf.saved_model.load computes Keras's outputs with it.
func TestExportReadByPython(t *testing.T) {
	dir, refs := keras(t)
	r := refs["mnv2"]
	m, err := kerasfile.Load(filepath.Join(dir, "mnv2.keras"), compileOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	out := filepath.Join(t.TempDir(), "1")
	if err := m.Export(out); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Outputs map[string][]float32 `json:"outputs"`
	}
	in := map[string]any{"dir": out, "signature": "serving_default",
		"inputs": map[string]any{m.InputNames()[0]: map[string]any{"shape": r.Shape, "data": r.X}}}
	if err := pyref.Run("call_savedmodel.py", in, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Outputs) != 1 {
		t.Fatalf("outputs %v", got.Outputs)
	}
	for name, y := range got.Outputs {
		if len(y) != len(r.Y) {
			t.Fatalf("%s: %d values, Keras %d", name, len(y), len(r.Y))
		}
		worst := 0.0
		for i := range y {
			worst = math.Max(worst, math.Abs(float64(y[i]-r.Y[i])))
		}
		t.Logf("Python running Go's export of MobileNetV2 (%s): largest difference from Keras %.2g", name, worst)
		if worst > 1e-5 {
			t.Errorf("largest difference from Keras %g > 1e-5", worst)
		}
	}
}
