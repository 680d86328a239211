package models

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestFunctionalBuildErrors: every mistake in writing a functional model
// is an error naming the layer or input, never a panic.
func TestFunctionalBuildErrors(t *testing.T) {
	dense := func(n int, opts ...layers.Option) layers.Layer { return layers.Dense(n, opts...) }
	tests := []struct {
		name  string
		build func() (*Model, error)
		want  string
	}{
		{"empty input name", func() (*Model, error) {
			return NewModel("", []*Symbol{Input("", 3)}, []*Symbol{Input("", 3)})
		}, `input name ""`},
		{"empty input shape", func() (*Model, error) {
			a := Input("a")
			return NewModel("", []*Symbol{a}, []*Symbol{Call(dense(2), a)})
		}, `input "a": the shape is empty`},
		{"nil layer", func() (*Model, error) {
			a := Input("a", 3)
			return NewModel("", []*Symbol{a}, []*Symbol{Call(nil, a)})
		}, "the layer is nil"},
		{"nil symbol", func() (*Model, error) {
			a := Input("a", 3)
			return NewModel("", []*Symbol{a}, []*Symbol{Call(dense(2), nil)})
		}, "input 0 is nil"},
		{"nil output", func() (*Model, error) {
			a := Input("a", 3)
			return NewModel("", []*Symbol{a}, []*Symbol{nil})
		}, "output 0 is nil"},
		{"no outputs", func() (*Model, error) {
			return NewModel("", []*Symbol{Input("a", 3)}, nil)
		}, "needs inputs and outputs"},
		{"merge of one", func() (*Model, error) {
			a := Input("a", 3)
			return NewModel("", []*Symbol{a}, []*Symbol{CallMulti(layers.Add(), a)})
		}, "Add takes at least two inputs"},
		{"add of different shapes", func() (*Model, error) {
			a, b := Input("a", 4), Input("b", 5)
			return NewModel("", []*Symbol{a, b}, []*Symbol{CallMulti(layers.Add(layers.WithName("skip")), a, b)})
		}, "layer skip (Add) called on a (None, 4), b (None, 5)"},
		{"concatenate of different rows", func() (*Model, error) {
			a, b := Input("a", 4, 2), Input("b", 5, 3)
			return NewModel("", []*Symbol{a, b}, []*Symbol{CallMulti(layers.Concatenate(-1), a, b)})
		}, "all axes but the joined one must agree"},
		{"concatenate on the batch axis", func() (*Model, error) {
			a, b := Input("a", 4), Input("b", 4)
			return NewModel("", []*Symbol{a, b}, []*Symbol{CallMulti(layers.Concatenate(0), a, b)})
		}, "axis 0 is the batch"},
		{"disconnected input", func() (*Model, error) {
			a, b := Input("a", 4), Input("b", 4)
			return NewModel("", []*Symbol{a, b}, []*Symbol{Call(dense(2), a)})
		}, `input "b" is not connected to any output`},
		{"input not given", func() (*Model, error) {
			a, b := Input("a", 4), Input("b", 4)
			return NewModel("", []*Symbol{a}, []*Symbol{CallMulti(layers.Add(), a, b)})
		}, `depends on input "b", which is not among the model's inputs`},
		{"input twice", func() (*Model, error) {
			a := Input("a", 4)
			return NewModel("", []*Symbol{a, a}, []*Symbol{Call(dense(2), a)})
		}, `input "a" is listed twice`},
		{"two inputs of one name", func() (*Model, error) {
			a, b := Input("a", 4), Input("a", 4)
			return NewModel("", []*Symbol{a, b}, []*Symbol{CallMulti(layers.Add(), a, b)})
		}, `two inputs are named "a"`},
		{"layer output as input", func() (*Model, error) {
			a := Input("a", 4)
			h := Call(dense(3), a)
			return NewModel("", []*Symbol{h}, []*Symbol{Call(dense(2), h)})
		}, "is the output dense[0] of a layer, not an Input"},
		{"layer named as an input", func() (*Model, error) {
			a := Input("a", 4)
			return NewModel("", []*Symbol{a}, []*Symbol{Call(dense(2, layers.WithName("a")), a)})
		}, "layer a has the name of an input"},
		{"two layers of one name", func() (*Model, error) {
			a := Input("a", 4)
			h := Call(dense(3, layers.WithName("h")), a)
			return NewModel("", []*Symbol{a}, []*Symbol{Call(dense(2, layers.WithName("h")), h)})
		}, `two layers are named "h"`},
		{"shared layer on another shape", func() (*Model, error) {
			a, b := Input("a", 4), Input("b", 6)
			shared := dense(3, layers.WithName("shared"))
			return NewModel("", []*Symbol{a, b}, []*Symbol{CallMulti(layers.Add(), Call(shared, a), Call(shared, b))})
		}, "layer shared is shared but called on a (None, 4) and then on b (None, 6)"},
		{"wrong layer for the shape", func() (*Model, error) {
			a := Input("img", 8, 8, 1)
			return NewModel("", []*Symbol{a}, []*Symbol{Call(layers.GlobalAveragePooling1D(layers.WithName("pool")), a)})
		}, "layer pool (GlobalAveragePooling1D) called on img (None, 8, 8, 1): pool: GlobalAveragePooling1D takes sequences"},
		{"an early error reaches NewModel", func() (*Model, error) {
			a := Input("a", 4)
			h := Call(layers.Conv2D(3, 3, 3), a)
			h = Call(dense(2), h)
			return NewModel("", []*Symbol{a}, []*Symbol{Call(dense(2), h)})
		}, "conv2d (Conv2D) called on a (None, 4)"},
		{"option a layer does not take", func() (*Model, error) {
			a := Input("a", 4)
			return NewModel("", []*Symbol{a}, []*Symbol{Call(dense(2, layers.WithStrides(2, 2)), a)})
		}, "Dense does not take option WithStrides"},
		{"state of a recurrent layer through Call", func() (*Model, error) {
			a := Input("seq", 5, 3)
			return NewModel("", []*Symbol{a}, []*Symbol{Call(layers.LSTM(2, layers.ReturnState()), a)})
		}, "lstm"},
		{"model on the wrong inputs", func() (*Model, error) {
			e := Input("e", 4)
			enc, err := NewModel("enc", []*Symbol{e}, []*Symbol{Call(dense(2), e)})
			if err != nil {
				return nil, err
			}
			x := Input("x", 5)
			return NewModel("", []*Symbol{x}, []*Symbol{CallMulti(enc.AsLayer(), x)})
		}, `enc: input "e" takes per-sample shape [4], got [5]`},
		{"nil model", func() (*Model, error) {
			var enc *Model
			x := Input("x", 5)
			return NewModel("", []*Symbol{x}, []*Symbol{CallMulti(enc.AsLayer(), x)})
		}, "the model is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.build()
			if err == nil {
				m.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

// TestFunctionalDataErrors: data that does not fit a functional model
// (wrong counts, unknown or missing names, labels of the wrong rank or
// dtype) is an error before TF runs, and the model trains afterwards.
func TestFunctionalDataErrors(t *testing.T) {
	m := twoHeads(t)
	good := twoHeadsData(t, 16, false)
	x, y := good.Inputs(), good.Labels()
	f32 := func(dims ...int64) *tfwrap.Tensor {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		v, err := tfwrap.NewTensor(make([]float32, n), dims...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	named := func(xs, ys map[string]*tfwrap.Tensor) *Dataset {
		d, err := NewNamedDataset(xs, ys)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	multi := func(xs, ys []*tfwrap.Tensor) *Dataset {
		d, err := NewMultiDataset(xs, ys)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		name string
		d    *Dataset
		want string
	}{
		{"one input of two", multi(x[:1], y), "1 input tensors, the model has 2 (pixels, meta)"},
		{"three labels", multi(x, append(y, y[1])), "3 output tensors, the model has 2"},
		{"unknown input name", named(map[string]*tfwrap.Tensor{"pixel": x[0], "meta": x[1]}, map[string]*tfwrap.Tensor{"digit": y[0], "size": y[1]}),
			`no input named "pixel"; its inputs are pixels, meta (did you mean "pixels"?)`},
		{"missing label", named(map[string]*tfwrap.Tensor{"pixels": x[0], "meta": x[1]}, map[string]*tfwrap.Tensor{"digit": y[0]}),
			`no output for the model's output "size"`},
		{"inputs swapped", multi([]*tfwrap.Tensor{x[1], x[0]}, y), `input "pixels" have shape (16, 3), the model takes (None, 6)`},
		{"labels swapped", multi(x, []*tfwrap.Tensor{y[1], y[0]}), `labels of output "digit" are float32`},
		{"flat labels for a (1) output", multi(x, []*tfwrap.Tensor{y[0], f32(16)}), `labels of output "size" have shape (16,), loss mean_squared_error wants (None, 1)`},
		{"labels of rank 3", multi(x, []*tfwrap.Tensor{y[0], f32(16, 1, 1)}), `have shape (16, 1, 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Fit(context.Background(), tt.d, FitOptions{Progress: ProgressSilent, Output: io.Discard})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("fit: %v, want %q", err, tt.want)
			}
			if _, err := m.Evaluate(tt.d, EvaluateOptions{}); err == nil {
				t.Fatal("evaluate: no error")
			}
		})
	}
	// Scalar labels cannot make a dataset at all.
	if _, err := NewMultiDataset(x, []*tfwrap.Tensor{y[0], tfwrap.Scalar(float32(1))}); err == nil || !strings.Contains(err.Error(), "need a sample axis") {
		t.Errorf("scalar labels: %v", err)
	}
	if _, err := NewMultiDataset(x, []*tfwrap.Tensor{y[0], f32(15, 1)}); err == nil || !strings.Contains(err.Error(), "16 inputs but 15 labels") {
		t.Errorf("15 labels for 16 samples: %v", err)
	}
	if _, err := m.PredictAll([]*tfwrap.Tensor{x[0], f32(3, 3)}, PredictOptions{}); err == nil || !strings.Contains(err.Error(), "has 3 samples") {
		t.Errorf("inputs of different lengths: %v", err)
	}
	if _, err := m.PredictNamed(map[string]*tfwrap.Tensor{"pixels": x[0]}, PredictOptions{}); err == nil || !strings.Contains(err.Error(), `no tensor for input "meta"`) {
		t.Errorf("a missing input: %v", err)
	}
	if _, err := m.Fit(context.Background(), good, FitOptions{ClassWeight: map[int]float64{0: 2}, Progress: ProgressSilent, Output: io.Discard}); err == nil || !strings.Contains(err.Error(), "class weights need a model of one output") {
		t.Errorf("class weights on two outputs: %v", err)
	}
	if _, err := m.Fit(context.Background(), good, FitOptions{Progress: ProgressSilent, Output: io.Discard}); err != nil {
		t.Fatalf("good data after the bad: %v", err)
	}
}

// TestFunctionalCompileErrors: losses and weights for outputs the model
// does not have, or outputs left without a loss, are errors.
func TestFunctionalCompileErrors(t *testing.T) {
	build := func() *Model {
		a := Input("a", 4)
		h := Call(layers.Dense(3), a)
		m, err := NewModel("", []*Symbol{a}, []*Symbol{Call(layers.Dense(2, layers.WithName("cls")), h), Call(layers.Dense(1, layers.WithName("reg")), h)})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	mse := losses.MeanSquaredError{}
	tests := []struct {
		opts CompileOptions
		want string
	}{
		{CompileOptions{Losses: map[string]losses.Loss{"cls": mse}}, `output "reg" has no loss`},
		{CompileOptions{Losses: map[string]losses.Loss{"clss": mse}, Loss: mse}, `Losses names output "clss"; the model's outputs are cls, reg (did you mean "cls"?)`},
		{CompileOptions{Loss: mse, LossWeights: map[string]float64{"reg": -1}}, `loss weight -1 of output "reg"`},
		{CompileOptions{Loss: mse, Metrics: []metrics.Metric{metrics.SparseCategoricalAccuracy{}}}, `output "cls": metric accuracy`},
	}
	for _, tt := range tests {
		m := build()
		tt.opts.Optimizer = optimizers.SGD(0.1)
		if err := m.Compile(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("compile: %v, want %q", err, tt.want)
		}
		m.Close()
	}
	// A compiled model's layers live in its graph: using the model as a
	// layer of another is an error, not a crash.
	inner := build()
	if err := inner.Compile(CompileOptions{Loss: mse, Optimizer: optimizers.SGD(0.1)}); err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	x := Input("x", 4)
	outer, err := NewModel("outer", []*Symbol{x}, []*Symbol{CallMulti(inner.AsLayer(), x)})
	if err != nil {
		t.Fatal(err)
	}
	if err := outer.Compile(CompileOptions{Loss: mse, Optimizer: optimizers.SGD(0.1)}); err == nil {
		outer.Close()
		t.Fatal("compiling around a compiled model: no error")
	} else {
		t.Logf("compiling around a compiled model: %v", err)
	}
}

// A layer called both in a model and inside a model used as a layer of
// it shares its weights between the two: listed and counted once, as in
// Keras, and the model compiles and trains (Compile crashed on the
// doubled weight before).
func TestLayerInsideAndOut(t *testing.T) {
	shared := layers.Dense(4, layers.WithName("shared"))
	bi := Input("bi", 4)
	inner, err := NewModel("inner", []*Symbol{bi}, []*Symbol{Call(shared, bi)})
	if err != nil {
		t.Fatal(err)
	}
	in := Input("x", 4)
	out := Call(shared, CallMulti(inner.AsLayer(), in))
	m, err := NewModel("outer", []*Symbol{in}, []*Symbol{out})
	if err != nil {
		t.Fatal(err)
	}
	if tr, nt := m.ParamCount(); tr != 20 || nt != 0 {
		t.Errorf("ParamCount %d, %d; want 20, 0", tr, nt)
	}
	if err := m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1)}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if n := len(m.Weights()); n != 2 {
		t.Errorf("%d weights; want the shared kernel and bias once", n)
	}
	x, _ := tfwrap.NewTensor(make([]float32, 8*4), 8, 4)
	y, _ := tfwrap.NewTensor(make([]float32, 8*4), 8, 4)
	d, err := NewDataset(x, y)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Fit(context.Background(), d, FitOptions{Progress: ProgressSilent}); err != nil {
		t.Fatal(err)
	}
}
