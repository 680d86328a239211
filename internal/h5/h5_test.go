package h5

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
)

type want struct {
	DType string    `json:"dtype"`
	Shape []int64   `json:"shape"`
	Data  []float64 `json:"data"`
}

// files has h5py write the reference files once per test binary.
func files(t *testing.T) (string, map[string]want) {
	t.Helper()
	dir := t.TempDir()
	var out struct {
		Values map[string]want `json:"values"`
	}
	if err := pyref.Run("h5_files.py", map[string]string{"dir": dir}, &out); err != nil {
		t.Fatal(err)
	}
	return dir, out.Values
}

func open(t *testing.T, path string) *File {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// lookup walks a path from the root.
func lookup(f *File, path string) (*Dataset, error) {
	g, err := f.Root()
	if err != nil {
		return nil, err
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, p := range parts[:len(parts)-1] {
		if g, err = g.Group(p); err != nil {
			return nil, err
		}
	}
	return g.Dataset(parts[len(parts)-1])
}

func TestReadsWhatH5pyWrites(t *testing.T) {
	dir, values := files(t)
	f := open(t, filepath.Join(dir, "values.h5"))
	for path, w := range values {
		t.Run(path, func(t *testing.T) {
			d, err := lookup(f, path)
			if err != nil {
				t.Fatal(err)
			}
			if d.DType() != w.DType {
				t.Errorf("dtype %s, h5py %s", d.DType(), w.DType)
			}
			if fmt.Sprint(d.Shape) != fmt.Sprint(w.Shape) && !(len(d.Shape) == 0 && len(w.Shape) == 0) {
				t.Errorf("shape %v, h5py %v", d.Shape, w.Shape)
			}
			got := d.Float32()
			if len(got) != len(w.Data) {
				t.Fatalf("%d values, h5py %d", len(got), len(w.Data))
			}
			ints, ierr := d.Int64()
			for i := range got {
				if float64(got[i]) != float64(float32(w.Data[i])) {
					t.Fatalf("value %d: %v, h5py %v", i, got[i], w.Data[i])
				}
				if ierr == nil && ints[i] != int64(w.Data[i]) {
					t.Fatalf("int %d: %v, h5py %v", i, ints[i], w.Data[i])
				}
			}
		})
	}
	root, err := f.Root()
	if err != nil {
		t.Fatal(err)
	}
	if k, err := root.Kind("nested"); err != nil || k != KindGroup {
		t.Errorf("nested: %v %v, want a group", k, err)
	}
	if k, err := root.Kind("f32"); err != nil || k != KindDataset {
		t.Errorf("f32: %v %v, want a dataset", k, err)
	}
	if _, err := root.Dataset("nested"); err == nil {
		t.Error("a group read as a dataset")
	}
	if _, err := root.Group("missing"); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("missing member: %v", err)
	}
}

func TestManyMembers(t *testing.T) {
	dir, _ := files(t)
	f := open(t, filepath.Join(dir, "many.h5"))
	root, err := f.Root()
	if err != nil {
		t.Fatal(err)
	}
	ls, err := root.Group("layers")
	if err != nil {
		t.Fatal(err)
	}
	names := ls.Names()
	if len(names) != 400 {
		t.Fatalf("%d members, h5py wrote 400", len(names))
	}
	for i, n := range names {
		if n != fmt.Sprintf("layer_%03d", i) {
			t.Fatalf("member %d is %q", i, n)
		}
		g, err := ls.Group(n)
		if err == nil {
			g, err = g.Group("vars")
		}
		if err != nil {
			t.Fatal(err)
		}
		ds, err := g.NumberedDatasets()
		if err != nil {
			t.Fatal(err)
		}
		if v := ds[0].Float32(); len(v) != 2 || v[0] != float32(i) {
			t.Fatalf("%s: %v", n, v)
		}
	}
}

func TestRefusesWhatItDoesNotRead(t *testing.T) {
	dir, _ := files(t)
	for name, msg := range map[string]string{
		"chunked.h5":   "chunked data is not read",
		"gzip.h5":      "filtered (compressed) data is not read",
		"latest.h5":    "libver=\"latest\"",
		"strings.h5":   "string data",
		"bigendian.h5": "big-endian",
	} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			f, err := Open(b)
			if err == nil {
				_, err = lookup(f, "/x")
			}
			if err == nil || !strings.Contains(err.Error(), msg) || !errors.Is(err, ErrFormat) {
				t.Errorf("got %v, want an ErrFormat saying %q", err, msg)
			}
		})
	}
}

// readAll reads every dataset reachable from the root, as a loader would.
func readAll(f *File) (n int, err error) {
	var walk func(g *Group, depth int) error
	walk = func(g *Group, depth int) error {
		if depth > 8 {
			return nil
		}
		for _, name := range g.Names() {
			k, err := g.Kind(name)
			if err != nil {
				return err
			}
			if k == KindGroup {
				sub, err := g.Group(name)
				if err != nil {
					return err
				}
				if err := walk(sub, depth+1); err != nil {
					return err
				}
				continue
			}
			d, err := g.Dataset(name)
			if err != nil {
				return err
			}
			n += len(d.Float32())
		}
		return nil
	}
	root, err := f.Root()
	if err != nil {
		return 0, err
	}
	return n, walk(root, 0)
}

// TestHostileFiles cuts the file at every length and flips random bits:
// each is read to the end or refused with an error, never a panic.
func TestHostileFiles(t *testing.T) {
	dir, _ := files(t)
	good, err := os.ReadFile(filepath.Join(dir, "values.h5"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(nil); err == nil {
		t.Error("an empty file opened")
	}
	try := func(what string, b []byte) {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("%s: panic: %v", what, r)
			}
		}()
		f, err := Open(b)
		if err != nil {
			return
		}
		readAll(f)
	}
	step := 1
	if testing.Short() {
		step = 7
	}
	for n := 0; n < len(good); n += step {
		try(fmt.Sprintf("cut at %d", n), good[:n])
	}
	rng := rand.New(rand.NewPCG(1, 2))
	flips := 3000
	if testing.Short() {
		flips = 500
	}
	for i := 0; i < flips; i++ {
		b := append([]byte{}, good...)
		// Flip bits in the metadata at the front more often than in data.
		limit := len(b)
		if i%2 == 0 {
			limit = min(len(b), 4096)
		}
		for k := 0; k < 1+i%4; k++ {
			p := rng.IntN(limit)
			b[p] ^= 1 << rng.IntN(8)
		}
		try(fmt.Sprintf("flip %d", i), b)
	}
	// Sizes set to the largest values a field holds.
	for p := 0; p+8 <= min(len(good), 4096); p += 8 {
		b := append([]byte{}, good...)
		for k := 0; k < 8; k++ {
			b[p+k] = 0xff
		}
		try(fmt.Sprintf("0xff at %d", p), b)
		b[p+7] = 0x7f
		try(fmt.Sprintf("maxint at %d", p), b)
	}
}

func TestHalf(t *testing.T) {
	for _, c := range []struct {
		h uint16
		f float32
	}{{0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, float32(math.Pow(2, -24))}, {0x8001, -float32(math.Pow(2, -24))}, {0x7c00, float32(math.Inf(1))}} {
		if got := halfToFloat32(c.h); got != c.f {
			t.Errorf("%#x: %v, want %v", c.h, got, c.f)
		}
	}
}
