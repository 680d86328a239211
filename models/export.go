package models

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

// Export writes the compiled model as a SavedModel in dir (which must not
// exist yet), as Keras's model.export, with one signature,
// tfwrap.DefaultSignature ("serving_default"), taking the model's inputs
// by their names (InputNames) and returning its outputs by theirs
// (OutputNames), in inference mode; a Sequential model's are "inputs" and
// "outputs".
// Python's tf.saved_model.load, saved_model_cli, TF Serving and
// savedmodels.Load read it. The folder is whole or absent. Safe to call
// while other goroutines predict.
func (m *Model) Export(dir string) error {
	// Held for the whole write: Fit's steps and Close wait, so the
	// weights written are those of one step, and the session stays open.
	m.mu.RLock()
	defer m.mu.RUnlock()
	sg, err := m.serving()
	if err != nil {
		return fmt.Errorf("models: export: %w", err)
	}
	sig := tfwrap.SignatureDef{
		Inputs:  sg.Inputs,
		Outputs: sg.Outputs,
	}
	if err := sg.Session.WriteSavedModel(sg.Saver, dir, map[string]tfwrap.SignatureDef{tfwrap.DefaultSignature: sig}); err != nil {
		return fmt.Errorf("models: export: %w", err)
	}
	return nil
}
