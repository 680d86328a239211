package savedmodels

import (
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestKerasApplicationExport loads a keras.applications MobileNetV2
// (include_top=False, random weights: nothing downloads) exported by
// scripts/export_keras_app.py, and computes the features Python computes.
func TestKerasApplicationExport(t *testing.T) {
	ref, err := pyref.ExportKerasApp(t.TempDir(), 32)
	if err != nil {
		t.Fatal(err)
	}
	dir := ref.Dir
	m, sig := loadSignature(t, dir, DefaultSignature)
	if len(sig.Inputs) != 1 || sig.Inputs[0].Name != "images" || len(sig.Inputs[0].Shape) != 4 || sig.Inputs[0].Shape[3] != 3 {
		t.Fatalf("signature %+v", sig)
	}
	x, err := tfwrap.NewTensor(ref.Image, 1, 32, 32, 3)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Predict(DefaultSignature, map[string]*tfwrap.Tensor{"images": x})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "features", values(t, out["features"]), ref.Features, 1e-5)
	if _, err := m.Predict(DefaultSignature, map[string]*tfwrap.Tensor{"images": tensor(t, make([]float32, 64*64*3), 1, 64, 64, 3)}); err == nil {
		t.Fatal("a 64×64 image passed a 32×32 signature")
	}
}
