package savedmodels

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestLoadPythonSavedModel loads a SavedModel written by
// tf.saved_model.save, reads its signature, and computes what Python's
// loaded model computes.
func TestLoadPythonSavedModel(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	x := [][]float32{{0.1, -0.2, 0.3}, {1, 2, -1}}
	var ref map[string][]float64
	if err := pyref.Run("export_savedmodel.py", map[string]any{"dir": dir, "x": x}, &ref); err != nil {
		t.Fatal(err)
	}
	m, sig := loadSignature(t, dir, "")
	if len(sig.Inputs) != 1 || sig.Inputs[0].Name != "x" || sig.Inputs[0].DType != tfwrap.Float32 ||
		len(sig.Inputs[0].Shape) != 2 || sig.Inputs[0].Shape[0] != -1 || sig.Inputs[0].Shape[1] != 3 {
		t.Fatalf("inputs: %+v", sig.Inputs)
	}
	if len(sig.Outputs) != 2 || sig.Outputs[0].Name != "probs" || sig.Outputs[1].Name != "y" {
		t.Fatalf("outputs: %+v", sig.Outputs)
	}
	if !sig.Inputs[0].Output().Valid() || !sig.Outputs[1].Output().Valid() {
		t.Fatal("a signature tensor has no graph Output")
	}
	in, _ := tfwrap.NewTensor([]float32{0.1, -0.2, 0.3, 1, 2, -1}, 2, 3)
	res, err := m.Predict("", map[string]*tfwrap.Tensor{"x": in})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"probs", "y"} {
		got, _ := res[name].Float64sAny()
		want := ref[name]
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", name, got, want)
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-6*(1+math.Abs(want[i])) {
				t.Fatalf("%s[%d] = %v, Python %v", name, i, got[i], want[i])
			}
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// Broken SavedModels are errors, not crashes.
	broken := func(name string, mutate func(d string)) string {
		d := filepath.Join(t.TempDir(), name)
		if err := os.CopyFS(d, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		mutate(d)
		return d
	}
	tests := []struct {
		name, dir string
		tags      []string
		want      string
	}{
		{"missing folder", filepath.Join(t.TempDir(), "none"), nil, "is not a folder"},
		{"empty folder", t.TempDir(), nil, "holds no saved_model.pb"},
		{"truncated pb", broken("trunc", func(d string) {
			p := filepath.Join(d, "saved_model.pb")
			b, _ := os.ReadFile(p)
			os.Chmod(p, 0o644)
			os.WriteFile(p, b[:len(b)/3], 0o644)
		}), nil, "load saved model"},
		{"missing variables", broken("novars", func(d string) { os.RemoveAll(filepath.Join(d, "variables")) }), nil, "load saved model"},
		{"other tag", dir, []string{"train"}, "load saved model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Load(tt.dir, tt.tags...)
			if err == nil {
				m.Close()
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// A graph that never ends is cancelled at PredictWith's Timeout, and the
// model stays usable.
func TestPredictTimeoutRunaway(t *testing.T) {
	dir := t.TempDir()
	if err := pyref.Script("make_hostile_models.py", dir); err != nil {
		t.Fatal(err)
	}
	m, sig := loadSignature(t, filepath.Join(dir, "runaway", "1"), "")
	for range 2 {
		start := time.Now()
		_, err := m.PredictWith("", map[string]*tfwrap.Tensor{sig.Inputs[0].Name: tfwrap.Scalar(int64(1))},
			PredictOptions{Timeout: 300 * time.Millisecond})
		if !errors.Is(err, tfwrap.ErrRunTimeout) || time.Since(start) > 10*time.Second {
			t.Fatalf("runaway graph: %v after %v, want ErrRunTimeout after about 300 ms", err, time.Since(start))
		}
	}
}

// loadSignature loads the SavedModel in dir, closed when the test ends,
// and returns its signature key.
func loadSignature(t *testing.T, dir, key string) (*Model, *Signature) {
	t.Helper()
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	sig, err := m.Signature(key)
	if err != nil {
		t.Fatal(err)
	}
	return m, sig
}
