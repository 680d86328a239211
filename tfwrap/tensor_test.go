package tfwrap

import (
	"errors"
	"math"
	"testing"
)

func TestTensorRoundTrip(t *testing.T) {
	t.Run("float32", func(t *testing.T) {
		x := mustTensor(t, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
		if x.DType() != Float32 || x.Rank() != 2 || x.NumElements() != 6 {
			t.Fatalf("got %v rank %d n %d", x.DType(), x.Rank(), x.NumElements())
		}
		v, err := x.Float32s()
		if err != nil || len(v) != 6 || v[5] != 6 {
			t.Fatalf("Float32s = %v, %v", v, err)
		}
	})
	t.Run("float64", func(t *testing.T) {
		v, err := mustTensor(t, []float64{math.Pi}).Float64s()
		if err != nil || v[0] != math.Pi {
			t.Fatalf("got %v, %v", v, err)
		}
	})
	t.Run("int32", func(t *testing.T) {
		v, err := mustTensor(t, []int32{-7, 8}, 2, 1).Int32s()
		if err != nil || v[0] != -7 || v[1] != 8 {
			t.Fatalf("got %v, %v", v, err)
		}
	})
	t.Run("int64", func(t *testing.T) {
		v, err := mustTensor(t, []int64{math.MaxInt64}).Int64s()
		if err != nil || v[0] != math.MaxInt64 {
			t.Fatalf("got %v, %v", v, err)
		}
	})
	t.Run("uint8 and bool", func(t *testing.T) {
		u, err := Values[uint8](mustTensor(t, []uint8{255, 0}))
		if err != nil || u[0] != 255 {
			t.Fatalf("uint8: %v, %v", u, err)
		}
		b, err := Values[bool](mustTensor(t, []bool{true, false, true}))
		if err != nil || !b[0] || b[1] || !b[2] {
			t.Fatalf("bool: %v, %v", b, err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		x := mustTensor(t, []float32{}, 0, 3)
		v, err := x.Float32s()
		if err != nil || len(v) != 0 {
			t.Fatalf("got %v, %v", v, err)
		}
	})
	t.Run("scalar", func(t *testing.T) {
		x := Scalar(int32(42))
		if x.Rank() != 0 || x.NumElements() != 1 {
			t.Fatalf("scalar rank %d n %d", x.Rank(), x.NumElements())
		}
		if x.String() != "tf.Tensor(42, shape=(), dtype=int32)" {
			t.Fatalf("String() = %s", x)
		}
	})
	t.Run("strings", func(t *testing.T) {
		x, err := NewStrings([]string{"a", "bc", "", "d\x00e"}, 2, 2)
		if err != nil {
			t.Fatal(err)
		}
		v, err := x.Strings()
		if err != nil || len(v) != 4 || v[1] != "bc" || v[3] != "d\x00e" {
			t.Fatalf("got %q, %v", v, err)
		}
	})
	t.Run("zeros", func(t *testing.T) {
		z, err := Zeros(Float64, 2, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got := floats(t, z); len(got) != 4 || got[3] != 0 {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("string format", func(t *testing.T) {
		if s := mustTensor(t, []int32{1, 2, 3, 4}, 2, 2).String(); s != "tf.Tensor([[1 2] [3 4]], shape=(2, 2), dtype=int32)" {
			t.Fatalf("got %s", s)
		}

		// float32 at float32 precision, as NumPy prints it; float64 at its own.
		if s := mustTensor(t, []float32{0.1, 1.5e-8}).String(); s != "tf.Tensor([0.1 1.5e-08], shape=(2,), dtype=float32)" {
			t.Fatalf("got %s", s)
		}
		if s := mustTensor(t, []float64{0.1}).String(); s != "tf.Tensor([0.1], shape=(1,), dtype=float64)" {
			t.Fatalf("got %s", s)
		}
	})
}

func TestTensorBadInput(t *testing.T) {
	tests := []struct {
		name string
		err  func() error
		want string
	}{
		{"count mismatch", func() error { _, err := NewTensor([]float32{1, 2, 3}, 2, 2); return err }, "holds 4 elements but 3"},
		{"negative dim", func() error { _, err := NewTensor([]float32{1, 2}, -2, -1); return err }, "negative"},
		{"overflow", func() error { _, err := NewTensor([]float32{1}, math.MaxInt64, 4); return err }, "overflow"},
		{"strings count", func() error { _, err := NewStrings([]string{"a"}, 2); return err }, "holds 2 elements"},
		{"zeros dtype", func() error { _, err := Zeros(String, 2); return err }, "unsupported dtype"},
		{"zeros huge", func() error { _, err := Zeros(Float32, 1<<30, 1<<20); return err }, "too large"},
		{"wrong dtype read", func() error { _, err := Scalar(float32(1)).Int32s(); return err }, "holds float32, not int32"},
		{"strings of floats", func() error { _, err := Scalar(float32(1)).Strings(); return err }, "not string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.err(), tt.want) })
	}
	var nilT *Tensor
	if _, err := nilT.Float32s(); !errors.Is(err, ErrNilTensor) {
		t.Fatalf("nil tensor read: %v", err)
	}
	if nilT.Shape() != nil || nilT.DType() != 0 || nilT.Rank() != 0 || nilT.String() == "" {
		t.Fatal("nil tensor accessors misbehave")
	}
}

// The NoCopy pair shares memory with the caller, and checks what the
// copying pair checks.
func TestBytesNoCopy(t *testing.T) {
	raw := []byte{0, 0, 128, 63, 0, 0, 0, 64} // float32 1, 2
	x, err := TensorFromBytesNoCopy(Float32, []int64{2}, raw)
	if err != nil {
		t.Fatal(err)
	}
	v, err := x.Float32s()
	if err != nil || v[0] != 1 || v[1] != 2 {
		t.Fatalf("%v %v", v, err)
	}
	b, err := x.BytesNoCopy()
	if err != nil || &b[0] != &raw[0] || cap(b) != len(raw) {
		t.Fatalf("BytesNoCopy does not share the tensor's memory: %v", err)
	}
	for _, c := range []struct {
		dt   DType
		dims []int64
		raw  []byte
	}{
		{Float32, []int64{3}, raw},
		{String, []int64{1}, raw},
		{Float32, []int64{-1}, raw},
		{Float32, []int64{1 << 62, 1 << 62}, raw},
	} {
		if _, err := TensorFromBytesNoCopy(c.dt, c.dims, c.raw); err == nil {
			t.Errorf("TensorFromBytesNoCopy(%v, %v, %d bytes) took it", c.dt, c.dims, len(c.raw))
		}
	}
	if _, err := (&Tensor{}).BytesNoCopy(); err == nil {
		t.Error("BytesNoCopy of a zero Tensor gave no error")
	}
}

// Sizes that wrap around int64 and shapes TensorFlow aborts on are errors
// before any tensor exists (found by review: 8·(2^61+1) bytes wrapped to 8).
func TestTensorSizesCannotWrap(t *testing.T) {
	if _, err := TensorFromBytes(Float64, []int64{1<<61 + 1}, make([]byte, 8)); err == nil {
		t.Error("TensorFromBytes took 8 bytes for 2^61+1 float64s")
	}
	if _, err := TensorFromBytesNoCopy(Float64, []int64{1<<61 + 1}, make([]byte, 8)); err == nil {
		t.Error("TensorFromBytesNoCopy took 8 bytes for 2^61+1 float64s")
	}
	if _, err := NewTensor([]float32{}, 1<<40, 1<<40, 0); err == nil {
		t.Error("NewTensor took a shape whose product overflows before its 0")
	}
	empty, err := NewTensor([]float32{}, 0, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := empty.GatherRows([]int{0}); err == nil {
		t.Error("GatherRows of a tensor with no rows took row 0")
	}
	if s := empty.ElementString(0); s != "?" {
		t.Errorf("ElementString out of range = %q", s)
	}
}
