package transfer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

// Backbone is a pretrained feature extractor in the two forms
// scripts/pretrain_backbone.py writes:
//
//   - Frozen: a SavedModel with one signature per feature depth, run as it
//     is (its weights cannot change). Features computes them.
//   - Trainable: the architecture (backbone.json, each layer a
//     layers.Config) and its weights as a TF checkpoint keyed by layer
//     name. Layers rebuilds the architecture with layers.FromConfig and
//     LoadInto copies the weights, so the top of the backbone can be
//     fine-tuned with the rest of a Go model.
//
// TF's C API cannot train the variables inside a loaded SavedModel's
// functions, hence the second form. A Backbone owns the SavedModel's
// session until Close; Features is safe for concurrent use, as Predict is.
type Backbone struct {
	Dir   string
	Spec  BackboneSpec
	Saved *savedmodels.Model
}

// BackboneSpec is backbone.json.
type BackboneSpec struct {
	Input  []int64         `json:"input"`
	Layers []layers.Config `json:"layers"`
	Source []int           `json:"source_classes"`
	Acc    float64         `json:"source_test_accuracy"`
}

// LoadBackbone reads a backbone folder (savedmodel/, weights.*, backbone.json).
func LoadBackbone(dir string) (*Backbone, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "backbone.json"))
	if err != nil {
		return nil, fmt.Errorf("transfer: backbone: %w (make one with scripts/pretrain_backbone.py)", err)
	}
	b := &Backbone{Dir: dir}
	if err := json.Unmarshal(raw, &b.Spec); err != nil {
		return nil, fmt.Errorf("transfer: backbone.json: %w", err)
	}
	if len(b.Spec.Layers) == 0 || len(b.Spec.Input) == 0 {
		return nil, errors.New("transfer: backbone.json lists no layers or no input shape")
	}
	if b.Saved, err = savedmodels.Load(filepath.Join(dir, "savedmodel")); err != nil {
		return nil, err
	}
	return b, nil
}

// Close releases the SavedModel's session.
func (b *Backbone) Close() error {
	if b == nil {
		return nil
	}
	return b.Saved.Close()
}

// Features runs the frozen backbone up to a depth (a signature key such as
// "block1", "block2" or "features") on images, in batches of 256.
// Features of a dozen images or so cost about as much as one batch: call
// it once on every image a study needs and slice the result.
func (b *Backbone) Features(depth string, images *tfwrap.Tensor) (*tfwrap.Tensor, error) {
	sig, err := b.Saved.Signature(depth)
	if err != nil {
		return nil, err
	}
	if len(sig.Inputs) != 1 || len(sig.Outputs) != 1 {
		return nil, fmt.Errorf("transfer: backbone signature %q has %d inputs and %d outputs, want 1 and 1", depth, len(sig.Inputs), len(sig.Outputs))
	}
	if images == nil || images.Rank() == 0 {
		return nil, fmt.Errorf("transfer: backbone features: %w: no images", savedmodels.ErrBadInput)
	}
	batches, err := images.SplitRows(tfwrap.Batches(int(images.Shape()[0]), 256)...)
	if err != nil {
		return nil, err
	}
	parts := make([]*tfwrap.Tensor, len(batches))
	for i, batch := range batches {
		out, err := b.Saved.Predict(depth, map[string]*tfwrap.Tensor{sig.Inputs[0].Name: batch})
		if err != nil {
			return nil, err
		}
		parts[i] = out[sig.Outputs[0].Name]
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return tfwrap.ConcatRows(parts...)
}

// Layers returns fresh layers rebuilding the backbone up to and including
// the layer named upTo ("" for all), with the layers before trainableFrom
// frozen ("" freezes none; a name past upTo freezes all) and those that
// backbone.json marks frozen.
func (b *Backbone) Layers(upTo, trainableFrom string) ([]layers.Layer, error) {
	var out []layers.Layer
	frozen := trainableFrom != ""
	found := upTo == ""
	for _, c := range b.Spec.Layers {
		if c.Name == trainableFrom {
			frozen = false
		}
		c.Frozen = c.Frozen || frozen
		l, err := layers.FromConfig(c)
		if err != nil {
			return nil, fmt.Errorf("transfer: backbone: %w", err)
		}
		out = append(out, l)
		if c.Name == upTo {
			found = true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("transfer: backbone has no layer %q", upTo)
	}
	return out, nil
}

// LoadInto copies the pretrained weights into the model's layers of the
// same names (as built by Layers).
func (b *Backbone) LoadInto(m *models.Sequential) error {
	want := map[string]tfwrap.DType{}
	for _, w := range m.Weights() {
		for _, s := range b.Spec.Layers {
			if (s.Type == "Conv2D" || s.Type == "Dense") && (w.Name() == s.Name+"/kernel" || w.Name() == s.Name+"/bias") {
				want[w.Name()] = w.DType()
			}
		}
	}
	if len(want) == 0 {
		return errors.New("transfer: the model has none of the backbone's layers")
	}
	vals, err := tfwrap.ReadCheckpoint(filepath.Join(b.Dir, "weights"), want)
	if err != nil {
		return err
	}
	return m.SetWeightsByName(vals)
}
