package layers

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestConfigRoundTrip describes each layer type, writes the description as
// JSON, reads it back and rebuilds the layer: the rebuilt layer describes
// itself the same way and has the same output shape.
func TestConfigRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		l  Layer
		in []int64
	}{
		{Dense(4, WithActivation(Softmax), WithName("head"), NoBias(), WithSeed(7)), []int64{6}},
		{Conv2D(3, 3, 2, WithActivation(ReLU), WithStrides(2, 1), WithPadding(Same), Frozen()), []int64{8, 8, 1}},
		{MaxPool2D(2, 2, WithName("pool")), []int64{8, 8, 3}},
		{AveragePooling2D(3, 3, WithStrides(1, 1), WithPadding(Same)), []int64{8, 8, 3}},
		{Flatten(WithName("features")), []int64{4, 4, 3}},
		{Dropout(0.25, WithSeed(3)), []int64{5}},
		{BatchNormalization(Frozen()), []int64{4, 4, 3}},
		{ActivationLayer(Tanh), []int64{5}},
		{GlobalAveragePooling2D(WithName("gap")), []int64{4, 4, 3}},
		{GlobalMaxPooling2D(), []int64{4, 4, 3}},
		{GlobalAveragePooling1D(), []int64{5, 3}},
		{GlobalMaxPooling1D(Frozen()), []int64{5, 3}},
		{Reshape([]int64{3, -1, 2}), []int64{4, 3}},
		{Permute([]int{3, 1, 2}), []int64{4, 5, 6}},
		{ZeroPadding2D(1, 2, 3, 4), []int64{4, 5, 6}},
		{Rescaling(1.0/255, -0.5), []int64{4, 5, 6}},
		{ReLULayer(ReLUOptions{MaxValue: 6}), []int64{4, 5, 6}},
		{ReLULayer(ReLUOptions{NegativeSlope: 0.2, MaxValue: 3}, WithName("leaky")), []int64{4}},
		{BatchNormalizationWith(BatchNormOptions{Momentum: 0.999, Epsilon: 1.001e-5}), []int64{4, 5, 6}},
		{LayerNormalization(LayerNormOptions{}), []int64{4, 5}},
		{Embedding(10, 3, WithName("emb"), WithSeed(2)), []int64{6}},
		{Conv1D(4, 3, WithStride1D(2), WithPadding(Same), WithActivation(ReLU), NoBias()), []int64{9, 2}},
		{LayerNormalization(LayerNormOptions{Epsilon: 1e-5, NoCenter: true, NoScale: true}, WithName("ln")), []int64{4, 5}},
		{LSTM(4, ReturnSequences(), WithSeed(1)), []int64{5, 3}},
		{GRU(3, WithName("gru")), []int64{5, 3}},
		{Bidirectional(GRU(2, ReturnSequences()), WithName("bi")), []int64{5, 3}},
		{Embedding(10, 3, MaskZero()), []int64{6}},
		{DepthwiseConv2D(3, 2, WithDepthMultiplier(2), WithStrides(2, 1), WithPadding(Same), WithActivation(ReLU)), []int64{8, 8, 3}},
		{SeparableConv2D(4, 3, 3, WithName("sep"), NoBias(), WithActivation(Tanh)), []int64{8, 8, 3}},
		{MultiHeadAttention(2, 3, WithName("att"), NoBias(), WithSeed(5)), []int64{4, 5}},
	} {
		t.Run(tc.l.Type(), func(t *testing.T) {
			want := tc.l.Config()
			if want.Type != tc.l.Type() || want.Name != tc.l.Name() {
				t.Fatalf("config %+v of %s %q", want, tc.l.Type(), tc.l.Name())
			}
			raw, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			var got Config
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			l, err := FromConfig(got)
			if err != nil {
				t.Fatalf("FromConfig(%s): %v", raw, err)
			}
			if !reflect.DeepEqual(l.Config(), want) {
				t.Fatalf("rebuilt from %s: %+v, want %+v", raw, l.Config(), want)
			}
			ws, werr := tc.l.OutputShape(tc.in)
			gs, gerr := l.OutputShape(tc.in)
			if werr != nil || gerr != nil || !reflect.DeepEqual(gs, ws) {
				t.Fatalf("output shape: rebuilt %v (%v), original %v (%v)", gs, gerr, ws, werr)
			}
		})
	}
}

// TestConfigReadsBackboneJSON reads the layers of the backbone.json that
// scripts/pretrain_backbone.py writes.
func TestConfigReadsBackboneJSON(t *testing.T) {
	const raw = `[
    {"type": "Conv2D", "name": "block1_conv", "filters": 32, "kernel": [3, 3], "activation": "relu"},
    {"type": "MaxPooling2D", "name": "block1_pool", "size": [2, 2]},
    {"type": "Conv2D", "name": "block2_conv", "filters": 64, "kernel": [3, 3], "activation": "relu"},
    {"type": "MaxPooling2D", "name": "block2_pool", "size": [2, 2]},
    {"type": "Flatten", "name": "features"}]`
	var cs []Config
	if err := json.Unmarshal([]byte(raw), &cs); err != nil {
		t.Fatal(err)
	}
	in := []int64{28, 28, 1}
	for _, c := range cs {
		l, err := FromConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		if l.Name() != c.Name || l.Type() != c.Type {
			t.Fatalf("%+v built %s %q", c, l.Type(), l.Name())
		}
		if in, err = l.OutputShape(in); err != nil {
			t.Fatal(err)
		}
	}
	// Keras: 28 → conv 26 → pool 13 → conv 11 → pool 5, 64 channels.
	if !reflect.DeepEqual(in, []int64{5 * 5 * 64}) {
		t.Fatalf("features shape %v", in)
	}
}

func TestFromConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Type: "SimpleRNN", Name: "x"}, `unsupported type "SimpleRNN"`},
		{Config{Type: "Conv2D", Filters: 2, Kernel: []int{3}}, "kernel [3]"},
		{Config{Type: "MaxPooling2D"}, "size []"},
		{Config{Type: "Dense", Units: 2, Activation: "gelu"}, `unknown activation "gelu"`},
		{Config{Type: "Conv2D", Filters: 2, Kernel: []int{3, 3}, Padding: "causal"}, `unknown padding "causal"`},
		{Config{Type: "MaxPooling2D", Size: []int{2, 2}, Strides: []int{1, 1, 1}}, "strides [1 1 1]"},
		{Config{Type: "Conv1D", Filters: 2, Kernel: []int{3, 3}}, "kernel [3 3]: want one number"},
		{Config{Type: "Conv1D", Filters: 2, Kernel: []int{3}, Strides: []int{1, 1}}, "strides [1 1]: want one number"},
		{Config{Type: "Permute", Dims: []int{1, 1}}, "dims [1 1]: not a permutation of 1..2"},
		{Config{Type: "Permute", Dims: []int{0, 1}}, "dims [0 1]: not a permutation"},
		{Config{Type: "ZeroPadding2D", PadWidths: [][]int{{1, 1}}}, "pad_widths [[1 1]]"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := FromConfig(tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("FromConfig(%+v) = %v, want an error with %q", tc.c, err, tc.want)
			}
		})
	}
}
