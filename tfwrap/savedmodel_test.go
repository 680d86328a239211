package tfwrap

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
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
	m, err := LoadSavedModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sig, ok := m.Signatures["serving_default"]
	if !ok {
		t.Fatalf("signatures: %v", m.Signatures)
	}
	if len(sig.Inputs) != 1 || sig.Inputs[0].Key != "x" || sig.Inputs[0].DType != Float32 ||
		len(sig.Inputs[0].Shape) != 2 || sig.Inputs[0].Shape[0] != -1 || sig.Inputs[0].Shape[1] != 3 {
		t.Fatalf("inputs: %+v", sig.Inputs)
	}
	if len(sig.Outputs) != 2 || sig.Outputs[0].Key != "probs" || sig.Outputs[1].Key != "y" {
		t.Fatalf("outputs: %+v", sig.Outputs)
	}
	in := mustTensor(t, []float32{0.1, -0.2, 0.3, 1, 2, -1}, 2, 3)
	res, err := m.Session.Run(Feeds{sig.Inputs[0].Output(): in}, []Output{sig.Outputs[0].Output(), sig.Outputs[1].Output()})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "probs", floats(t, res[0]), ref["probs"], 1e-6)
	assertClose(t, "y", floats(t, res[1]), ref["y"], 1e-6)
	// Feeds are checked against the signature's shape in Go.
	_, err = m.Session.Run(Feeds{sig.Inputs[0].Output(): mustTensor(t, []float32{1, 2}, 1, 2)}, []Output{sig.Outputs[1].Output()})
	wantErr(t, err, "input wants (None, 3)")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// Broken SavedModels are errors, not crashes.
	broken := func(name string, mutate func(d string)) string {
		d := filepath.Join(t.TempDir(), name)
		copyDir(t, dir, d)
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
			os.WriteFile(p, b[:len(b)/3], 0o644)
		}), nil, "load saved model"},
		{"missing variables", broken("novars", func(d string) { os.RemoveAll(filepath.Join(d, "variables")) }), nil, "load saved model"},
		{"other tag", dir, []string{"train"}, "load saved model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := LoadSavedModel(tt.dir, tt.tags...)
			if err == nil {
				m.Close()
			}
			wantErr(t, err, tt.want)
		})
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
