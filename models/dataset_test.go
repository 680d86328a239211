package models

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/tfwrap"
)

func tensorOf[T float32 | int32 | float64](t *testing.T, dims ...int64) *tfwrap.Tensor {
	t.Helper()
	if len(dims) == 0 {
		return tfwrap.Scalar(T(0))
	}
	size := int64(1)
	for _, d := range dims {
		size *= d
	}
	x, err := tfwrap.NewTensor(make([]T, size), dims...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// noPanic turns a panic into a test failure naming the case, so one bad
// case does not take the whole test binary down.
func noPanic(t *testing.T, f func() error) (err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("PANIC: %v", r)
		}
	}()
	return f()
}

// NewDataset refuses, with an error naming the problem, every pair that
// no model's Fit could take.
func TestNewDatasetRefuses(t *testing.T) {
	f32 := func(dims ...int64) *tfwrap.Tensor { return tensorOf[float32](t, dims...) }
	i32 := func(dims ...int64) *tfwrap.Tensor { return tensorOf[int32](t, dims...) }
	f64 := func(dims ...int64) *tfwrap.Tensor { return tensorOf[float64](t, dims...) }
	tests := []struct {
		name string
		x, y *tfwrap.Tensor
		want string
	}{
		{"nil both", nil, nil, "inputs and labels are nil"},
		{"nil inputs", nil, i32(4), "inputs are nil"},
		{"nil labels", f32(4, 6), nil, "labels are nil"},
		{"int inputs", i32(4, 6), i32(4), "inputs are int32; models take float32"},
		{"rank-1 inputs", f32(4), i32(4), "inputs have shape (4,); they need a sample axis and at least one feature axis"},
		{"scalar inputs", f32(), i32(4), "inputs have shape ()"},
		{"scalar labels", f32(4, 6), i32(), "labels have shape (); they need a sample axis"},
		{"float64 labels", f32(4, 6), f64(4), "labels are float64; losses take int32 class ids or float32"},
		{"int labels of rank 3", f32(4, 6), i32(4, 1, 1), "int32 labels have shape (4, 1, 1)"},
		{"int labels as rows", f32(4, 6), i32(4, 3), "int32 labels have shape (4, 3)"},
		{"counts", f32(4, 6), i32(3), "4 inputs but 3 labels"},
		{"empty", f32(0, 6), i32(0), "dataset is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d *Dataset
			err := noPanic(t, func() (err error) { d, err = NewDataset(tt.x, tt.y); return err })
			if err == nil || !strings.Contains(err.Error(), tt.want) || d != nil {
				t.Fatalf("got %v, %v; want an error mentioning %q", d, err, tt.want)
			}
		})
	}
	for _, ok := range [][2]*tfwrap.Tensor{{f32(4, 6), i32(4)}, {f32(4, 6), i32(4, 1)}, {f32(4, 28, 28, 1), f32(4, 10)}, {f32(1, 1), f32(1)}} {
		if _, err := NewDataset(ok[0], ok[1]); err != nil {
			t.Errorf("NewDataset(%v, %v): %v", ok[0].Shape(), ok[1].Shape(), err)
		}
	}
}

// Fit, Evaluate and Gradients check a dataset against the model's input
// shape and loss before any TensorFlow call and name what is wrong; a
// Dataset that slipped past NewDataset (the zero value, or one built in
// this package) gets an error too, never a panic or a TF abort.
func TestFitRefusesMismatchedData(t *testing.T) {
	m := toyModel(t, 1) // inputs (None, 6), sparse categorical labels, 3 classes
	f32 := func(dims ...int64) *tfwrap.Tensor { return tensorOf[float32](t, dims...) }
	i32 := func(dims ...int64) *tfwrap.Tensor { return tensorOf[int32](t, dims...) }
	must := func(x, y *tfwrap.Tensor) *Dataset {
		t.Helper()
		d, err := NewDataset(x, y)
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
		{"inputs of rank 3", must(f32(4, 6, 1), i32(4)), "inputs have shape (4, 6, 1), the model takes (None, 6) (rank 3, the model takes rank 2)"},
		{"inputs of rank 3, same size", must(f32(4, 3, 2), i32(4)), "(rank 3, the model takes rank 2)"},
		{"inputs of rank 2, wrong width", must(f32(4, 5), i32(4)), "inputs have shape (4, 5), the model takes (None, 6)"},
		{"one-hot labels for a sparse loss", must(f32(4, 6), f32(4, 3)), "labels are float32, loss sparse_categorical_crossentropy wants int32"},
		{"zero dataset", &Dataset{}, "is empty (build it with NewDataset)"},
		{"scalar labels", raw(f32(4, 6), i32()), "labels have shape (); they need a sample axis"},
		{"rank-1 inputs", raw(f32(6), i32(6)), "inputs have shape (6,)"},
		{"nil labels", raw(f32(4, 6), nil), "labels are nil"},
		{"int labels as rows", raw(f32(4, 6), i32(4, 3)), "int32 labels have shape (4, 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := map[string]func() error{
				"fit":      func() error { _, err := m.Fit(context.Background(), tt.d, quiet); return err },
				"evaluate": func() error { _, err := m.Evaluate(tt.d, EvaluateOptions{}); return err },
				"validation": func() error {
					o := quiet
					o.ValidationData = tt.d
					_, err := m.Fit(context.Background(), toyData(t, 8, 1), o)
					return err
				},
			}
			for call, f := range calls {
				err := noPanic(t, f)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s: got %v, want an error mentioning %q", call, err, tt.want)
				}
			}
		})
	}
}

// The zero Dataset is empty and its methods return errors.
func TestZeroDataset(t *testing.T) {
	var d Dataset
	if d.Len() != 0 || d.X() != nil || d.Y() != nil {
		t.Fatal("the zero Dataset is not empty")
	}
	if _, _, err := d.Split(0.5); err == nil {
		t.Error("Split of the zero Dataset")
	}
	if _, err := d.Subset([]int{0}); err == nil {
		t.Error("Subset of the zero Dataset")
	}
	var nilD *Dataset
	if nilD.Len() != 0 || nilD.X() != nil || nilD.Y() != nil {
		t.Fatal("a nil *Dataset is not empty")
	}
}

// ClassDataset shapes flat images and checks them against the labels.
func TestClassDataset(t *testing.T) {
	d, err := ClassDataset(make([]float32, 3*4), []int32{0, 1, 2}, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.X().Shape(); len(got) != 3 || got[0] != 3 || got[1] != 2 || got[2] != 2 {
		t.Fatalf("inputs shape %v, want [3 2 2]", got)
	}
	for _, c := range []struct {
		x   []float32
		ids []int32
	}{{make([]float32, 10), []int32{0, 1, 2}}, {nil, nil}, {make([]float32, 4), []int32{0}}} {
		if _, err := ClassDataset(c.x, c.ids, 2, 2, 2); err == nil {
			t.Errorf("ClassDataset(%d values, %d ids, 2x2x2) gave no error", len(c.x), len(c.ids))
		}
	}
}

// raw builds a Dataset without NewDataset's checks, as a caller could
// not, to test that Fit checks again.
func raw(x, y *tfwrap.Tensor) *Dataset {
	return &Dataset{x: []*tfwrap.Tensor{x}, y: []*tfwrap.Tensor{y}}
}
