package tfwrap

import (
	"bytes"
	"strings"
	"testing"
)

// TestImport builds y = x·w + 1 in one graph, imports it into another with
// x and w replaced by that graph's tensors, and runs it; names it cannot
// resolve are errors that stay the graph's.
func TestImport(t *testing.T) {
	src := NewGraph()
	x := src.Placeholder("x", Float32, -1)
	w := src.Placeholder("w", Float32)
	src.Identity("y", src.Add(src.Mul(x, w), src.Scalar(1, Float32)))
	if err := src.Err(); err != nil {
		t.Fatal(err)
	}
	var def bytes.Buffer
	if _, err := src.TF().WriteTo(&def); err != nil {
		t.Fatal(err)
	}

	g := NewGraph()
	xs, _ := NewTensor([]float32{1, 2, 3})
	in := g.Const(xs)
	v := g.Variable("w", Scalar[float32](10))
	outs, err := g.Import(def.Bytes(), "sub", map[string]Output{"x:0": in, "w": v.Value()}, "y:0")
	if err != nil {
		t.Fatal(err)
	}
	again, err := g.Import(def.Bytes(), "sub", map[string]Output{"x:0": in, "w": g.Scalar(-1, Float32)}, "y")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := outs[0].Name(), again[0].Name(); a == b || !strings.HasPrefix(a, "sub/") {
		t.Fatalf("imports named %s and %s: want two scopes under sub", a, b)
	}
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.InitVariables(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(nil, []Output{outs[0], again[0]})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]float32{{11, 21, 31}, {0, -1, -2}} {
		got, _ := res[i].Float32s()
		if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("import %d computed %v, want %v", i, got, want)
		}
	}

	for _, c := range []struct {
		name   string
		inputs map[string]Output
		out    string
		want   string
	}{
		{"bad input name", map[string]Output{"x:zero": in}, "y", `"x:zero" is not a tensor name`},
		{"no such output", map[string]Output{"x": in, "w": in}, "z:0", `has no tensor "z:0"`},
		{"input of another graph", map[string]Output{"x": x}, "y", "not of this graph"},
	} {
		g := NewGraph()
		in := g.Const(xs)
		for k, o := range c.inputs {
			if o.st != nil && o.st != src.st {
				c.inputs[k] = in
			}
		}
		if _, err := g.Import(def.Bytes(), "sub", c.inputs, c.out); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		} else if g.Err() == nil {
			t.Errorf("%s: the graph kept no error", c.name)
		}
	}
	if _, err := NewGraph().Import([]byte("not a graph"), "sub", nil); err == nil {
		t.Error("a GraphDef that does not parse was imported")
	}
}
