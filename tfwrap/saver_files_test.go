package tfwrap

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
)

// TestSaveOverAndRemoveCheckpoint: saving over a checkpoint replaces all of
// its files (a stale shard included) and leaves no temporary folder;
// RemoveCheckpoint deletes exactly that checkpoint's files.
func TestSaveOverAndRemoveCheckpoint(t *testing.T) {
	g := NewGraph()
	a := g.Variable("a", mustTensor(t, []float32{1, 2, 3}))
	sv := g.NewSaver([]*Variable{a}, nil)
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.InitVariables(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prefix := filepath.Join(dir, "ckpt-1")
	if err := s.Save(sv, prefix); err != nil {
		t.Fatal(err)
	}
	// A shard of an older save with more shards, and a neighbour whose
	// name starts the same.
	for _, f := range []string{"ckpt-1.data-00001-of-00002", "ckpt-10.index", "ckpt-10.data-00000-of-00001"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetValue(a, mustTensor(t, []float32{4, 5, 6})); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(sv, prefix); err != nil {
		t.Fatal(err)
	}
	if err := s.SetValue(a, mustTensor(t, []float32{0, 0, 0})); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(sv, prefix); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Value(a)
	assertClose(t, "restored", floats(t, got), []float64{4, 5, 6}, 0)
	want := []string{"ckpt-1.data-00000-of-00001", "ckpt-1.index", "ckpt-10.data-00000-of-00001", "ckpt-10.index"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after saving over: %v, want %v", got, want)
	}

	if err := RemoveCheckpoint(prefix); err != nil {
		t.Fatal(err)
	}
	if err := RemoveCheckpoint(prefix); err != nil {
		t.Fatalf("removing a missing checkpoint: %v", err)
	}
	if got, want := dirNames(t, dir), want[2:]; !slices.Equal(got, want) {
		t.Fatalf("after removing: %v, want %v", got, want)
	}
	wantErr(t, RemoveCheckpoint(""), "empty")
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}
