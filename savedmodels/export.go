package savedmodels

import (
	"fmt"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/tfwrap"
)

// DefaultSignature is the signature key TF Serving calls by default.
const DefaultSignature = "serving_default"

// Export writes a compiled model as a SavedModel in dir (which must not
// exist yet) with one signature, serving_default, taking "inputs" and
// returning "outputs" (the model's predictions, in inference mode).
// Python's tf.saved_model.load, saved_model_cli, TF Serving and Load read it.
func Export(m *models.Sequential, dir string) error {
	sg, err := m.Serving()
	if err != nil {
		return fmt.Errorf("savedmodels: export: %w", err)
	}
	sig := tfwrap.SignatureDef{
		Inputs:  map[string]tfwrap.Output{"inputs": sg.Input},
		Outputs: map[string]tfwrap.Output{"outputs": sg.Output},
	}
	if err := sg.Session.WriteSavedModel(sg.Saver, dir, map[string]tfwrap.SignatureDef{DefaultSignature: sig}); err != nil {
		return fmt.Errorf("savedmodels: export: %w", err)
	}
	return nil
}
