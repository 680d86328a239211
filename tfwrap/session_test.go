package tfwrap

import (
	"errors"
	"strings"
	"sync"
	"testing"

	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

func TestVariables(t *testing.T) {
	g := NewGraph()
	v := g.Variable("v", mustTensor(t, []float32{1, 2, 3}))
	inc := g.Const(mustTensor(t, []float32{10, 10, 10}))
	assign := v.Assign(g, g.Mul(v.Value(), g.Scalar(2, Float32)))
	add := v.AssignAdd(g, inc)
	sub := v.AssignSub(g, g.Const(mustTensor(t, []float32{1, 1, 1})))
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.InitVariables(); err != nil {
		t.Fatal(err)
	}
	step := func(op *Op, want ...float64) {
		t.Helper()
		if _, err := s.Run(nil, nil, op); err != nil {
			t.Fatal(err)
		}
		got, err := s.Value(v)
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, op.Name(), floats(t, got), want, 0)
	}
	step(assign, 2, 4, 6)
	step(add, 12, 14, 16)
	step(sub, 11, 13, 15)
	if err := s.SetValue(v, mustTensor(t, []float32{7, 8, 9})); err != nil {
		t.Fatal(err)
	}
	step(assign, 14, 16, 18)
	if err := s.InitVariables(v); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Value(v)
	assertClose(t, "re-init", floats(t, got), []float64{1, 2, 3}, 0)
	if v.Name() != "v" || v.DType() != Float32 || len(v.Shape()) != 1 || !v.Trainable() || v.Initial() == nil {
		t.Fatalf("accessors: %s", v)
	}
	if vs := g.Variables(); len(vs) != 1 || vs[0] != v {
		t.Fatalf("Variables() = %v", vs)
	}
}

func TestVariableBadInput(t *testing.T) {
	tests := []struct {
		name  string
		build func(g *Graph)
		want  string
	}{
		{"nil init", func(g *Graph) { g.Variable("v", nil) }, "nil tensor"},
		{"bad name", func(g *Graph) { g.Variable("a:b", Scalar(float32(1))) }, "invalid name"},
		{"string", func(g *Graph) {
			s, _ := NewStrings([]string{"x"})
			g.Variable("s", s)
		}, "string variables"},
		{"assign dtype", func(g *Graph) {
			v := g.Variable("v", Scalar(float32(1)))
			v.Assign(g, g.Scalar(1, Float64))
		}, "value is float64, variable is float32"},
		{"assign shape", func(g *Graph) {
			v := g.Variable("v", mustTensor(t, []float32{1, 2}))
			v.AssignAdd(g, g.Const(mustTensor(t, []float32{1, 2, 3})))
		}, "value has shape (3,), variable has shape (2,)"},
		{"assign foreign", func(g *Graph) {
			v := NewGraph().Variable("v", Scalar(float32(1)))
			v.Assign(g, g.Scalar(1, Float32))
		}, "another graph"},
		{"assign invalid value", func(g *Graph) {
			v := g.Variable("v", Scalar(float32(1)))
			v.Assign(g, Output{})
		}, "not a valid Output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGraph()
			tt.build(g)
			wantErr(t, g.Err(), tt.want)
		})
	}
	var nilV *Variable
	if nilV.Value().Valid() || nilV.Handle().Valid() || nilV.Name() != "<nil>" || nilV.Trainable() {
		t.Fatal("nil variable accessors misbehave")
	}
}

func TestSessionBadInput(t *testing.T) {
	g := NewGraph()
	x := g.Placeholder("x", Float32, -1, 3)
	y := g.Sum(x)
	v := g.Variable("v", mustTensor(t, []float32{1, 2}))
	other := NewGraph()
	foreign := other.Scalar(1, Float32)
	foreignVar := other.Variable("w", Scalar(float32(1)))
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good := mustTensor(t, []float32{1, 2, 3}, 1, 3)
	tests := []struct {
		name string
		err  func() error
		want string
	}{
		{"feed wrong dtype", func() error { _, err := s.Eval(y, Feeds{x: mustTensor(t, []int32{1, 2, 3}, 1, 3)}); return err }, "tensor is int32, input wants float32"},
		{"feed wrong rank", func() error { _, err := s.Eval(y, Feeds{x: mustTensor(t, []float32{1, 2, 3})}); return err }, "shape (3,), input wants (None, 3)"},
		{"feed wrong dim", func() error { _, err := s.Eval(y, Feeds{x: mustTensor(t, []float32{1, 2}, 1, 2)}); return err }, "shape (1, 2), input wants (None, 3)"},
		{"feed nil", func() error { _, err := s.Eval(y, Feeds{x: nil}); return err }, "nil tensor"},
		{"feed key invalid", func() error { _, err := s.Eval(y, Feeds{Output{}: good}); return err }, "feed key is not a valid Output"},
		{"feed key foreign", func() error { _, err := s.Eval(y, Feeds{foreign: good}); return err }, "another graph"},
		{"missing feed", func() error { _, err := s.Eval(y, nil); return err }, "x"},
		{"fetch invalid", func() error { _, err := s.Eval(Output{}, nil); return err }, "fetch 0 is not a valid Output"},
		{"fetch foreign", func() error { _, err := s.Eval(foreign, nil); return err }, "another graph"},
		{"target nil", func() error { _, err := s.Run(nil, nil, nil); return err }, "target 0 is nil"},
		{"uninitialized variable", func() error { _, err := s.Value(v); return err }, "v"},
		{"set value shape", func() error { return s.SetValue(v, mustTensor(t, []float32{1, 2, 3})) }, "variable is float32(2,)"},
		{"set value dtype", func() error { return s.SetValue(v, mustTensor(t, []float64{1, 2})) }, "tensor is float64"},
		{"set value nil", func() error { return s.SetValue(v, nil) }, "nil tensor"},
		{"set value foreign", func() error { return s.SetValue(foreignVar, Scalar(float32(1))) }, "not in this session's graph"},
		{"init foreign", func() error { return s.InitVariables(foreignVar) }, "another graph"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.err(), tt.want) })
	}
	// The session still works after every bad call.
	res, err := s.Eval(y, Feeds{x: good})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "sum", floats(t, res), []float64{6}, 0)
}

func TestSessionClose(t *testing.T) {
	g := NewGraph()
	x := g.Placeholder("x", Float32, 2)
	y := g.Mul(x, x)
	v := g.Variable("v", Scalar(float32(1)))
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	feed := Feeds{x: mustTensor(t, []float32{1, 2})}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if _, err := s.Eval(y, feed); err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("concurrent run: %v", err)
					return
				}
			}
		}()
	}
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Close() }()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if !s.Closed() {
		t.Fatal("Closed() is false after Close")
	}
	for name, err := range map[string]error{
		"Run":           func() error { _, err := s.Run(feed, []Output{y}); return err }(),
		"Value":         func() error { _, err := s.Value(v); return err }(),
		"SetValue":      s.SetValue(v, Scalar(float32(2))),
		"InitVariables": s.InitVariables(),
		"Devices":       func() error { _, err := s.Devices(); return err }(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: got %v, want ErrClosed", name, err)
		}
	}
	var nilS *Session
	if err := nilS.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := nilS.Run(nil, nil); err == nil {
		t.Fatal("nil session Run gave no error")
	}
}

func TestDevices(t *testing.T) {
	info, err := Check()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.Version, "2.") || len(info.Devices) == 0 {
		t.Fatalf("Check() = %+v", info)
	}
	var cpu bool
	for _, d := range info.Devices {
		cpu = cpu || d.Type == "CPU"
	}
	if !cpu {
		t.Fatalf("no CPU device in %v", info.Devices)
	}

	// An op placed on the CPU runs there.
	g := NewGraph()
	c := g.OnDevice("/device:CPU:0")
	if c.Device() != "/device:CPU:0" {
		t.Fatal("OnDevice did not set the device")
	}
	out := c.Add(c.Scalar(1, Float32), c.Scalar(2, Float32))
	res := run(t, g, nil, out)
	assertClose(t, "on CPU", floats(t, res[0]), []float64{3}, 0)

	// A device that is not there is an error at run time, not a crash;
	// soft placement falls back to what exists.
	var gpu bool
	for _, d := range info.Devices {
		gpu = gpu || d.Type == "GPU"
	}
	if gpu {
		t.Log("a GPU is present: skipping the missing-device check")
		return
	}
	g2 := NewGraph()
	gd := g2.OnDevice("/device:GPU:0")
	y := gd.Add(gd.Scalar(1, Float32), gd.Scalar(2, Float32))
	s, err := g2.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Eval(y, nil)
	wantErr(t, err, "GPU")
	s2, err := g2.NewSession(WithSoftPlacement(true), WithThreads(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.Eval(y, nil)
	if err != nil {
		t.Fatalf("soft placement: %v", err)
	}
	assertClose(t, "soft placement", floats(t, got), []float64{3}, 0)
}

func TestAtLeast(t *testing.T) {
	for _, c := range []struct {
		v, min string
		want   bool
	}{{"2.21.0", "2.16", true}, {"2.16.1", "2.16", true}, {"2.9.0", "2.16", false}, {"1.15.0", "2.16", false}, {"3.0.0-rc1", "2.16", true}, {"garbage", "2.16", false}, {"2", "2.16", false}} {
		if got := atLeast(c.v, c.min); got != c.want {
			t.Errorf("atLeast(%q, %q) = %v", c.v, c.min, got)
		}
	}
}

// TestWithThreadSpinning: the option reaches TensorFlow's ConfigProto, and
// a session made with it runs.
func TestWithThreadSpinning(t *testing.T) {
	for _, on := range []bool{false, true} {
		raw, err := SessionConfig(WithThreadSpinning(on))
		if err != nil {
			t.Fatal(err)
		}
		var c corepb.ConfigProto
		if err := proto.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		if got := c.GetExperimental().GetDisableThreadSpinning(); got == on {
			t.Errorf("WithThreadSpinning(%v): disable_thread_spinning = %v", on, got)
		}
	}
	g := NewGraph()
	y := g.Add(g.Scalar(1, Float32), g.Scalar(2, Float32))
	s, err := g.NewSession(WithThreadSpinning(false))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Eval(y, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "no spinning", floats(t, got), []float64{3}, 0)
}

// TestSameRelease: a library of another major.minor is refused with the
// command that fixes it; a patch release of the same one is taken.
func TestSameRelease(t *testing.T) {
	for _, c := range []struct {
		loaded string
		ok     bool
	}{{"2.21.0", true}, {"2.21.3", true}, {"2.21.0-rc1", true}, {"2.20.0", false}, {"2.22.0", false}, {"3.21.0", false}, {"1.21.0", false}, {"", false}, {"garbage", false}} {
		err := sameRelease(c.loaded, "2.21.0")
		if (err == nil) != c.ok {
			t.Errorf("sameRelease(%q, 2.21.0) = %v, want ok=%v", c.loaded, err, c.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "2.21.0") || !strings.Contains(err.Error(), "cmd/gotf setup")) {
			t.Errorf("the error names neither the release nor the fix: %v", err)
		}
	}
	if err := CheckVersion(); err != nil {
		t.Errorf("the library the tests run on: %v", err)
	}
}

// TestLoadedFrom: the process names the library it loaded, for the
// version check's message.
func TestLoadedFrom(t *testing.T) {
	if got := loadedFrom(); !strings.Contains(got, "libtensorflow") {
		t.Errorf("loadedFrom() = %q", got)
	}
}

// TestThreadsOutOfRange: WithThreads past what TensorFlow takes is an
// error from NewSession and SessionConfig, not a count wrapped to int32
// (4294967295 became -1, and TensorFlow aborted the process).
func TestThreadsOutOfRange(t *testing.T) {
	for _, c := range [][2]int{{-1, 0}, {0, -2}, {1 << 32, 0}, {0, 1<<32 - 1}, {MaxThreads + 1, 1}, {1, MaxThreads + 1}} {
		if err := CheckThreads(c[0], c[1]); err == nil {
			t.Errorf("CheckThreads(%d, %d): no error", c[0], c[1])
		}
		if _, err := SessionConfig(WithThreads(c[0], c[1])); err == nil {
			t.Errorf("SessionConfig(WithThreads(%d, %d)): no error", c[0], c[1])
		}
		g := NewGraph()
		g.Scalar(1, Int32)
		if s, err := g.NewSession(WithThreads(c[0], c[1])); err == nil {
			s.Close()
			t.Errorf("NewSession(WithThreads(%d, %d)): no error", c[0], c[1])
		}
	}
	for _, c := range [][2]int{{0, 0}, {1, -1}, {MaxThreads, MaxThreads}} {
		if err := CheckThreads(c[0], c[1]); err != nil {
			t.Errorf("CheckThreads(%d, %d): %v", c[0], c[1], err)
		}
	}
}
