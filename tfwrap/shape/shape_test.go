package shape

import (
	"errors"
	"math"
	"testing"
)

func TestNumElements(t *testing.T) {
	tests := []struct {
		name    string
		in      []int64
		want    int64
		wantErr bool
	}{
		{"scalar", []int64{}, 1, false},
		{"matrix", []int64{2, 3}, 6, false},
		{"zero dim", []int64{4, 0, math.MaxInt64}, 0, false},
		{"negative", []int64{2, -1}, 0, true},
		{"overflow", []int64{math.MaxInt64 / 2, 3}, 0, true},
		// TensorFlow multiplies from the first dimension and aborts on an
		// overflow before a 0 (Python: "would have more than 2**63").
		{"overflow before zero", []int64{1 << 40, 1 << 40, 0}, 0, true},
		{"rank 254", make([]int64, 254), 0, false},
		{"rank 255", make([]int64, 255), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NumElements(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("NumElements(%v) = %d, %v; want %d, err=%v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := NumElements([]int64{math.MaxInt64, 2}); !errors.Is(err, ErrOverflow) {
		t.Fatalf("want ErrOverflow, got %v", err)
	}
}

func TestBroadcast(t *testing.T) {
	tests := []struct {
		a, b, want []int64
		wantErr    bool
	}{
		{[]int64{2, 3}, []int64{3}, []int64{2, 3}, false},
		{[]int64{}, []int64{4, 1}, []int64{4, 1}, false},
		{[]int64{-1, 1}, []int64{5}, []int64{-1, 5}, false},
		{[]int64{-1, 3}, []int64{2, 1}, []int64{2, 3}, false},
		{[]int64{2, 3}, []int64{4}, nil, true},
		{[]int64{2, 1, 3}, []int64{5, 3}, []int64{2, 5, 3}, false},
	}
	for _, tt := range tests {
		t.Run(String(tt.a)+"x"+String(tt.b), func(t *testing.T) {
			got, err := Broadcast(tt.a, tt.b)
			if (err != nil) != tt.wantErr || !Equal(got, tt.want) {
				t.Fatalf("Broadcast = %v, %v; want %v, err=%v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestMatMul(t *testing.T) {
	if got, err := MatMul([]int64{-1, 3}, []int64{3, 4}, false, false); err != nil || !Equal(got, []int64{-1, 4}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, err := MatMul([]int64{3, 2}, []int64{4, 3}, true, true); err != nil || !Equal(got, []int64{2, 4}) {
		t.Fatalf("transposed: got %v, %v", got, err)
	}
	for _, c := range [][2][]int64{{{2, 3}, {2, 3}}, {{3}, {3, 1}}, {{2, 3, 4}, {4, 2}}} {
		if _, err := MatMul(c[0], c[1], false, false); err == nil {
			t.Errorf("MatMul(%v, %v): want error", c[0], c[1])
		}
	}
}

func TestReduceAndAxes(t *testing.T) {
	if got, err := Reduce([]int64{2, 3, 4}, []int{-1, 0}, false); err != nil || !Equal(got, []int64{3}) {
		t.Fatalf("Reduce = %v, %v", got, err)
	}
	if got, err := Reduce([]int64{2, 3}, nil, true); err != nil || !Equal(got, []int64{1, 1}) {
		t.Fatalf("Reduce keepdims = %v, %v", got, err)
	}
	for _, axes := range [][]int{{2}, {-3}, {0, 0}, {1, -1}} {
		if _, err := NormalizeAxes(2, axes); err == nil {
			t.Errorf("NormalizeAxes(2, %v): want error", axes)
		}
	}
}

func TestReshape(t *testing.T) {
	tests := []struct {
		in, target, want []int64
		wantErr          bool
	}{
		{[]int64{2, 3}, []int64{-1}, []int64{6}, false},
		{[]int64{2, 3}, []int64{3, -1}, []int64{3, 2}, false},
		{[]int64{-1, 784}, []int64{-1, 28, 28, 1}, []int64{-1, 28, 28, 1}, false},
		{[]int64{1}, []int64{}, []int64{}, false},
		{[]int64{2, 3}, []int64{4, -1}, nil, true},
		{[]int64{2, 3}, []int64{5}, nil, true},
		{[]int64{2, 3}, []int64{-1, -1}, nil, true},
		{[]int64{2, 3}, []int64{-2, 3}, nil, true},
	}
	for _, tt := range tests {
		got, err := Reshape(tt.in, tt.target)
		if (err != nil) != tt.wantErr || (!tt.wantErr && !Equal(got, tt.want)) {
			t.Errorf("Reshape(%v, %v) = %v, %v; want %v, err=%v", tt.in, tt.target, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestStringAndCompatible(t *testing.T) {
	for in, want := range map[string]string{String([]int64{}): "()", String([]int64{3}): "(3,)", String([]int64{-1, 2}): "(None, 2)"} {
		if in != want {
			t.Errorf("String: got %s want %s", in, want)
		}
	}
	if !Compatible([]int64{-1, 2}, []int64{7, 2}) || Compatible([]int64{-1, 2}, []int64{7, 3}) || Compatible([]int64{2}, []int64{2, 1}) {
		t.Error("Compatible gave a wrong answer")
	}
	if Validate([]int64{1, -1}) == nil {
		t.Error("Validate accepted a negative dimension")
	}
}

func TestWindowsAndConv(t *testing.T) {
	for _, c := range []struct {
		n, k, s int64
		p       Padding
		want    int64
		err     bool
	}{
		{28, 3, 1, Valid, 26, false}, {28, 3, 1, Same, 28, false}, {26, 2, 2, Valid, 13, false},
		{13, 2, 2, Valid, 6, false}, {13, 2, 2, Same, 7, false}, {-1, 3, 1, Valid, -1, false},
		{2, 3, 1, Valid, 0, true}, {5, 0, 1, Same, 0, true}, {5, 1, 1, "FULL", 0, true},
	} {
		got, err := Window(c.n, c.k, c.s, c.p)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("Window(%d,%d,%d,%s) = %d, %v", c.n, c.k, c.s, c.p, got, err)
		}
	}
	got, err := Conv2D([]int64{-1, 28, 28, 1}, []int64{3, 3, 1, 32}, [2]int64{1, 1}, Valid)
	if err != nil || !Equal(got, []int64{-1, 26, 26, 32}) {
		t.Fatalf("Conv2D = %v, %v", got, err)
	}
	if _, err := Conv2D([]int64{-1, 28, 28, 3}, []int64{3, 3, 1, 32}, [2]int64{1, 1}, Valid); err == nil {
		t.Fatal("channel mismatch accepted")
	}
	if _, err := Conv2D([]int64{28, 28, 1}, []int64{3, 3, 1, 32}, [2]int64{1, 1}, Valid); err == nil {
		t.Fatal("rank-3 input accepted")
	}
	got, err = Pool2D([]int64{-1, 26, 26, 32}, [2]int64{2, 2}, [2]int64{2, 2}, Valid)
	if err != nil || !Equal(got, []int64{-1, 13, 13, 32}) {
		t.Fatalf("Pool2D = %v, %v", got, err)
	}
}
