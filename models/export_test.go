package models

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestExportReadByPython exports a Go-trained model (with batch
// normalization and dropout, which export in inference mode); Python
// TensorFlow loads it and computes the same outputs, saved_model_cli lists
// its signature, and savedmodels.Load reads it back.
func TestExportReadByPython(t *testing.T) {
	m := toyModel(t, 4, layers.BatchNormalization(), layers.Dropout(0.2))
	if _, err := m.Fit(context.Background(), toyData(t, 32, 4), fitOpts(2, 8, 4)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model", "1")
	if err := m.Export(dir); err != nil {
		t.Fatal(err)
	}
	if err := m.Export(dir); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second export into the same folder: %v", err)
	}
	xs := make([]float32, 3*6)
	for i := range xs {
		xs[i] = float32(math.Cos(float64(i) * 0.11))
	}
	x, err := tfwrap.NewTensor(xs, 3, 6)
	if err != nil {
		t.Fatal(err)
	}
	goOut, err := m.Predict(x, PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Outputs map[string][]float64 `json:"outputs"`
		CLI     string               `json:"cli"`
	}
	in := map[string]any{"dir": dir, "signature": tfwrap.DefaultSignature,
		"inputs": map[string]any{"inputs": map[string]any{"shape": []int{3, 6}, "data": xs}}}
	if err := pyref.Run("call_savedmodel.py", in, &ref); err != nil {
		t.Fatal(err)
	}
	closeTo(t, "Python's outputs", floats64(t, goOut), ref.Outputs["outputs"], 1e-5)
	for _, want := range []string{"signature_def['serving_default']", "inputs['inputs'] tensor_info", "dtype: DT_FLOAT", "shape: (-1, 6)", "outputs['outputs'] tensor_info", "Method name is: tensorflow/serving/predict"} {
		if !strings.Contains(ref.CLI, want) {
			t.Fatalf("saved_model_cli output lacks %q:\n%s", want, ref.CLI)
		}
	}

	loaded, err := savedmodels.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	sig, err := loaded.Signature(tfwrap.DefaultSignature)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig.Inputs) != 1 || sig.Inputs[0].Name != "inputs" || sig.Inputs[0].DType != tfwrap.Float32 || len(sig.Outputs) != 1 {
		t.Fatalf("signature %+v", sig)
	}
	res, err := loaded.Predict(tfwrap.DefaultSignature, map[string]*tfwrap.Tensor{"inputs": x})
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "reloaded outputs", floats64(t, res["outputs"]), floats64(t, goOut), 1e-6)
}
