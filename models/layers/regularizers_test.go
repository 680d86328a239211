package layers

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// An option a layer does not take is an error naming the layer and the
// option; every option a layer takes passes.
func TestCheckOptions(t *testing.T) {
	bad := []struct {
		l    Layer
		want string
	}{
		{Dense(3, WithStrides(2, 2), WithName("d")), "layer d: Dense does not take option WithStrides"},
		{Dense(3, WithPadding(Same)), "Dense does not take option WithPadding"},
		{MaxPool2D(2, 2, WithKernelRegularizer(L2(0.1))), "MaxPooling2D does not take option WithKernelRegularizer"},
		{AveragePooling2D(2, 2, WithActivation(ReLU)), "AveragePooling2D does not take option WithActivation"},
		{Flatten(NoBias()), "Flatten does not take option NoBias"},
		{Dropout(0.5, WithBiasRegularizer(L1(1))), "Dropout does not take option WithBiasRegularizer"},
		{BatchNormalization(WithSeed(1)), "BatchNormalization does not take option WithSeed"},
		{ActivationLayer(ReLU, WithStrides(1, 1)), "Activation does not take option WithStrides"},
		{Conv1D(4, 3, WithStrides(2, 2)), "Conv1D does not take option WithStrides"},
		{Embedding(10, 4, WithActivation(ReLU)), "Embedding does not take option WithActivation"},
		{GlobalAveragePooling2D(NoBias()), "GlobalAveragePooling2D does not take option NoBias"},
		{Reshape([]int64{4}, WithPadding(Same)), "Reshape does not take option WithPadding"},
		{LayerNormalization(LayerNormOptions{}, WithSeed(1)), "LayerNormalization does not take option WithSeed"},
		{Conv2D(3, 3, 3, WithDepthMultiplier(2)), "Conv2D does not take option WithDepthMultiplier"},
		{DepthwiseConv2D(3, 3, WithKernelRegularizer(L2(0.1)), WithName("dw")), "layer dw: DepthwiseConv2D does not take option WithKernelRegularizer"},
		{SeparableConv2D(4, 3, 3, WithStride1D(2)), "SeparableConv2D does not take option WithStride1D"},
		{MultiHeadAttention(2, 3, WithActivation(ReLU)), "MultiHeadAttention does not take option WithActivation"},
	}
	for _, c := range bad {
		err := CheckOptions(c.l)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: CheckOptions = %v, want an error containing %q", c.l.Type(), err, c.want)
		}
	}
	good := []Layer{
		Dense(4, WithActivation(Softmax), WithName("head"), NoBias(), WithSeed(7), WithKernelRegularizer(L2(0.01)), WithBiasRegularizer(L1(0.1)), Frozen()),
		Conv2D(3, 3, 2, WithActivation(ReLU), WithStrides(2, 1), WithPadding(Same), Frozen(), WithKernelRegularizer(L1L2(0.1, 0.2))),
		MaxPool2D(2, 2, WithStrides(1, 1), WithPadding(Same)),
		AveragePooling2D(3, 3, WithStrides(1, 1), WithPadding(Same)),
		Flatten(WithName("f"), Frozen()),
		Dropout(0.25, WithSeed(3)),
		BatchNormalization(Frozen()),
		ActivationLayer(ReLU, WithActivation(Sigmoid)),
		Conv1D(4, 3, WithStride1D(2), WithPadding(Same), WithActivation(ReLU), NoBias(), WithSeed(2)),
		Embedding(10, 4, WithSeed(1), Frozen()),
		LayerNormalization(LayerNormOptions{}, Frozen()),
		GlobalMaxPooling1D(WithName("g")),
		DepthwiseConv2D(3, 3, WithDepthMultiplier(2), WithStrides(2, 2), WithPadding(Same), WithActivation(ReLU), NoBias(), WithSeed(1), Frozen()),
		SeparableConv2D(4, 3, 3, WithDepthMultiplier(2), WithStrides(2, 2), WithPadding(Same), WithActivation(Tanh), NoBias(), WithSeed(1)),
		MultiHeadAttention(2, 3, NoBias(), WithSeed(4), Frozen()),
	}
	for _, l := range good {
		if err := CheckOptions(l); err != nil {
			t.Errorf("%s: %v", l.Type(), err)
		}
		// A layer rebuilt from its Config takes its options too.
		r, err := FromConfig(l.Config())
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckOptions(r); err != nil {
			t.Errorf("%s from its config: %v", l.Type(), err)
		}
	}
}

// Regularizer factors Keras refuses are errors from OutputShape.
func TestRegularizerFactorErrors(t *testing.T) {
	cases := []struct {
		l    Layer
		in   []int64
		want string
	}{
		{Dense(3, WithKernelRegularizer(L2(-1)), WithName("d")), []int64{4}, "d: kernel regularizer factor l2 = -1"},
		{Conv2D(3, 2, 2, WithBiasRegularizer(L1(-0.5)), WithName("c")), []int64{4, 4, 1}, "c: bias regularizer factor l1 = -0.5"},
		{Dense(3, WithKernelRegularizer(L1L2(0, inf()))), []int64{4}, "factor l2 = +Inf"},
	}
	for _, c := range cases {
		if _, err := c.l.OutputShape(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("OutputShape error %v, want one containing %q", err, c.want)
		}
	}
}

func inf() float64 { var z float64; return 1 / z }

// Regularizers survive Config → JSON → FromConfig, and a config without
// them (older JSON) gives a layer without them.
func TestRegularizerConfigRoundTrip(t *testing.T) {
	for _, l := range []Layer{
		Dense(4, WithName("d"), WithKernelRegularizer(L2(0.01)), WithBiasRegularizer(L1(0.5))),
		Conv2D(3, 2, 2, WithName("c"), WithKernelRegularizer(L1L2(0.1, 0.2))),
	} {
		raw, err := json.Marshal(l.Config())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), `"kernel_regularizer":{`) {
			t.Errorf("%s: JSON %s has no kernel_regularizer", l.Type(), raw)
		}
		var c Config
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		r, err := FromConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(r.Config(), l.Config()) {
			t.Errorf("%s: rebuilt %+v, want %+v", l.Type(), r.Config(), l.Config())
		}
	}
	var c Config
	if err := json.Unmarshal([]byte(`{"type": "Dense", "name": "old", "units": 3}`), &c); err != nil {
		t.Fatal(err)
	}
	l, err := FromConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Config(); got.KernelRegularizer != nil || got.BiasRegularizer != nil {
		t.Errorf("old JSON gave regularizers %+v", got)
	}
}
