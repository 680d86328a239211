package models

import (
	"context"
	"io"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// functionalCase is a functional model built the same way in Go (build)
// and in Python (scripts/reference/keras_functional.py, by name).
type functionalCase struct {
	name  string
	build func(t *testing.T) *Model
	opts  CompileOptions
	// ids draws input i as whole numbers in [0, ids[i]), for an Embedding.
	ids map[int]int
}

var kerasDefault = regexp.MustCompile(`^(.*?)(_\d+)? \((\w+)\)$`)

func mustModel(t *testing.T, name string, in, out []*Symbol) *Model {
	t.Helper()
	m, err := NewModel(name, in, out)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func functionalCases() []functionalCase {
	return []functionalCase{
		{
			// Two inputs, two outputs, a shared layer, Add, Concatenate and
			// Multiply, a loss and metrics per output, loss weights.
			name: "two_in_two_out",
			build: func(t *testing.T) *Model {
				a, b := Input("a", 6), Input("b", 4)
				shared := layers.Dense(5, layers.WithActivation(layers.Tanh), layers.WithName("shared"))
				sa := Call(shared, a)
				sb := Call(shared, Call(layers.Dense(6, layers.WithName("proj")), b))
				x := CallMulti(layers.Add(), sa, sb)
				x = CallMulti(layers.Concatenate(-1), x, b)
				trunk := Call(layers.Dense(8, layers.WithActivation(layers.ReLU), layers.WithName("trunk")), x)
				cls := Call(layers.Dense(3, layers.WithActivation(layers.Softmax), layers.WithName("cls")), trunk)
				gate := Call(layers.Dense(8, layers.WithActivation(layers.Sigmoid), layers.WithName("gate")), a)
				reg := Call(layers.Dense(1, layers.WithName("reg")), CallMulti(layers.Multiply(), trunk, gate))
				return mustModel(t, "two_in_two_out", []*Symbol{a, b}, []*Symbol{cls, reg})
			},
			opts: CompileOptions{
				Losses:        map[string]losses.Loss{"cls": losses.SparseCategoricalCrossentropy{}, "reg": losses.MeanSquaredError{}},
				LossWeights:   map[string]float64{"reg": 0.5},
				OutputMetrics: map[string][]metrics.Metric{"cls": {metrics.SparseCategoricalAccuracy{}}, "reg": {metrics.MeanAbsoluteError{}}},
			},
		},
		{
			// A model used as a layer, twice (its weights shared).
			name: "nested",
			build: func(t *testing.T) *Model {
				e := Input("e", 6)
				h := Call(layers.Dense(4, layers.WithActivation(layers.ReLU), layers.WithName("enc_hidden")), e)
				enc := mustModel(t, "encoder", []*Symbol{e}, []*Symbol{Call(layers.Dense(3, layers.WithName("enc_out")), h)})
				x, y := Input("x", 6), Input("y", 6)
				joined := CallMulti(layers.Concatenate(-1), CallMulti(enc.AsLayer(), x), CallMulti(enc.AsLayer(), y))
				out := Call(layers.Dense(2, layers.WithActivation(layers.Softmax), layers.WithName("head")), joined)
				return mustModel(t, "nested", []*Symbol{x, y}, []*Symbol{out})
			},
			opts: CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Metrics: []metrics.Metric{metrics.SparseCategoricalAccuracy{}}},
		},
		{
			// A residual block: Conv2D, BatchNormalization, a 1x1
			// projection on the skip path, Add, global pooling.
			name: "residual",
			build: func(t *testing.T) *Model {
				in := Input("image", 6, 6, 2)
				x := Call(layers.Conv2D(3, 3, 3, layers.WithPadding(layers.Same), layers.WithName("c1")), in)
				x = Call(layers.BatchNormalization(layers.WithName("bn1")), x)
				x = Call(layers.ActivationLayer(layers.ReLU, layers.WithName("relu1")), x)
				x = Call(layers.Conv2D(3, 3, 3, layers.WithPadding(layers.Same), layers.WithName("c2")), x)
				skip := Call(layers.Conv2D(3, 1, 1, layers.WithName("proj")), in)
				x = CallMulti(layers.Add(layers.WithName("add")), x, skip)
				x = Call(layers.GlobalAveragePooling2D(layers.WithName("gap")), x)
				out := Call(layers.Dense(3, layers.WithActivation(layers.Softmax), layers.WithName("out")), x)
				return mustModel(t, "residual", []*Symbol{in}, []*Symbol{out})
			},
			opts: CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Metrics: []metrics.Metric{metrics.SparseCategoricalAccuracy{}}},
		},
		{
			// Masks from Embedding(mask_zero) through stacked LSTMs, and an
			// LSTM's states as outputs of a call.
			name: "masked_lstm_states",
			build: func(t *testing.T) *Model {
				ids := Input("ids", 5)
				x := Call(layers.Embedding(9, 4, layers.MaskZero(), layers.WithName("emb")), ids)
				x = Call(layers.LSTM(3, layers.ReturnSequences(), layers.WithName("lstm1")), x)
				outs, err := CallAll(layers.LSTM(2, layers.ReturnState(), layers.WithName("lstm2")), x)
				if err != nil {
					t.Fatal(err)
				}
				joined := CallMulti(layers.Concatenate(-1), outs[0], outs[2])
				out := Call(layers.Dense(2, layers.WithName("out")), joined)
				return mustModel(t, "masked_lstm_states", []*Symbol{ids}, []*Symbol{out})
			},
			opts: CompileOptions{Loss: losses.MeanSquaredError{}},
			ids:  map[int]int{0: 9},
		},
	}
}

// TestFunctionalMatchesKeras builds the same functional models in Go and
// Keras with the same weights and compares the outputs, the training
// loss and its gradients (1e-5), and the logs of one epoch of SGD (loss,
// per-output losses and metrics) with the weights after it.
func TestFunctionalMatchesKeras(t *testing.T) {
	type caseJSON struct {
		Name    string                `json:"name"`
		Weights map[string]tensorJSON `json:"weights"`
		X       []tensorJSON          `json:"x"`
		Y       []tensorJSON          `json:"y"`
	}
	type built struct {
		m    *Model
		x, y []*tfwrap.Tensor
	}
	r := rand.New(rand.NewPCG(21, 22))
	const batch = 8
	var cases []caseJSON
	var models []built
	for _, fc := range functionalCases() {
		m := fc.build(t)
		opts := fc.opts
		opts.Optimizer, opts.Seed = optimizers.SGD(0.1), 5
		if err := m.Compile(opts); err != nil {
			t.Fatalf("%s: %v", fc.name, err)
		}
		t.Cleanup(func() { m.Close() })
		cj := caseJSON{Name: fc.name, Weights: map[string]tensorJSON{}}
		ws, err := m.GetWeights()
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range m.Weights() {
			v, _ := ws[i].Float32s()
			for j := range v {
				switch {
				case strings.Contains(w.Name(), "moving_variance"):
					v[j] = 0.5 + r.Float32()
				case strings.Contains(w.Name(), "gamma"):
					v[j] = 0.5 + r.Float32()
				case strings.Contains(w.Name(), "bias"), strings.Contains(w.Name(), "beta"), strings.Contains(w.Name(), "moving_mean"):
					v[j] = r.Float32() - 0.3
				default:
					v[j] = float32(r.NormFloat64() * 0.5)
				}
			}
			if ws[i], err = tfwrap.NewTensor(v, w.Shape()...); err != nil {
				t.Fatal(err)
			}
			cj.Weights[w.Name()] = toJSON(t, ws[i])
		}
		if err := m.SetWeights(ws); err != nil {
			t.Fatal(err)
		}
		b := built{m: m}
		for i, s := range m.InputShapes() {
			n := int(product(s)) * batch
			xs := make([]float32, n)
			for j := range xs {
				if k := fc.ids[i]; k > 0 {
					xs[j] = float32(r.IntN(k))
					if j%5 == 3 || j%7 == 6 {
						xs[j] = 0 // masked steps, inside and at the end
					}
				} else {
					xs[j] = float32(r.NormFloat64())
				}
			}
			x, err := tfwrap.NewTensor(xs, append([]int64{batch}, s...)...)
			if err != nil {
				t.Fatal(err)
			}
			b.x = append(b.x, x)
			cj.X = append(cj.X, toJSON(t, x))
		}
		for _, o := range m.c.outs {
			var y *tfwrap.Tensor
			if o.labelDT == tfwrap.Int32 {
				ids := make([]int32, batch)
				for j := range ids {
					ids[j] = int32(r.IntN(int(o.pred.Shape()[1])))
				}
				y, err = tfwrap.NewTensor(ids)
			} else {
				ys := make([]float32, batch*int(product(o.labelSh)))
				for j := range ys {
					ys[j] = float32(r.NormFloat64())
				}
				y, err = tfwrap.NewTensor(ys, append([]int64{batch}, o.labelSh...)...)
			}
			if err != nil {
				t.Fatal(err)
			}
			b.y = append(b.y, y)
			cj.Y = append(cj.Y, toJSON(t, y))
		}
		cases = append(cases, cj)
		models = append(models, b)
	}
	type result struct {
		Pred    [][]float64          `json:"pred"`
		Loss    float64              `json:"loss"`
		Grads   map[string][]float64 `json:"grads"`
		Logs    map[string]float64   `json:"logs"`
		After   map[string][]float64 `json:"after"`
		Summary []string             `json:"summary"`
		Order   []string             `json:"order"`
	}
	var ref map[string]result
	if err := pyref.Run("keras_functional.py", map[string]any{"cases": cases}, &ref); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		b := models[i]
		t.Run(c.Name, func(t *testing.T) {
			want, ok := ref[c.Name]
			if !ok {
				t.Fatal("no Keras result")
			}
			var order []string
			for _, w := range b.m.Weights() {
				order = append(order, w.Name())
			}
			if strings.Join(order, " ") != strings.Join(want.Order, " ") {
				t.Errorf("weights in the order\n%v\nKeras's get_weights has\n%v", order, want.Order)
			}
			preds, err := b.m.PredictAll(b.x, PredictOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(preds) != len(want.Pred) {
				t.Fatalf("%d outputs in Go, %d in Keras", len(preds), len(want.Pred))
			}
			for k, p := range preds {
				closeTo(t, "output "+b.m.OutputNames()[k], floats64(t, p), want.Pred[k], 1e-5)
			}
			d, err := NewMultiDataset(b.x, b.y)
			if err != nil {
				t.Fatal(err)
			}
			res, err := b.m.BatchGradients(d)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, "loss", floats64(t, res[0]), []float64{want.Loss}, 1e-5)
			if len(res)-1 != len(want.Grads) {
				t.Fatalf("%d gradients in Go, %d in Keras", len(res)-1, len(want.Grads))
			}
			for k, g := range res[1:] {
				name := b.m.Trainable()[k].Name()
				w, ok := want.Grads[name]
				if !ok {
					t.Fatalf("Keras has no weight %s", name)
				}
				closeTo(t, "gradient of "+name, floats64(t, g), w, 1e-5)
			}
			// One epoch of one batch of SGD: the logs and the weights after.
			hist, err := b.m.Fit(context.Background(), d, FitOptions{BatchSize: batch, NoShuffle: true, Output: io.Discard, Progress: ProgressSilent})
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for k := range want.Logs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			got := map[string]float64{}
			for k, v := range hist.Metrics {
				got[k] = v[0]
			}
			if len(got) != len(want.Logs) {
				t.Fatalf("Go logs %v, Keras logs %v", got, want.Logs)
			}
			for _, k := range keys {
				g, ok := got[k]
				if !ok {
					t.Fatalf("Go logs lack %q: %v", k, got)
				}
				closeTo(t, "log "+k, []float64{g}, []float64{want.Logs[k]}, 1e-5)
			}
			ws, err := b.m.GetWeights()
			if err != nil {
				t.Fatal(err)
			}
			for k, w := range b.m.Weights() {
				closeTo(t, "after one step, "+w.Name(), floats64(t, ws[k]), want.After[w.Name()], 1e-5)
			}
			summary := b.m.Summary()
			for _, line := range want.Summary {
				// Keras numbers default names across the process (the
				// second model's concatenate is concatenate_1); Go numbers
				// them within the model, so that a rebuilt model has the
				// same weight names.
				if m := kerasDefault.FindStringSubmatch(line); m != nil && snake(m[3]) == m[1] {
					line = m[1] + " (" + m[3] + ")"
				}
				if !strings.Contains(summary, line) {
					t.Errorf("summary lacks %q (Keras has it):\n%s", line, summary)
				}
			}
		})
	}
}
