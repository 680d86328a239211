package models

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

func attackCompile() CompileOptions {
	return CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1)}
}

// noPanic runs f and fails the test if it panics.
func attackNoPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic: %v", r)
		}
	}()
	f()
}

// TestAttackDefaultOutputNamesCompile: two unnamed heads are named dense
// and dense_1, and their label variables data/y_dense and data/y_dense_1
// must not collide (tfwrap named every VarHandleOp X_1, taking the next
// variable's name).
func TestAttackDefaultOutputNamesCompile(t *testing.T) {
	x := Input("x", 3)
	h := Call(layers.Dense(2), x)
	h2 := Call(layers.Dense(2), h)
	m := mustModel(t, "", []*Symbol{x}, []*Symbol{h, h2})
	if got := strings.Join(m.OutputNames(), ","); got != "dense,dense_1" {
		t.Fatalf("output names %s", got)
	}
	if err := m.Compile(attackCompile()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	xs, _ := tfwrap.NewTensor(make([]float32, 12), 4, 3)
	ys, _ := tfwrap.NewTensor(make([]float32, 8), 4, 2)
	d, err := NewMultiDataset([]*tfwrap.Tensor{xs}, []*tfwrap.Tensor{ys, ys})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Fit(context.Background(), d, FitOptions{Output: io.Discard}); err != nil {
		t.Fatal(err)
	}
}

// TestAttackInputsNamedAlike: inputs a and a_1 (data/x_a, data/x_a_1).
func TestAttackInputsNamedAlike(t *testing.T) {
	a, a1 := Input("a", 3), Input("a_1", 3)
	m := mustModel(t, "", []*Symbol{a, a1}, []*Symbol{Call(layers.Dense(1), CallMulti(layers.Add(), a, a1))})
	if err := m.Compile(attackCompile()); err != nil {
		t.Fatal(err)
	}
	m.Close()
}

// TestAttackOutputIsInput: an input listed as an output (Keras allows it;
// the output is named after the input) is no panic.
func TestAttackOutputIsInput(t *testing.T) {
	attackNoPanic(t, func() {
		a := Input("a", 3)
		if _, err := NewModel("", []*Symbol{a}, []*Symbol{a}); err != nil {
			t.Log(err)
		}
		m, err := NewModel("", []*Symbol{a}, []*Symbol{Call(layers.Dense(3), a), a})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(m.OutputNames(), ","); got != "dense,a" {
			t.Fatalf("output names %s", got)
		}
		if err := m.Compile(attackCompile()); err != nil {
			t.Fatal(err)
		}
		m.Close()
	})
}

// TestAttackZeroModel: the zero Model's accessors do not panic.
func TestAttackZeroModel(t *testing.T) {
	attackNoPanic(t, func() {
		var m Model
		_ = m.Summary()
		if m.InputShape() != nil || m.OutputShape() != nil {
			t.Fatal("shapes of the zero model")
		}
		if _, err := m.Fit(context.Background(), nil, FitOptions{}); err == nil {
			t.Fatal("fit of the zero model")
		}
	})
}

// TestAttackHugeShapes: huge declared shapes are errors naming the layer
// or input, not a Go allocation that panics (makeslice) or exhausts memory.
func TestAttackHugeShapes(t *testing.T) {
	attackNoPanic(t, func() {
		x := Input("x", 1<<50)
		m := mustModel(t, "", []*Symbol{x}, []*Symbol{Call(layers.Dense(4, layers.WithName("fc")), x)})
		err := m.Compile(attackCompile())
		if err == nil || !strings.Contains(err.Error(), "fc") || !strings.Contains(err.Error(), "too large") {
			t.Fatalf("got %v", err)
		}
	})
	attackNoPanic(t, func() {
		x := Input("x", 8)
		m := mustModel(t, "", []*Symbol{x}, []*Symbol{Call(layers.Dense(1), Call(layers.Flatten(), Call(layers.Embedding(1<<50, 4), x)))})
		if err := m.Compile(attackCompile()); err == nil || !strings.Contains(err.Error(), "embedding") {
			t.Fatalf("got %v", err)
		}
	})
	// 2^64 per-sample values wrapped to 0 in Flatten.
	if err := Input("x", 1<<32, 1<<32).Err(); err == nil || !strings.Contains(err.Error(), `input "x"`) {
		t.Fatalf("got %v", err)
	}
	if _, err := NewSequential([]int64{1 << 32, 1 << 32}, layers.Flatten()); err == nil {
		t.Fatal("no error")
	}
}

// TestAttackMaskedMergesMatchKeras: masks from two Embedding(mask_zero)
// inputs through Add, Multiply and Concatenate into an LSTM. Keras 3 ORs
// the merged masks (Concatenate: any over the joined axis), zeroes
// Multiply's masked steps, and keeps a mask only when every input of Add
// or Multiply has one.
func TestAttackMaskedMergesMatchKeras(t *testing.T) {
	merges := map[string]func() layers.MultiLayer{
		"masked_add":         func() layers.MultiLayer { return layers.Add(layers.WithName("merge")) },
		"masked_multiply":    func() layers.MultiLayer { return layers.Multiply(layers.WithName("merge")) },
		"masked_concatenate": func() layers.MultiLayer { return layers.Concatenate(-1, layers.WithName("merge")) },
	}
	type caseJSON struct {
		Name    string                `json:"name"`
		Weights map[string]tensorJSON `json:"weights"`
		X       []tensorJSON          `json:"x"`
		Y       []tensorJSON          `json:"y"`
	}
	const batch = 4
	// Sample rows of a and b padded differently: where one is masked and
	// the other not, AND and OR differ.
	aIDs := []float32{1, 2, 0, 0, 0, 3, 4, 5, 0, 0, 1, 0, 2, 0, 3, 6, 7, 8, 1, 2}
	bIDs := []float32{5, 6, 7, 8, 0, 1, 0, 0, 0, 0, 0, 2, 0, 4, 0, 3, 3, 3, 0, 0}
	xa, _ := tfwrap.NewTensor(aIDs, batch, 5)
	xb, _ := tfwrap.NewTensor(bIDs, batch, 5)
	y, _ := tfwrap.NewTensor(make([]float32, batch*2), batch, 2)
	var cases []caseJSON
	got := map[string][]float64{}
	for _, name := range []string{"masked_add", "masked_multiply", "masked_concatenate"} {
		a, b := Input("a", 5), Input("b", 5)
		ea := Call(layers.Embedding(9, 4, layers.MaskZero(), layers.WithName("emb_a")), a)
		eb := Call(layers.Embedding(9, 4, layers.MaskZero(), layers.WithName("emb_b")), b)
		x := CallMulti(merges[name](), ea, eb)
		x = Call(layers.LSTM(2, layers.WithName("lstm")), x)
		m := mustModel(t, name, []*Symbol{a, b}, []*Symbol{Call(layers.Dense(2, layers.WithName("out")), x)})
		if err := m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1), Seed: 3}); err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		ws, err := m.GetWeights()
		if err != nil {
			t.Fatal(err)
		}
		cj := caseJSON{Name: name, Weights: map[string]tensorJSON{}, X: []tensorJSON{toJSON(t, xa), toJSON(t, xb)}, Y: []tensorJSON{toJSON(t, y)}}
		for i, w := range m.Weights() {
			cj.Weights[w.Name()] = toJSON(t, ws[i])
		}
		cases = append(cases, cj)
		p, err := m.PredictAll([]*tfwrap.Tensor{xa, xb}, PredictOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got[name] = floats64(t, p[0])
	}
	var ref map[string]struct {
		Pred [][]float64 `json:"pred"`
	}
	if err := pyref.Run("keras_functional.py", map[string]any{"cases": cases}, &ref); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			closeTo(t, "output", got[c.Name], ref[c.Name].Pred[0], 1e-5)
		})
	}
}

// TestAttackPredictDuringFit: as Model's doc says, a Predict from another
// goroutine waits for Fit's current step, not for the whole run.
func TestAttackPredictDuringFit(t *testing.T) {
	x := Input("x", 3)
	m := mustModel(t, "", []*Symbol{x}, []*Symbol{Call(layers.Dense(1), Call(layers.Dense(4), x))})
	if err := m.Compile(attackCompile()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const n = 2000
	xs, _ := tfwrap.NewTensor(make([]float32, n*3), n, 3)
	ys, _ := tfwrap.NewTensor(make([]float32, n), n, 1)
	d, err := NewDataset(xs, ys)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := m.Fit(ctx, d, FitOptions{Epochs: 1000, BatchSize: 8, Output: io.Discard})
		done <- err
	}()
	for !m.training.Load() {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := m.Predict(xs, PredictOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetWeights(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("Predict returned only after Fit (%v)", err)
	default:
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("Fit was not cancelled")
	}
}

// TestAttackCompileAfterFailedCompile: a Compile that fails after the
// layers made their weights (here at session start, on a device that does
// not exist) leaves them in the dead graph; the next Compile says so
// instead of "MatMul: input 1 belongs to another graph".
func TestAttackCompileAfterFailedCompile(t *testing.T) {
	x := Input("x", 3)
	m := mustModel(t, "", []*Symbol{x}, []*Symbol{Call(layers.Dense(1), x)})
	o := attackCompile()
	o.Device = "/device:GPU:7"
	if err := m.Compile(o); err == nil {
		m.Close()
		t.Skip("this machine has a GPU 7")
	}
	err := m.Compile(attackCompile())
	if err == nil || !strings.Contains(err.Error(), "layer dense already has weights") {
		t.Fatalf("got %v", err)
	}
}
