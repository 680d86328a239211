package tfwrap

import (
	"math"
	"strings"
	"testing"
)

// run builds a session on g, initializes its variables and evaluates outs.
func run(t *testing.T, g *Graph, feeds Feeds, outs ...Output) []*Tensor {
	t.Helper()
	s, err := g.NewSession()
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.InitVariables(); err != nil {
		t.Fatalf("InitVariables: %v", err)
	}
	res, err := s.Run(feeds, outs)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func floats(t *testing.T, x *Tensor) []float64 {
	t.Helper()
	v, err := x.Float64sAny()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > tol*(1+math.Abs(want[i])) || math.IsNaN(got[i]) {
			t.Fatalf("%s[%d] = %v, want %v (diff %g > %g)", what, i, got[i], want[i], d, tol)
		}
	}
}

func mustTensor[T Elem](t *testing.T, data []T, dims ...int64) *Tensor {
	t.Helper()
	x, err := NewTensor(data, dims...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func wantErr(t *testing.T, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error mentioning %q, got nil", substr)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q does not mention %q", err, substr)
	}
}
