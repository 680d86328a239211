package h5

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
)

// written is what TestWriter puts in a file: path → shape and values.
type written map[string]wdataset

func sampleFile(t *testing.T) (*Writer, written, []string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	randn := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(rng.NormFloat64())
		}
		return out
	}
	w := NewWriter()
	want := written{
		"layers/dense/vars/0":         {shape: []int64{3, 4}, data: randn(12)},
		"layers/dense/vars/1":         {shape: []int64{4}, data: randn(4)},
		"layers/conv2d/vars/0":        {shape: []int64{3, 3, 2, 5}, data: randn(90)},
		"scalar":                      {shape: nil, data: []float32{-2.5}},
		"empty":                       {shape: []int64{0, 3}, data: nil},
		"specials":                    {shape: []int64{6}, data: []float32{float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), math.MaxFloat32, float32(math.NaN())}},
		"deep/a/b/c/d/e/f/g/h/i/j/ds": {shape: []int64{1, 1, 1}, data: randn(1)},
	}
	// A group wider than libhdf5's default symbol table node (8 entries)
	// and its default B-tree node (32 nodes of 8), and one wider than two
	// levels of them (8,192), so its B-tree has three.
	for i := range 300 {
		want[fmt.Sprintf("wide/m%03d", i)] = wdataset{shape: []int64{2}, data: randn(2)}
	}
	for i := range 9000 {
		want[fmt.Sprintf("wider/%d", i)] = wdataset{shape: []int64{1}, data: randn(1)}
	}
	// Many small groups: each costs its own nodes, not the widest's.
	for i := range 400 {
		want[fmt.Sprintf("layers/d%d/vars/0", i)] = wdataset{shape: []int64{2}, data: randn(2)}
	}
	for p, d := range want {
		if err := w.Float32(p, d.shape, d.data); err != nil {
			t.Fatal(err)
		}
	}
	emptyGroups := []string{"vars", "layers/flatten/vars"}
	for _, g := range emptyGroups {
		if err := w.Group(g); err != nil {
			t.Fatal(err)
		}
	}
	return w, want, emptyGroups
}

// TestWriter writes a file and reads it back with this package's reader
// and with h5py, the library Keras loads weights with: every dataset's
// shape and every bit of every value, every group, empty ones included.
func TestWriter(t *testing.T) {
	w, want, emptyGroups := sampleFile(t)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if per := len(b) / (len(want) + len(emptyGroups)); per > 2048 {
		t.Errorf("the file has %d bytes, %d an object", len(b), per)
	}
	f, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	// Each group parsed once: lookup walks from the root every time.
	parsed := map[string]*Group{}
	groupAt := func(dir string) (*Group, error) {
		if g, ok := parsed[dir]; ok {
			return g, nil
		}
		g, err := f.Root()
		for _, part := range strings.Split(dir, "/") {
			if err == nil && part != "" {
				g, err = g.Group(part)
			}
		}
		parsed[dir] = g
		return g, err
	}
	for p, d := range want {
		dir, name := "", p
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			dir, name = p[:i], p[i+1:]
		}
		g, err := groupAt(dir)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got, err := g.Dataset(name)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if fmt.Sprint(got.Shape) != fmt.Sprint(d.shape) && !(len(got.Shape) == 0 && len(d.shape) == 0) {
			t.Errorf("%s: shape %v, want %v", p, got.Shape, d.shape)
		}
		vals := got.Float32()
		if len(vals) != len(d.data) {
			t.Fatalf("%s: %d values, want %d", p, len(vals), len(d.data))
		}
		for i := range vals {
			if math.Float32bits(vals[i]) != math.Float32bits(d.data[i]) {
				t.Fatalf("%s[%d] = %v, want %v", p, i, vals[i], d.data[i])
			}
		}
	}
	for _, g := range emptyGroups {
		parts := strings.Split(g, "/")
		grp, err := f.Root()
		for _, p := range parts {
			if err == nil {
				grp, err = grp.Group(p)
			}
		}
		if err != nil || len(grp.Names()) != 0 {
			t.Errorf("empty group %s: %v, %v", g, err, grp)
		}
	}

	path := filepath.Join(t.TempDir(), "w.h5")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var py struct {
		Groups   []string `json:"groups"`
		Datasets map[string]struct {
			DType string   `json:"dtype"`
			Shape []int64  `json:"shape"`
			Bits  []uint32 `json:"bits"`
		} `json:"datasets"`
	}
	if err := pyref.Run("h5_read.py", map[string]string{"path": path}, &py); err != nil {
		t.Fatal(err)
	}
	if len(py.Datasets) != len(want) {
		t.Errorf("h5py reads %d datasets, want %d", len(py.Datasets), len(want))
	}
	for p, d := range want {
		got, ok := py.Datasets[p]
		if !ok {
			t.Errorf("h5py does not find %s", p)
			continue
		}
		if got.DType != "float32" || fmt.Sprint(got.Shape) != fmt.Sprint(append([]int64{}, d.shape...)) {
			t.Errorf("%s: h5py reads %s %v, want float32 %v", p, got.DType, got.Shape, d.shape)
		}
		if len(got.Bits) != len(d.data) {
			t.Fatalf("%s: h5py reads %d values, want %d", p, len(got.Bits), len(d.data))
		}
		for i, v := range got.Bits {
			if v != math.Float32bits(d.data[i]) {
				t.Fatalf("%s[%d]: h5py reads %v, want %v", p, i, math.Float32frombits(v), d.data[i])
			}
		}
	}
	wantGroups := map[string]bool{}
	for p := range want {
		parents(p, wantGroups)
	}
	for _, g := range emptyGroups {
		parents(g+"/", wantGroups)
	}
	var names []string
	for g := range wantGroups {
		names = append(names, g)
	}
	sort.Strings(names)
	if fmt.Sprint(py.Groups) != fmt.Sprint(names) {
		t.Errorf("h5py reads groups %v,\nwant %v", py.Groups, names)
	}
}

// TestWriterRefuses: bad names, shapes that do not fit their data, a
// dataset where a group is and the other way round.
func TestWriterRefuses(t *testing.T) {
	w := NewWriter()
	if err := w.Float32("a/b", []int64{1}, []float32{1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path  string
		shape []int64
		data  []float32
		want  string
	}{
		{"a/b", []int64{1}, []float32{1}, "already written"},
		{"a", []int64{1}, []float32{1}, "already a group"},
		{"a/b/c", []int64{1}, []float32{1}, "is a dataset"},
		{"x", []int64{2, 2}, []float32{1}, "holds 4 values"},
		{"x", []int64{-1}, nil, "shape"},
		{"x", []int64{1 << 40, 1 << 40}, nil, "shape"},
		{"a//x", []int64{1}, []float32{1}, "non-empty"},
		{"a/..", []int64{1}, []float32{1}, "non-empty"},
		{"x\x00y", []int64{1}, []float32{1}, "NUL"},
		{strings.Repeat("n", 2000), []int64{1}, []float32{1}, "at most"},
	} {
		err := w.Float32(c.path, c.shape, c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Float32(%q, %v): %v, want an error with %q", c.path, c.shape, err, c.want)
		}
	}
	if err := w.Group("a/b"); err == nil {
		t.Error("Group over a dataset: no error")
	}
}

// parents adds the groups above path to out: "a/b/c" adds "a" and "a/b".
func parents(path string, out map[string]bool) {
	for i := range path {
		if path[i] == '/' {
			out[path[:i]] = true
		}
	}
}
