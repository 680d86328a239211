package models

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

type lossSpec struct {
	Type       string `json:"type"`
	FromLogits bool   `json:"from_logits"`
}

func (s lossSpec) build() losses.Loss {
	switch s.Type {
	case "mse":
		return losses.MeanSquaredError{}
	case "bce":
		return losses.BinaryCrossentropy{FromLogits: s.FromLogits}
	case "cce":
		return losses.CategoricalCrossentropy{FromLogits: s.FromLogits}
	}
	return losses.SparseCategoricalCrossentropy{FromLogits: s.FromLogits}
}

type tensorJSON struct {
	Shape []int64   `json:"shape"`
	Data  []float64 `json:"data"`
	Int   bool      `json:"int,omitempty"`
}

func toJSON(t *testing.T, x *tfwrap.Tensor) tensorJSON {
	t.Helper()
	v, err := x.Float64sAny()
	if err != nil {
		t.Fatal(err)
	}
	return tensorJSON{Shape: x.Shape(), Data: v, Int: x.DType() == tfwrap.Int32}
}

type parityCase struct {
	Name    string          `json:"name"`
	Input   []int64         `json:"input"`
	Layers  []layers.Config `json:"layers"`
	Loss    lossSpec        `json:"loss"`
	Weights []tensorJSON    `json:"weights"`
	X       tensorJSON      `json:"x"`
	Y       tensorJSON      `json:"y"`
	// IDs, when set, draws the inputs as whole numbers in [0, IDs), for
	// an Embedding.
	IDs int `json:"-"`

	model *Sequential
	x, y  *tfwrap.Tensor
}

func dense(units int, act string) layers.Config {
	return layers.Config{Type: "Dense", Units: units, Activation: act}
}

func conv(filters, k, stride int, pad, act string) layers.Config {
	return layers.Config{Type: "Conv2D", Filters: filters, Kernel: []int{k, k}, Strides: []int{stride, stride}, Padding: pad, Activation: act}
}

func conv1D(filters, k, stride int, pad, act string, noBias bool) layers.Config {
	return layers.Config{Type: "Conv1D", Filters: filters, Kernel: []int{k}, Strides: []int{stride}, Padding: pad, Activation: act, NoBias: noBias}
}

func depthwise(k, stride, mult int, pad, act string, noBias bool) layers.Config {
	return layers.Config{Type: "DepthwiseConv2D", Kernel: []int{k, k}, Strides: []int{stride, stride}, Padding: pad, Activation: act, NoBias: noBias, DepthMultiplier: mult}
}

func separable(filters, k, stride, mult int, pad, act string, noBias bool) layers.Config {
	return layers.Config{Type: "SeparableConv2D", Filters: filters, Kernel: []int{k, k}, Strides: []int{stride, stride}, Padding: pad, Activation: act, NoBias: noBias, DepthMultiplier: mult}
}

func pool(typ string, size, stride int, pad string) layers.Config {
	return layers.Config{Type: typ, Size: []int{size, size}, Strides: []int{stride, stride}, Padding: pad}
}

// parityCases covers every layer, activation and loss.
func parityCases() []*parityCase {
	flat := []int64{6}
	img := []int64{7, 7, 2}
	seq := []int64{10, 3}
	return []*parityCase{
		{Name: "dense_relu_tanh_mse", Input: flat, Layers: []layers.Config{dense(5, "relu"), dense(3, "tanh")}, Loss: lossSpec{Type: "mse"}},
		{Name: "dense_sigmoid_bce", Input: flat, Layers: []layers.Config{dense(4, "tanh"), dense(3, "sigmoid")}, Loss: lossSpec{Type: "bce"}},
		{Name: "bce_probabilities", Input: flat, Layers: []layers.Config{dense(3, "relu"), {Type: "Activation", Activation: "tanh"}}, Loss: lossSpec{Type: "bce"}},
		{Name: "bce_from_logits", Input: flat, Layers: []layers.Config{dense(3, "")}, Loss: lossSpec{Type: "bce", FromLogits: true}},
		{Name: "cce_softmax", Input: flat, Layers: []layers.Config{dense(5, "sigmoid"), dense(4, "softmax")}, Loss: lossSpec{Type: "cce"}},
		{Name: "cce_probabilities", Input: flat, Layers: []layers.Config{dense(4, "relu")}, Loss: lossSpec{Type: "cce"}},
		{Name: "cce_from_logits", Input: flat, Layers: []layers.Config{dense(4, "")}, Loss: lossSpec{Type: "cce", FromLogits: true}},
		{Name: "scce_softmax_layer", Input: flat, Layers: []layers.Config{dense(4, ""), {Type: "Activation", Activation: "softmax"}}, Loss: lossSpec{Type: "scce"}},
		{Name: "scce_probabilities", Input: flat, Layers: []layers.Config{dense(4, "relu")}, Loss: lossSpec{Type: "scce"}},
		{Name: "scce_from_logits", Input: flat, Layers: []layers.Config{dense(4, "")}, Loss: lossSpec{Type: "scce", FromLogits: true}},
		{Name: "conv_valid_maxpool", Input: img, Layers: []layers.Config{conv(3, 3, 1, "VALID", "relu"), pool("MaxPooling2D", 2, 2, "VALID"), {Type: "Flatten"}, dense(3, "softmax")}, Loss: lossSpec{Type: "scce"}},
		{Name: "conv_same_strided_avgpool", Input: img, Layers: []layers.Config{conv(4, 3, 2, "SAME", "tanh"), pool("AveragePooling2D", 2, 1, "SAME"), {Type: "Flatten"}, {Type: "Dropout", Rate: 0}, dense(2, "sigmoid")}, Loss: lossSpec{Type: "bce"}},
		{Name: "batchnorm_images", Input: img, Layers: []layers.Config{conv(3, 3, 1, "VALID", ""), {Type: "BatchNormalization"}, {Type: "Activation", Activation: "relu"}, {Type: "Flatten"}, dense(3, "softmax")}, Loss: lossSpec{Type: "scce"}},
		{Name: "batchnorm_vectors", Input: flat, Layers: []layers.Config{dense(5, ""), {Type: "BatchNormalization"}, dense(2, "")}, Loss: lossSpec{Type: "mse"}},
		{Name: "global_avg_pool2d", Input: img, Layers: []layers.Config{conv(3, 3, 1, "VALID", "relu"), {Type: "GlobalAveragePooling2D"}, dense(3, "softmax")}, Loss: lossSpec{Type: "scce"}},
		{Name: "global_max_pool2d", Input: img, Layers: []layers.Config{conv(4, 3, 1, "SAME", "tanh"), {Type: "GlobalMaxPooling2D"}, dense(2, "sigmoid")}, Loss: lossSpec{Type: "bce"}},
		{Name: "reshape_permute_global_avg_pool1d", Input: flat, Layers: []layers.Config{dense(12, "tanh"), {Type: "Reshape", TargetShape: []int64{4, -1}}, {Type: "Permute", Dims: []int{2, 1}}, {Type: "GlobalAveragePooling1D"}, dense(2, "")}, Loss: lossSpec{Type: "mse"}},
		{Name: "reshape_global_max_pool1d", Input: flat, Layers: []layers.Config{dense(12, "tanh"), {Type: "Reshape", TargetShape: []int64{-1, 2}}, {Type: "GlobalMaxPooling1D"}, dense(3, "")}, Loss: lossSpec{Type: "mse"}},
		{Name: "layernorm_vectors", Input: flat, Layers: []layers.Config{dense(5, ""), {Type: "LayerNormalization"}, dense(2, "")}, Loss: lossSpec{Type: "mse"}},
		{Name: "layernorm_images_no_center", Input: img, Layers: []layers.Config{conv(3, 3, 1, "VALID", ""), {Type: "LayerNormalization", NoCenter: true}, {Type: "Flatten"}, dense(3, "softmax")}, Loss: lossSpec{Type: "scce"}},
		{Name: "layernorm_no_scale_epsilon", Input: flat, Layers: []layers.Config{dense(4, "relu"), {Type: "LayerNormalization", NoScale: true, Epsilon: 0.05}, dense(2, "sigmoid")}, Loss: lossSpec{Type: "bce"}},
		{Name: "conv1d_valid_global_max", Input: seq, Layers: []layers.Config{conv1D(4, 3, 1, "valid", "relu", false), {Type: "GlobalMaxPooling1D"}, dense(2, "")}, Loss: lossSpec{Type: "mse"}},
		{Name: "conv1d_same_strided_no_bias", Input: seq, Layers: []layers.Config{conv1D(3, 3, 2, "same", "tanh", true), {Type: "Flatten"}, dense(3, "softmax")}, Loss: lossSpec{Type: "scce"}},
		{Name: "conv1d_valid_strided_global_avg", Input: seq, Layers: []layers.Config{conv1D(2, 4, 3, "valid", "", false), {Type: "GlobalAveragePooling1D"}, dense(2, "sigmoid")}, Loss: lossSpec{Type: "bce"}},
		{Name: "embedding_global_avg", Input: []int64{5}, IDs: 7, Layers: []layers.Config{{Type: "Embedding", InputDim: 7, OutputDim: 4}, {Type: "GlobalAveragePooling1D"}, dense(3, "softmax")}, Loss: lossSpec{Type: "scce"}},
		{Name: "embedding_conv1d_flatten", Input: []int64{6}, IDs: 9, Layers: []layers.Config{{Type: "Embedding", InputDim: 9, OutputDim: 3}, conv1D(2, 3, 1, "same", "relu", false), {Type: "Flatten"}, dense(2, "")}, Loss: lossSpec{Type: "mse"}},
		{Name: "depthwise_valid_relu", Input: img, Layers: []layers.Config{depthwise(3, 1, 1, "VALID", "relu", false), {Type: "Flatten"}, dense(3, "softmax")}, Loss: lossSpec{Type: "scce"}},
		{Name: "depthwise_same_strided_mult2", Input: img, Layers: []layers.Config{depthwise(3, 2, 2, "SAME", "tanh", false), {Type: "GlobalAveragePooling2D"}, dense(2, "sigmoid")}, Loss: lossSpec{Type: "bce"}},
		{Name: "depthwise_valid_strided_no_bias", Input: img, Layers: []layers.Config{depthwise(2, 2, 3, "VALID", "", true), {Type: "Flatten"}, dense(2, "")}, Loss: lossSpec{Type: "mse"}},
		{Name: "separable_same_strided_mult2", Input: img, Layers: []layers.Config{separable(4, 3, 2, 2, "SAME", "relu", false), {Type: "Flatten"}, dense(3, "softmax")}, Loss: lossSpec{Type: "scce"}},
		{Name: "separable_valid_no_bias", Input: img, Layers: []layers.Config{separable(3, 2, 1, 1, "VALID", "tanh", true), {Type: "GlobalMaxPooling2D"}, dense(2, "")}, Loss: lossSpec{Type: "mse"}},
		{Name: "self_attention_global_avg", Input: []int64{5, 4}, Layers: []layers.Config{{Type: "MultiHeadAttention", NumHeads: 2, KeyDim: 3}, {Type: "GlobalAveragePooling1D"}, dense(2, "")}, Loss: lossSpec{Type: "mse"}},
		{Name: "self_attention_no_bias_layernorm", Input: []int64{4, 3}, Layers: []layers.Config{{Type: "MultiHeadAttention", NumHeads: 3, KeyDim: 2, NoBias: true}, {Type: "LayerNormalization"}, {Type: "Flatten"}, dense(3, "softmax")}, Loss: lossSpec{Type: "scce"}},
		{Name: "rescaling_zeropad_permute", Input: img, Layers: []layers.Config{{Type: "Rescaling", Scale: 0.5, Offset: 0.1}, {Type: "ZeroPadding2D", PadWidths: [][]int{{1, 2}, {0, 1}}}, conv(3, 3, 1, "VALID", "relu"), {Type: "Permute", Dims: []int{3, 1, 2}}, {Type: "Flatten"}, dense(3, "softmax")}, Loss: lossSpec{Type: "scce"}},
	}
}

// prepare builds the Go model, draws weights (Go's initial ones, with
// positive last biases and random moving statistics) and a batch.
func (c *parityCase) prepare(t *testing.T, r *rand.Rand) {
	t.Helper()
	var ls []layers.Layer
	for _, s := range c.Layers {
		l, err := layers.FromConfig(s)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	m, err := NewSequential(c.Input, ls...)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(CompileOptions{Loss: c.Loss.build(), Optimizer: optimizers.SGD(0.1), Seed: 3}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ws, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range m.Weights() {
		v, _ := ws[i].Float32s()
		switch {
		case strings.Contains(w.Name(), "bias"):
			for j := range v {
				v[j] = 0.3 + 0.2*r.Float32() // keeps ReLU outputs mostly positive
			}
		case strings.Contains(w.Name(), "moving_variance"):
			for j := range v {
				v[j] = 0.5 + r.Float32()
			}
		case strings.Contains(w.Name(), "moving_mean"), strings.Contains(w.Name(), "beta"):
			for j := range v {
				v[j] = r.Float32() - 0.5
			}
		case strings.Contains(w.Name(), "gamma"):
			for j := range v {
				v[j] = 0.5 + r.Float32()
			}
		}
		if ws[i], err = tfwrap.NewTensor(v, w.Shape()...); err != nil {
			t.Fatal(err)
		}
		c.Weights = append(c.Weights, toJSON(t, ws[i]))
	}
	if err := m.SetWeights(ws); err != nil {
		t.Fatal(err)
	}
	const batch = 8
	xs := make([]float32, batch*int(product(c.Input)))
	for i := range xs {
		if c.IDs > 0 {
			xs[i] = float32(r.IntN(c.IDs))
		} else {
			xs[i] = float32(r.NormFloat64())
		}
	}
	if c.x, err = tfwrap.NewTensor(xs, append([]int64{batch}, c.Input...)...); err != nil {
		t.Fatal(err)
	}
	out := m.OutputShape()
	switch c.Loss.Type {
	case "scce":
		ids := make([]int32, batch)
		for i := range ids {
			ids[i] = int32(r.IntN(int(out[0])))
		}
		c.y, err = tfwrap.NewTensor(ids)
	case "cce":
		ys := make([]float32, batch*int(out[0]))
		for i := 0; i < batch; i++ {
			ys[i*int(out[0])+r.IntN(int(out[0]))] = 1
		}
		c.y, err = tfwrap.NewTensor(ys, batch, out[0])
	case "bce":
		ys := make([]float32, batch*int(product(out)))
		for i := range ys {
			ys[i] = float32(r.IntN(2))
		}
		c.y, err = tfwrap.NewTensor(ys, append([]int64{batch}, out...)...)
	default:
		ys := make([]float32, batch*int(product(out)))
		for i := range ys {
			ys[i] = float32(r.NormFloat64())
		}
		c.y, err = tfwrap.NewTensor(ys, append([]int64{batch}, out...)...)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.X, c.Y, c.model = toJSON(t, c.x), toJSON(t, c.y), m
}

func product(s []int64) int64 {
	n := int64(1)
	for _, d := range s {
		n *= d
	}
	return n
}

// TestKerasParity loads the same weights into Go and Keras and compares,
// for every layer and loss: the inference outputs, the training-mode loss
// and its gradients (1e-5), and BatchNormalization's moving statistics
// after one training step.
func TestKerasParity(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	cases := parityCases()
	for _, c := range cases {
		c.prepare(t, r)
	}
	type result struct {
		Pred   []float64   `json:"pred"`
		Loss   float64     `json:"loss"`
		Grads  [][]float64 `json:"grads"`
		Moving [][]float64 `json:"moving"`
	}
	var ref map[string]result
	if err := pyref.Run("keras_parity.py", map[string]any{"cases": cases}, &ref); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			want, ok := ref[c.Name]
			if !ok {
				t.Fatal("no Keras result")
			}
			c.compare(t, want.Pred, want.Loss, want.Grads)
			if len(want.Moving) == 0 {
				return
			}
			// One training step with plain SGD moves the moving statistics
			// exactly as one training-mode call does in Keras.
			d, _ := NewDataset(c.x, c.y)
			if _, err := c.model.Fit(context.Background(), d, FitOptions{BatchSize: 8, NoShuffle: true, Output: io.Discard, Progress: ProgressSilent}); err != nil {
				t.Fatal(err)
			}
			var moving []*tfwrap.Variable
			for _, w := range c.model.Weights() {
				if !w.Trainable() {
					moving = append(moving, w)
				}
			}
			for i, w := range moving {
				v, err := c.model.c.sess.Value(w)
				if err != nil {
					t.Fatal(err)
				}
				closeTo(t, w.Name(), floats64(t, v), want.Moving[i], 1e-5)
			}
		})
	}
}

// compare checks the case's inference outputs, training loss and
// gradients against Keras's (1e-5).
func (c *parityCase) compare(t *testing.T, pred []float64, loss float64, grads [][]float64) {
	t.Helper()
	out, err := c.model.Predict(c.x, PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "outputs", floats64(t, out), pred, 1e-5)
	res, err := c.model.Gradients(c.x, c.y)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "loss", floats64(t, res[0]), []float64{loss}, 1e-5)
	if len(res)-1 != len(grads) {
		t.Fatalf("%d gradients in Go, %d in Keras", len(res)-1, len(grads))
	}
	for i, g := range res[1:] {
		closeTo(t, "gradient of "+c.model.Trainable()[i].Name(), floats64(t, g), grads[i], 1e-5)
	}
}

func floats64(t *testing.T, x *tfwrap.Tensor) []float64 {
	t.Helper()
	v, err := x.Float64sAny()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func closeTo(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values in Go, %d in Keras", what, len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		d := math.Abs(got[i]-want[i]) / (1 + math.Abs(want[i]))
		if !(d <= tol) {
			t.Fatalf("%s[%d]: Go %.8g, Keras %.8g", what, i, got[i], want[i])
		}
		worst = max(worst, d)
	}
	t.Logf("%s: %d values agree (worst relative difference %.2g)", what, len(got), worst)
}
