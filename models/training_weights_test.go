package models

import (
	"context"
	"math"
	"strconv"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// weightCase is one training control set up in Go and described for Keras
// (scripts/reference/keras_training_controls.py).
type weightCase struct {
	name        string
	regs        [2][]layers.Option // per Dense layer
	regSpec     []any              // per Dense layer, for Keras
	classWeight map[int]float64
	sampleW     []float32
}

// TestTrainingControlsMatchKeras: class weights, sample weights and L1/L2
// regularizers take five SGD steps from the same weights on the same batch
// in Go and in Keras; the weights after them and the loss each step reports
// agree within 1e-5. Go shuffles its (one, full) batch, so weights drawn
// with other indices than their samples would not match.
func TestTrainingControlsMatchKeras(t *testing.T) {
	const steps, lr = 5, 0.5
	data := toyData(t, 16, 5)
	sw := []float32{0, 1, 2.5, 0.5, 1, 3, 0.25, 1, 0, 2, 1.5, 1, 0.75, 4, 1, 0.1}
	type kw = map[string]any
	cases := []weightCase{
		{name: "class_weight", classWeight: map[int]float64{0: 2.5, 2: 0.3}},
		{name: "sample_weight", sampleW: sw},
		{name: "l2", regs: [2][]layers.Option{{layers.WithKernelRegularizer(layers.L2(0.05))}, {layers.WithKernelRegularizer(layers.L2(0.05))}},
			regSpec: []any{kw{"kernel": []float64{0, 0.05}}, kw{"kernel": []float64{0, 0.05}}}},
		{name: "l1_l1l2_bias", regs: [2][]layers.Option{{layers.WithKernelRegularizer(layers.L1(0.02))},
			{layers.WithKernelRegularizer(layers.L1L2(0.01, 0.03)), layers.WithBiasRegularizer(layers.L2(0.1))}},
			regSpec: []any{kw{"kernel": []float64{0.02, 0}}, kw{"kernel": []float64{0.01, 0.03}, "bias": []float64{0, 0.1}}}},
		{name: "sample_weight_l2", sampleW: sw, regs: [2][]layers.Option{nil, {layers.WithKernelRegularizer(layers.L2(0.2))}},
			regSpec: []any{nil, kw{"kernel": []float64{0, 0.2}}}},
	}
	build := func(c weightCase) *Sequential {
		m, err := NewSequential([]int64{6},
			layers.Dense(4, append([]layers.Option{layers.WithActivation(layers.ReLU)}, c.regs[0]...)...),
			layers.Dense(3, append([]layers.Option{layers.WithActivation(layers.Softmax)}, c.regs[1]...)...))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Compile(CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.SGD(lr), Seed: 9}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	w0, err := build(weightCase{}).GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	var weights []tensorJSON
	for _, w := range w0 {
		weights = append(weights, toJSON(t, w))
	}
	var specs []kw
	for _, c := range cases {
		s := kw{"name": c.name}
		if c.regSpec != nil {
			s["regs"] = c.regSpec
		}
		if c.classWeight != nil {
			cw := kw{}
			for k, v := range c.classWeight {
				cw[strconv.Itoa(k)] = v
			}
			s["class_weight"] = cw
		}
		if c.sampleW != nil {
			s["sample_weight"] = c.sampleW
		}
		specs = append(specs, s)
	}
	var ref map[string]struct {
		Weights [][]float64 `json:"weights"`
		Losses  []float64   `json:"losses"`
	}
	in := kw{"weights": weights, "x": toJSON(t, data.X()), "y": toJSON(t, data.Y()), "steps": steps, "lr": lr, "cases": specs}
	if err := pyref.Run("keras_training_controls.py", in, &ref); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := build(c)
			if err := m.SetWeights(w0); err != nil {
				t.Fatal(err)
			}
			train := data
			if c.sampleW != nil {
				wt, err := tfwrap.NewTensor(c.sampleW)
				if err != nil {
					t.Fatal(err)
				}
				if train, err = data.WithSampleWeights(wt); err != nil {
					t.Fatal(err)
				}
			}
			o := fitOpts(steps, 16, 3)
			o.ClassWeight = c.classWeight
			h, err := m.Fit(context.Background(), train, o)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, "loss", h.Metrics["loss"], ref[c.name].Losses, 1e-5)
			got, err := m.GetWeights()
			if err != nil {
				t.Fatal(err)
			}
			moved := 0.0
			for i, w := range got {
				closeTo(t, m.Weights()[i].Name(), floats64(t, w), ref[c.name].Weights[i], 1e-5)
				before := floats64(t, w0[i])
				for j, v := range floats64(t, w) {
					moved = max(moved, math.Abs(v-before[j]))
				}
			}
			if moved < 1e-3 {
				t.Fatalf("the weights barely moved (%g): the comparison proves nothing", moved)
			}
		})
	}
}
