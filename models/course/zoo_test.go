package course

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestModelsMatchKeras checks the course's models layer by layer against
// the same models built by Keras: names, types, output shapes, parameter
// counts, and that Summary prints them.
func TestModelsMatchKeras(t *testing.T) {
	var ref map[string]struct {
		Layers []struct {
			Name   string  `json:"name"`
			Type   string  `json:"type"`
			Shape  []int64 `json:"shape"`
			Params int64   `json:"params"`
		} `json:"layers"`
		Total int64 `json:"total"`
	}
	if err := pyref.Run("keras_summary.py", nil, &ref); err != nil {
		t.Fatal(err)
	}
	build := map[string]func() (*models.Sequential, error){
		"perceptron": func() (*models.Sequential, error) { return Classifier(784, 10) },
		"mlp":        MLP, "cnn": CNN,
	}
	for name, f := range build {
		t.Run(name, func(t *testing.T) {
			m, err := f()
			if err != nil {
				t.Fatal(err)
			}
			want := ref[name]
			if len(m.Layers()) != len(want.Layers) {
				t.Fatalf("%d layers, Keras has %d", len(m.Layers()), len(want.Layers))
			}
			summary := m.Summary()
			in := m.InputShape()
			for i, c := range m.Layers() {
				w := want.Layers[i]
				l := c.(layers.Layer)
				tr, nt := l.ParamCount(in)
				shape, _ := l.OutputShape(in)
				in = shape
				if l.Name() != w.Name || l.Type() != w.Type || fmt.Sprint(shape) != fmt.Sprint(w.Shape) || tr+nt != w.Params {
					t.Fatalf("layer %d: Go %s (%s) %v %d params; Keras %s (%s) %v %d", i, l.Name(), l.Type(), shape, tr+nt, w.Name, w.Type, w.Shape, w.Params)
				}
				if !strings.Contains(summary, fmt.Sprintf("%s (%s)", w.Name, w.Type)) {
					t.Fatalf("summary lacks %s:\n%s", w.Name, summary)
				}
			}
			tr, nt := m.ParamCount()
			if tr+nt != want.Total || !strings.Contains(summary, "Total params: "+commas(want.Total)) {
				t.Fatalf("total %d, Keras %d\n%s", tr+nt, want.Total, summary)
			}
		})
	}
}

// TestZooMatchesKeras checks the functional models of the zoo (ResNet,
// RowLSTM) against the same models built by Keras, row by row of the
// summary: names, types, output shapes and parameter counts, and the
// totals; then that one short Fit runs and lowers nothing to NaN.
func TestZooMatchesKeras(t *testing.T) {
	var ref map[string]struct {
		Layers []struct {
			Name   string  `json:"name"`
			Type   string  `json:"type"`
			Shape  []int64 `json:"shape"`
			Params int64   `json:"params"`
		} `json:"layers"`
		Total int64 `json:"total"`
	}
	if err := pyref.Run("keras_summary.py", nil, &ref); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		build func() (*models.Model, error)
	}{{"resnet", ResNet}, {"lstm", RowLSTM}} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			want := ref[tc.name]
			summary := m.Summary()
			// Keras lists a functional model's layers by depth, Go in call
			// order: where a block branches (the main path and the 1×1
			// shortcut) the two orders differ, so rows match by name.
			rows := map[string][]string{} // "name (type)": shape, params
			for _, line := range strings.Split(summary, "\n") {
				cells := strings.Split(line, "│")
				if len(cells) < 5 || strings.Contains(cells[1], "(InputLayer)") {
					continue
				}
				rows[strings.TrimSpace(cells[1])] = []string{strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3])}
			}
			if len(rows) != len(want.Layers) || len(m.Layers()) != len(want.Layers) {
				t.Fatalf("%d summary rows, %d layers; Keras has %d layers\n%s", len(rows), len(m.Layers()), len(want.Layers), summary)
			}
			for _, w := range want.Layers {
				shape := "(None"
				for _, d := range w.Shape {
					shape += fmt.Sprintf(", %d", d)
				}
				shape += ")"
				key := fmt.Sprintf("%s (%s)", w.Name, w.Type)
				got, ok := rows[key]
				if !ok {
					t.Errorf("Keras's layer %s is not in Go's summary", key)
				} else if exp := []string{shape, commas(w.Params)}; fmt.Sprint(got) != fmt.Sprint(exp) {
					t.Errorf("layer %s: Go %q, Keras %q", key, got, exp)
				}
			}
			tr, nt := m.ParamCount()
			if tr+nt != want.Total || !strings.Contains(summary, "Total params: "+commas(want.Total)) {
				t.Fatalf("total %d, Keras %d\n%s", tr+nt, want.Total, summary)
			}

			// One short run: 64 random samples, two steps of 32.
			perSample := m.InputShape()
			size := int64(64)
			for _, d := range perSample {
				size *= d
			}
			x := make([]float32, size)
			y := make([]int32, 64)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range x {
				x[i] = rng.Float32()
			}
			for i := range y {
				y[i] = int32(rng.IntN(10))
			}
			xt, err := tfwrap.NewTensor(x, append([]int64{64}, perSample...)...)
			if err != nil {
				t.Fatal(err)
			}
			yt, err := tfwrap.NewTensor(y)
			if err != nil {
				t.Fatal(err)
			}
			d, err := models.NewDataset(xt, yt)
			if err != nil {
				t.Fatal(err)
			}
			opt := optimizers.Adam(1e-3, optimizers.WithSchedule(optimizers.CosineDecay(1e-3, 2, 0)), optimizers.ClipNorm(1))
			if err := m.Compile(models.CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: opt,
				Metrics: []metrics.Metric{metrics.SparseCategoricalAccuracy{}}, Seed: 1}); err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			hist, err := m.Fit(context.Background(), d, models.FitOptions{Epochs: 1, BatchSize: 32, Seed: 1, Progress: models.ProgressSilent, Output: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			if loss := hist.Metrics["loss"]; len(loss) != 1 || !(loss[0] > 0 && loss[0] < 10) {
				t.Fatalf("loss after one epoch: %v", loss)
			}
			res, err := m.Evaluate(d, models.EvaluateOptions{BatchSize: 64})
			if err != nil {
				t.Fatal(err)
			}
			if acc := res["accuracy"]; !(acc >= 0 && acc <= 1) {
				t.Fatalf("accuracy %v", acc)
			}
		})
	}
}

// commas writes n as Keras's summary does: 78,426.
func commas(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
