package models

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
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
// agree within 1e-5, as do the accuracies (unweighted, as Keras's
// compile(metrics=…)) and Evaluate's loss after them. Go shuffles its (one, full) batch, so weights drawn
// with other indices than their samples would not match.
func TestTrainingControlsMatchKeras(t *testing.T) {
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
	dense := func(opts []layers.Option) []layers.Layer {
		return []layers.Layer{layers.Dense(4, append([]layers.Option{layers.WithActivation(layers.ReLU)}, opts...)...)}
	}
	checkControlsAgainstKeras(t, data, dense, cases)
}

// TestConvRegularizersMatchKeras is TestTrainingControlsMatchKeras for a
// Conv2D layer's regularizers, on 4×4 images.
func TestConvRegularizersMatchKeras(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 1))
	img := make([]float32, 16*4*4)
	for i := range img {
		img[i] = float32(r.NormFloat64())
	}
	x, err := tfwrap.NewTensor(img, 16, 4, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := NewDataset(x, toyData(t, 16, 5).Y())
	if err != nil {
		t.Fatal(err)
	}
	type kw = map[string]any
	cases := []weightCase{
		{name: "conv_l2", regs: [2][]layers.Option{{layers.WithKernelRegularizer(layers.L2(0.1))}, nil},
			regSpec: []any{kw{"kernel": []float64{0, 0.1}}, nil}},
		{name: "conv_l1l2_bias", regs: [2][]layers.Option{{layers.WithKernelRegularizer(layers.L1L2(0.05, 0.02)), layers.WithBiasRegularizer(layers.L1(0.3))},
			{layers.WithKernelRegularizer(layers.L1(0.01))}},
			regSpec: []any{kw{"kernel": []float64{0.05, 0.02}, "bias": []float64{0.3, 0}}, kw{"kernel": []float64{0.01, 0}}}},
	}
	conv := func(opts []layers.Option) []layers.Layer {
		return []layers.Layer{layers.Conv2D(2, 3, 3, append([]layers.Option{layers.WithActivation(layers.ReLU)}, opts...)...), layers.Flatten()}
	}
	checkControlsAgainstKeras(t, data, conv, cases)
}

// checkControlsAgainstKeras trains a model, first's layers (given the
// case's regularizers for them) and a Dense(3, softmax) head, for five
// SGD steps on data (one full, shuffled batch) in Go and in Keras from the
// same weights, and compares the weights, the losses reported, and
// Evaluate's loss after them (1e-5).
func checkControlsAgainstKeras(t *testing.T, data *Dataset, first func([]layers.Option) []layers.Layer, cases []weightCase) {
	t.Helper()
	const steps, lr = 5, 0.5
	type kw = map[string]any
	build := func(c weightCase) *Sequential {
		ls := append(first(c.regs[0]), layers.Dense(3, append([]layers.Option{layers.WithActivation(layers.Softmax)}, c.regs[1]...)...))
		m, err := NewSequential(data.X().Shape()[1:], ls...)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Compile(CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.SGD(lr), Seed: 9,
			Metrics: []metrics.Metric{metrics.SparseCategoricalAccuracy{}}}); err != nil {
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
		Weights    [][]float64 `json:"weights"`
		Losses     []float64   `json:"losses"`
		Accuracies []float64   `json:"accuracies"`
		EvalLoss   float64     `json:"eval_loss"`
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
			closeTo(t, "accuracy", h.Metrics["accuracy"], ref[c.name].Accuracies, 1e-5)
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
			// Evaluate, unweighted, includes the penalties, as Keras's.
			ev, err := m.Evaluate(data, EvaluateOptions{BatchSize: 16})
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, "evaluate loss", []float64{ev["loss"]}, []float64{ref[c.name].EvalLoss}, 1e-5)
			if moved < 1e-3 {
				t.Fatalf("the weights barely moved (%g): the comparison proves nothing", moved)
			}
		})
	}
}

// Bad sample weights, class weights and their combination are errors
// naming what is wrong, before any training.
func TestSampleWeightErrors(t *testing.T) {
	data := toyData(t, 8, 1)
	f32 := func(v ...float32) *tfwrap.Tensor {
		x, err := tfwrap.NewTensor(v)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	two, err := tfwrap.NewTensor([]float32{1, 1, 1, 1, 1, 1, 1, 1}, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tfwrap.NewTensor([]int32{1, 1, 1, 1, 1, 1, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	for _, c := range []struct {
		name string
		w    *tfwrap.Tensor
		want string
	}{
		{"nil", nil, "weights are nil"},
		{"short", f32(1, 1, 1), "want (8), one per sample"},
		{"rank 2", two, "want (8), one per sample"},
		{"int32", ids, "weights are int32, want float32"},
		{"negative", f32(1, 1, 1, -1, 1, 1, 1, 1), "weight -1 of sample 3"},
		{"NaN", f32(1, 1, 1, 1, 1, nan, 1, 1), "of sample 5"},
	} {
		if _, err := data.WithSampleWeights(c.w); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: WithSampleWeights error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if _, err := (&Dataset{}).WithSampleWeights(f32(1)); err == nil {
		t.Error("the zero Dataset took sample weights")
	}
	weighted, err := data.WithSampleWeights(f32(1, 2, 1, 2, 1, 2, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	m := toyModel(t, 1)
	for _, c := range []struct {
		name string
		d    *Dataset
		cw   map[int]float64
		want string
	}{
		{"both", weighted, map[int]float64{0: 2}, "not both"},
		{"class 3 of 3", data, map[int]float64{0: 1, 3: 2}, "class 3, outside the model's 3 classes"},
		{"class -1", data, map[int]float64{-1: 2}, "class -1, outside"},
		{"negative class weight", data, map[int]float64{1: -2}, "class weight -2 of class 1"},
		{"infinite class weight", data, map[int]float64{1: math.Inf(1)}, "of class 1 is not a finite"},
	} {
		o := fitOpts(1, 4, 1)
		o.ClassWeight = c.cw
		if _, err := m.Fit(context.Background(), c.d, o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Fit error %v, want one containing %q", c.name, err, c.want)
		}
	}
	// Split keeps each sample's weight: the head has the first six.
	head, tail, err := weighted.Split(0.25)
	if err != nil {
		t.Fatal(err)
	}
	if got := floats64(t, head.SampleWeights()); len(got) != 6 || got[5] != 2 || floats64(t, tail.SampleWeights())[0] != 1 {
		t.Errorf("split weights %v and %v", got, floats64(t, tail.SampleWeights()))
	}
}

// An option a layer does not take, or a bad regularizer factor, is an
// error from NewSequential naming the layer and the option.
func TestLayerOptionErrors(t *testing.T) {
	for _, c := range []struct {
		ls   []layers.Layer
		in   []int64
		want string
	}{
		{[]layers.Layer{layers.Dense(3, layers.WithStrides(2, 2))}, []int64{4}, "layer dense: Dense does not take option WithStrides"},
		{[]layers.Layer{layers.Dense(3, layers.WithPadding(layers.Same))}, []int64{4}, "Dense does not take option WithPadding"},
		{[]layers.Layer{layers.MaxPool2D(2, 2, layers.WithKernelRegularizer(layers.L2(0.1))), layers.Flatten(), layers.Dense(2)}, []int64{4, 4, 1},
			"layer max_pooling2d: MaxPooling2D does not take option WithKernelRegularizer"},
		{[]layers.Layer{layers.Dense(3, layers.WithKernelRegularizer(layers.L2(-0.1)))}, []int64{4}, "dense: kernel regularizer factor l2 = -0.1"},
	} {
		if _, err := NewSequential(c.in, c.ls...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSequential error %v, want one containing %q", err, c.want)
		}
	}
}
