// A model's weights: reading, setting, saving and loading them.

package models

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// Weights returns the model's variables in Keras's get_weights order
// (layer by layer, in call order: kernel, bias; gamma, beta, moving mean,
// moving variance), once they exist: after Compile, or after the model
// was built as a layer of a compiled one.
//
// A weight is listed once, where it first appears, as in Keras: a layer
// called both in this model and inside a model used as a layer of it
// shares its weights between the two.
func (m *Model) Weights() []*tfwrap.Variable {
	var out []*tfwrap.Variable
	seen := map[*tfwrap.Variable]bool{}
	for _, l := range m.layerList {
		for _, w := range l.Weights() {
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// GetWeights returns the current values of Weights.
func (m *Model) GetWeights() ([]*tfwrap.Tensor, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return nil, err
	}
	outs := make([]tfwrap.Output, len(c.weights))
	for i, w := range c.weights {
		outs[i] = w.Value()
	}
	return c.sess.Run(nil, outs)
}

// SetWeights assigns values to Weights, in the same order, as Keras's
// set_weights; each must have its variable's dtype and shape.
func (m *Model) SetWeights(values []*tfwrap.Tensor) error {
	if err := m.lockMutable("set weights"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	c, err := m.session()
	if err != nil {
		return err
	}
	if len(values) != len(c.weights) {
		return fmt.Errorf("models: set weights: got %d tensors, the model has %d weights", len(values), len(c.weights))
	}
	for i, w := range c.weights {
		if err := c.sess.SetValue(w, values[i]); err != nil {
			return fmt.Errorf("models: set weights: %w", err)
		}
	}
	return nil
}

// SaveWeights writes the weights to a TensorFlow checkpoint at prefix
// (prefix.index and prefix.data-*), atomically.
func (m *Model) SaveWeights(prefix string) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return err
	}
	return c.sess.Save(c.weightsSaver, prefix)
}

// LoadWeights reads weights saved by SaveWeights from a model of the same
// architecture.
func (m *Model) LoadWeights(prefix string) error {
	if err := m.lockMutable("load weights"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	c, err := m.session()
	if err != nil {
		return err
	}
	return c.sess.Restore(c.weightsSaver, prefix)
}

// SetWeightsByName assigns tensors to the weights of those names (e.g.
// "block1_conv/kernel"), leaving the others as they are: how a pretrained
// backbone's weights go into a bigger model. Unknown names and tensors of
// the wrong dtype or shape are errors, and then nothing is assigned.
func (m *Model) SetWeightsByName(values map[string]*tfwrap.Tensor) error {
	if err := m.lockMutable("set weights"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	c, err := m.session()
	if err != nil {
		return err
	}
	byName := map[string]*tfwrap.Variable{}
	for _, w := range c.weights {
		byName[w.Name()] = w
	}
	for name, t := range values {
		w, ok := byName[name]
		if !ok {
			return fmt.Errorf("models: set weights: the model has no weight %q", name)
		}
		if t == nil || t.DType() != w.DType() || !shape.Equal(t.Shape(), w.Shape()) {
			return fmt.Errorf("models: set weights: %q is %v%v, the weight is %v%v", name, t.DType(), t.Shape(), w.DType(), w.Shape())
		}
	}
	for name, t := range values {
		if err := c.sess.SetValue(byName[name], t); err != nil {
			return fmt.Errorf("models: set weights: %w", err)
		}
	}
	return nil
}
