package tfwrap

import (
	"errors"
	"runtime"
	"testing"
	"time"
)

// TestRunWithOptions: runs through TF_SessionRun with RunOptions compute
// what the bindings' Run computes, free their results, sort TensorFlow's
// errors by code, and a timeout cancels a graph that never ends.
func TestRunWithOptions(t *testing.T) {
	g := NewGraph()
	a := g.Placeholder("a", Float32, -1, -1)
	b := g.Placeholder("b", Float32, -1, -1)
	y := g.MatMul(a, b)
	words := g.Identity("words", g.Const(mustStrings(t, []string{"fetched", "", "strings"})))
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := mustTensor(t, []float32{1, 2, 3, 4}, 2, 2)
	feeds := Feeds{a: x, b: x}
	plain, err := s.Run(feeds, []Output{y})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 { // results are adopted and freed by finalizers
		got, err := s.RunWith(RunOptions{Timeout: 10 * time.Second}, feeds, []Output{y, words})
		if err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			assertClose(t, "matmul", floats(t, got[0]), floats(t, plain[0]), 0)
			assertClose(t, "known answer", floats(t, got[0]), []float64{7, 10, 15, 22}, 0)
			str, err := got[1].Strings()
			if err != nil || len(str) != 3 || str[0] != "fetched" || str[2] != "strings" {
				t.Fatalf("strings: %q %v", str, err)
			}
			runtime.GC()
		}
	}
	// Inline (ops in this thread), alone and with a timeout (then ignored).
	for _, o := range []RunOptions{{Inline: true}, {Inline: true, Timeout: 10 * time.Second}} {
		got, err := s.RunWith(o, feeds, []Output{y})
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		assertClose(t, "inline matmul", floats(t, got[0]), []float64{7, 10, 15, 22}, 0)
	}
	bad := mustTensor(t, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	_, err = s.RunWith(RunOptions{Timeout: time.Second}, Feeds{a: bad, b: bad}, []Output{y})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("[2,3]x[2,3]: %v, want ErrInvalidArgument", err)
	}
}

func mustStrings(t *testing.T, s []string) *Tensor {
	t.Helper()
	x, err := NewStrings(s, int64(len(s)))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// AdmitFetches sees the results' size before they are copied out of
// TensorFlow, and its refusal ends the Run with its error.
func TestRunAdmitFetches(t *testing.T) {
	g := NewGraph()
	a := g.Placeholder("a", Float32, -1, -1)
	y := g.MatMul(a, a)
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	feeds := Feeds{a: mustTensor(t, make([]float32, 64*64), 64, 64)}
	var seen int64
	got, err := s.RunWith(RunOptions{AdmitFetches: func(n int64) error { seen = n; return nil }}, feeds, []Output{y, y})
	if err != nil || len(got) != 2 || seen != 2*64*64*4 {
		t.Fatalf("admitted: %d results, %v; saw %d bytes, want %d", len(got), err, seen, 2*64*64*4)
	}
	full := errors.New("no room")
	if _, err := s.RunWith(RunOptions{AdmitFetches: func(int64) error { return full }}, feeds, []Output{y}); !errors.Is(err, full) {
		t.Fatalf("refused: %v, want the admission's error", err)
	}
}
