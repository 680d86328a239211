package kerasfile_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/kerasfile"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// saveCNN is a Sequential model with most layer types a CNN uses, fitted
// for one epoch so that its weights and BatchNormalization's moving
// statistics are not their initial values.
func saveCNN(t *testing.T) *models.Model {
	t.Helper()
	seed := layers.WithSeed(5)
	m, err := models.NewSequential([]int64{10, 10, 2},
		layers.Rescaling(0.5, -0.25),
		layers.RandomFlip("horizontal", seed),
		layers.RandomRotation([2]float64{-0.1, 0.1}, layers.TransformOptions{}, seed),
		layers.ZeroPadding2D(1, 0, 0, 1),
		layers.Conv2D(4, 3, 3, layers.WithActivation(layers.ReLU), layers.WithPadding(layers.Same), layers.WithKernelRegularizer(layers.L2(1e-3))),
		layers.BatchNormalizationWith(layers.BatchNormOptions{Momentum: 0.9, Epsilon: 1e-3}),
		layers.ReLULayer(layers.ReLUOptions{MaxValue: 6}),
		layers.DepthwiseConv2D(3, 3, layers.WithDepthMultiplier(2), layers.WithStrides(2, 2)),
		layers.SeparableConv2D(5, 2, 2, layers.NoBias()),
		layers.MaxPool2D(2, 2, layers.WithPadding(layers.Same)),
		layers.LayerNormalization(layers.LayerNormOptions{Epsilon: 1e-4}),
		layers.Flatten(),
		layers.Dropout(0.3, seed),
		layers.Dense(6, layers.WithActivation(layers.Tanh)),
		layers.Dense(3, layers.WithActivation(layers.Softmax)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(models.CompileOptions{Loss: losses.CategoricalCrossentropy{}, Optimizer: optimizers.Adam(0.01)}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := randTensor(t, rng, 64, 10, 10, 2)
	y := make([]float32, 64*3)
	for i := range 64 {
		y[i*3+rng.IntN(3)] = 1
	}
	yt, _ := tfwrap.NewTensor(y, 64, 3)
	ds, err := models.NewDataset(x, yt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Fit(context.Background(), ds, models.FitOptions{Epochs: 1, BatchSize: 16, Progress: models.ProgressSilent}); err != nil {
		t.Fatal(err)
	}
	return m
}

// saveGraph is a functional model of two inputs and three outputs: a
// shared layer called twice, Add, Multiply, Concatenate, and a frozen
// functional backbone used as a layer, whose output is also the model's
// (Keras numbers a nested model's calls from 1 there).
func saveGraph(t *testing.T) *models.Model {
	t.Helper()
	bin := models.Input("image", 8, 8, 3)
	b := models.Call(layers.Conv2D(6, 3, 3, layers.WithName("bb_conv"), layers.Frozen()), bin)
	b = models.Call(layers.BatchNormalization(layers.WithName("bb_bn"), layers.Frozen()), b)
	b = models.Call(layers.ActivationLayer(layers.ReLU, layers.WithName("bb_relu")), b)
	backbone, err := models.NewModel("backbone", []*models.Symbol{bin}, []*models.Symbol{b})
	if err != nil {
		t.Fatal(err)
	}

	img := models.Input("pixels", 8, 8, 3)
	meta := models.Input("meta", 5)
	features := models.CallMulti(backbone.AsLayer(), img)
	f := models.Call(layers.GlobalAveragePooling2D(), features)
	shared := layers.Dense(6, layers.WithName("shared"))
	m1 := models.Call(shared, f)
	m2 := models.Call(shared, models.Call(layers.Dense(6, layers.WithActivation(layers.Sigmoid)), meta))
	sum := models.CallMulti(layers.Add(), m1, m2)
	prod := models.CallMulti(layers.Multiply(), m1, m2)
	cat := models.CallMulti(layers.Concatenate(-1), sum, prod)
	out1 := models.Call(layers.Dense(4, layers.WithActivation(layers.Softmax), layers.WithName("classes")), cat)
	out2 := models.Call(layers.Dense(1, layers.WithName("score")), models.Call(layers.Flatten(), models.Call(layers.Permute([]int{2, 1}), models.Call(layers.Reshape([]int64{2, 6}), cat))))
	m, err := models.NewModel("two_heads", []*models.Symbol{img, meta}, []*models.Symbol{out1, out2, features})
	return ready(t, m, err, 3)
}

// saveNested is a functional model over a weightless functional model
// (preprocessing) and a Sequential used as a layer, with a seed above
// 2^32.
func saveNested(t *testing.T) *models.Model {
	t.Helper()
	pin := models.Input("raw", 6)
	pre, err := models.NewModel("pre", []*models.Symbol{pin}, []*models.Symbol{models.Call(layers.Rescaling(2, -0.5), pin)})
	if err != nil {
		t.Fatal(err)
	}
	body, err := models.NewSequential([]int64{6}, layers.Dense(5, layers.WithActivation(layers.ReLU)),
		layers.Dropout(0.2, layers.WithSeed(1<<33)))
	if err != nil {
		t.Fatal(err)
	}
	in := models.Input("x", 6)
	x := models.CallMulti(pre.AsLayer(), in)
	x = models.CallMulti(body.AsLayer(), x)
	out := models.Call(layers.Dense(3, layers.WithName("head")), x)
	m, err := models.NewModel("nested", []*models.Symbol{in}, []*models.Symbol{out})
	return ready(t, m, err, 0)
}

// saveText is a Sequential text model: ids through an Embedding that
// masks 0, a stacked LSTM and GRU, a Dense head.
func saveText(t *testing.T) *models.Model {
	t.Helper()
	m, err := models.NewSequential([]int64{6}, layers.Embedding(20, 4, layers.MaskZero()),
		layers.LSTM(5, layers.ReturnSequences()), layers.GRU(3), layers.Dense(2))
	return ready(t, m, err, 5)
}

// saveSequence is a functional sequence model: Conv1D, a Bidirectional
// LSTM, and an LSTM whose states are outputs too.
func saveSequence(t *testing.T) *models.Model {
	t.Helper()
	in := models.Input("series", 7, 3)
	x := models.Call(layers.Conv1D(4, 3, layers.WithStride1D(2), layers.WithPadding(layers.Same), layers.WithActivation(layers.ReLU)), in)
	x = models.Call(layers.Bidirectional(layers.LSTM(2, layers.ReturnSequences())), x)
	outs, err := models.CallAll(layers.LSTM(3, layers.ReturnState(), layers.WithName("last")), x)
	if err != nil {
		t.Fatal(err)
	}
	y := models.Call(layers.Dense(1, layers.WithName("value")), outs[0])
	m, err := models.NewModel("sequence", []*models.Symbol{in}, []*models.Symbol{y, outs[1], outs[2]})
	return ready(t, m, err, 5)
}

// ready compiles a model just made (err is its constructor's) with an MSE
// loss and, for a seed other than 0, gives it random weights.
func ready(t *testing.T, m *models.Model, err error, seed uint64) *models.Model {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(models.CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1)}); err != nil {
		t.Fatal(err)
	}
	if seed != 0 {
		randomizeWeights(t, m, seed)
	}
	return m
}

// randomizeWeights sets every weight to random values (moving variances
// positive), so that every weight's place in the file shows in the
// outputs.
func randomizeWeights(t *testing.T, m *models.Model, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 4))
	values, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range m.Weights() {
		data := make([]float32, values[i].NumElements())
		for j := range data {
			data[j] = float32(rng.NormFloat64() * 0.5)
			if strings.Contains(v.Name(), "variance") {
				data[j] = float32(0.5 + rng.Float64())
			}
		}
		if values[i], err = tfwrap.NewTensor(data, values[i].Shape()...); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.SetWeights(values); err != nil {
		t.Fatal(err)
	}
}

func randTensor(t *testing.T, rng *rand.Rand, shape ...int64) *tfwrap.Tensor {
	t.Helper()
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	x, err := tfwrap.NewTensor(data, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestSaveMatchesKeras writes Go models as .keras files and checks that
// Keras 3's load_model opens them holding every weight bit for bit and
// predicts what Go predicts, and that Load reads them back into a model
// that predicts what the original did.
func TestSaveMatchesKeras(t *testing.T) {
	for _, c := range []struct {
		name  string
		model func(*testing.T) *models.Model
	}{{"sequential", saveCNN}, {"functional", saveGraph}, {"nested", saveNested}, {"text", saveText}, {"sequence", saveSequence}} {
		t.Run(c.name, func(t *testing.T) {
			m := c.model(t)
			defer m.Close()
			path := filepath.Join(t.TempDir(), c.name+".keras")
			if err := kerasfile.Save(m, path); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(9, 9))
			var xs []*tfwrap.Tensor
			var inputs []map[string]any
			for _, s := range m.InputShapes() {
				x := randTensor(t, rng, append([]int64{5}, s...)...)
				if c.name == "text" { // ids, some 0 (masked)
					ids := make([]float32, x.NumElements())
					for i := range ids {
						ids[i] = float32(rng.IntN(20) * rng.IntN(2))
					}
					x, _ = tfwrap.NewTensor(ids, x.Shape()...)
				}
				xs = append(xs, x)
				v, _ := x.Float32s()
				inputs = append(inputs, map[string]any{"shape": x.Shape(), "x": v})
			}
			want, err := m.PredictAll(xs, models.PredictOptions{})
			if err != nil {
				t.Fatal(err)
			}

			var py struct {
				Outputs []struct {
					Shape []int64   `json:"shape"`
					Y     []float32 `json:"y"`
				} `json:"outputs"`
				Weights map[string][][]uint32 `json:"weights"`
			}
			if err := pyref.Run("keras_load_go.py", map[string]any{"path": path, "inputs": inputs}, &py); err != nil {
				t.Fatal(err)
			}
			if len(py.Outputs) != len(want) {
				t.Fatalf("Keras predicts %d outputs, Go %d", len(py.Outputs), len(want))
			}
			worst := 0.0
			for i, w := range want {
				wv, _ := w.Float32s()
				if fmt.Sprint(py.Outputs[i].Shape) != fmt.Sprint(w.Shape()) {
					t.Fatalf("output %d: Keras shape %v, Go %v", i, py.Outputs[i].Shape, w.Shape())
				}
				for j := range wv {
					worst = math.Max(worst, math.Abs(float64(wv[j]-py.Outputs[i].Y[j])))
				}
			}
			t.Logf("largest difference between Keras's and Go's predictions: %.2g", worst)
			if worst > 1e-6 {
				t.Errorf("Keras predicts up to %g away from Go (bound 1e-6)", worst)
			}

			// Every weight, as Keras holds it after the load, bit for bit.
			goWeights := layerWeights(t, m, "")
			if len(goWeights) != len(py.Weights) {
				t.Errorf("Keras has weights in %d layers, Go in %d", len(py.Weights), len(goWeights))
			}
			for name, ws := range goWeights {
				kw := py.Weights[name]
				if len(kw) != len(ws) {
					t.Errorf("layer %s: Keras holds %d weights, Go %d", name, len(kw), len(ws))
					continue
				}
				for i, w := range ws {
					for j, v := range w {
						if math.Float32bits(v) != kw[i][j] {
							t.Fatalf("layer %s weight %d [%d]: Keras holds %v, Go %v", name, i, j, math.Float32frombits(kw[i][j]), v)
						}
					}
				}
			}

			// And back into Go.
			back, err := kerasfile.Load(path, models.CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1)})
			if err != nil {
				t.Fatal(err)
			}
			defer back.Close()
			got, err := back.PredictAll(xs, models.PredictOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				wv, _ := want[i].Float32s()
				gv, _ := got[i].Float32s()
				for j := range wv {
					if wv[j] != gv[j] {
						t.Fatalf("read back, output %d [%d] is %v, the saved model's %v", i, j, gv[j], wv[j])
					}
				}
			}
			if a, b := describeLayers(back), describeLayers(m); a != b {
				t.Errorf("read back, the layers are\n%s\nthe saved model's\n%s", a, b)
			}
		})
	}
}

// describeLayers lists a model's layers (names, types, whether they
// train), the layers of models used as layers inside their model, and its
// parameter counts.
func describeLayers(m *models.Model) string {
	var b strings.Builder
	var walk func(m *models.Model, indent string)
	walk = func(m *models.Model, indent string) {
		tr, nt := m.ParamCount()
		fmt.Fprintf(&b, "%smodel %s: %d trainable, %d not\n", indent, m.Name(), tr, nt)
		for _, l := range m.Layers() {
			if inner := models.InnerModel(l); inner != nil {
				walk(inner, indent+"  ")
				continue
			}
			fmt.Fprintf(&b, "%s  %s %s frozen=%v\n", indent, l.Name(), l.Type(), l.Config().Frozen)
		}
	}
	walk(m, "")
	return b.String()
}

// layerWeights maps each layer with weights to their values, layers of a
// model used as a layer under "model/layer".
func layerWeights(t *testing.T, m *models.Model, prefix string) map[string][][]float32 {
	t.Helper()
	all, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	index := map[*tfwrap.Variable]int{}
	for i, v := range m.Weights() {
		index[v] = i
	}
	out := map[string][][]float32{}
	var walk func(m *models.Model, prefix string)
	walk = func(m *models.Model, prefix string) {
		for _, l := range m.Layers() {
			if inner := models.InnerModel(l); inner != nil {
				walk(inner, prefix+l.Name()+"/")
				continue
			}
			for _, v := range l.Weights() {
				vals, _ := all[index[v]].Float32s()
				out[prefix+l.Name()] = append(out[prefix+l.Name()], vals)
			}
		}
	}
	walk(m, prefix)
	return out
}

// TestSaveRefuses: a layer the file format does not take is an error
// naming it, and no file is left behind.
func TestSaveRefuses(t *testing.T) {
	m, err := models.NewSequential([]int64{6, 4}, layers.LayerNormalization(layers.LayerNormOptions{}),
		layers.Normalization(layers.NormalizationOptions{Mean: []float32{0, 0, 0, 0}, Variance: []float32{1, 1, 1, 1}}), layers.Flatten(), layers.Dense(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(compileOpts()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.keras")
	err = kerasfile.Save(m, path)
	if err == nil || !strings.Contains(err.Error(), "Normalization") {
		t.Fatalf("Save of a Normalization model: %v, want an error naming it", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed Save left %d files", len(entries))
	}
	if err := kerasfile.Save(nil, path); err == nil {
		t.Error("Save(nil): no error")
	}
	if err := kerasfile.Save(m, ""); err == nil || !strings.Contains(err.Error(), "path is empty") {
		t.Errorf("Save to \"\": %v", err)
	}
	for _, c := range []struct {
		name  string
		layer layers.Layer
		want  string
	}{
		{"infinite scale", layers.Rescaling(math.Inf(1), 0), "rescaling (Rescaling): scale: an argument is +Inf"},
		{"seed past 2^53", layers.Dropout(0.1, layers.WithSeed(1<<60)), "seed 1152921504606846976"},
	} {
		bad, err := models.NewSequential([]int64{3}, c.layer, layers.Dense(2))
		if err != nil {
			t.Fatal(err)
		}
		if err := bad.Compile(compileOpts()); err != nil {
			t.Fatal(err)
		}
		if err := kerasfile.Save(bad, path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
		bad.Close()
	}
	unc, err := models.NewSequential([]int64{3}, layers.Dense(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := kerasfile.Save(unc, path); err == nil {
		t.Error("Save of an uncompiled model: no error")
	}
}

// TestSaveFiles: the file gets mode 0644 (or the mode of the file it
// replaces), a symbolic link is written through, and a folder or a device
// at the path is refused, untouched.
func TestSaveFiles(t *testing.T) {
	m, err := models.NewSequential([]int64{3}, layers.Dense(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(compileOpts()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.keras")
	if err := kerasfile.Save(m, path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("a new file: %v, %v; want mode 0644", fi.Mode(), err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := kerasfile.Save(m, path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("a replaced file has mode %v; want the old 0600", fi.Mode())
	}
	link := filepath.Join(dir, "link.keras")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if err := kerasfile.Save(m, link); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v, %v", fi.Mode(), err)
	}
	if _, err := kerasfile.Load(link, compileOpts()); err != nil {
		t.Errorf("load through the link: %v", err)
	}
	sub := filepath.Join(dir, "folder.keras")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := kerasfile.Save(m, sub); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a folder at the path: %v", err)
	}
	if err := kerasfile.Save(m, "/dev/null"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a device at the path: %v", err)
	}
	if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode()&os.ModeDevice == 0 {
		t.Fatalf("/dev/null is no longer a device: %v %v", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("the folder holds %d entries, want m.keras, link.keras, folder.keras", len(entries))
	}
}

// ExampleSave writes a Go model as a .keras file, which Keras 3's
// keras.models.load_model opens (TestSaveMatchesKeras checks that it
// predicts the same), and reads it back.
func ExampleSave() {
	m, err := models.NewSequential([]int64{3},
		layers.Dense(4, layers.WithActivation(layers.ReLU), layers.WithName("hidden")),
		layers.Dense(2, layers.WithActivation(layers.Softmax), layers.WithName("probs")))
	if err != nil {
		fmt.Println(err)
		return
	}
	opts := func() models.CompileOptions {
		return models.CompileOptions{Loss: losses.CategoricalCrossentropy{}, Optimizer: optimizers.SGD(0.01)}
	}
	if err := m.Compile(opts()); err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.keras")
	if err := kerasfile.Save(m, path); err != nil {
		fmt.Println(err)
		return
	}
	back, err := kerasfile.Load(path, opts())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer back.Close()
	x, _ := tfwrap.NewTensor([]float32{1, 2, 3}, 1, 3)
	y1, _ := m.Predict(x, models.PredictOptions{})
	y2, _ := back.Predict(x, models.PredictOptions{})
	p1, _ := y1.Float32s()
	p2, _ := y2.Float32s()
	for _, l := range back.Layers() {
		fmt.Println(l.Name(), l.Type())
	}
	fmt.Println("same predictions:", fmt.Sprint(p1) == fmt.Sprint(p2))
	// Output:
	// hidden Dense
	// probs Dense
	// same predictions: true
}
