// Inference and evaluation: Predict and its variants, Evaluate, and the
// gradients of a batch.

package models

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tfgo-project/gotf/internal/suggest"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// EvaluateOptions configures Evaluate; the zero value means batches of 32.
type EvaluateOptions struct{ BatchSize int }

// Evaluate returns the loss and metrics on d, as keras.Model.evaluate:
// means over all samples, in inference mode.
func (m *Model) Evaluate(d *Dataset, opts EvaluateOptions) (Logs, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return nil, err
	}
	if err := c.errMaskedOutput("evaluate"); err != nil {
		return nil, err
	}
	if opts.BatchSize < 0 {
		return nil, fmt.Errorf("models: evaluate: batch size %d is negative", opts.BatchSize)
	}
	if _, _, err := c.checkData("evaluation data", d); err != nil {
		return nil, err
	}
	return c.evaluate(d, opts.BatchSize)
}

func (c *compiled) evaluate(d *Dataset, batch int) (Logs, error) {
	if batch == 0 {
		batch = 32
	}
	xs, ys, err := c.checkData("evaluation data", d)
	if err != nil {
		return nil, err
	}
	return c.evaluateChecked(xs, ys, d.Len(), batch)
}

// evaluateChecked evaluates data checkData has checked: xs and ys hold n
// samples.
func (c *compiled) evaluateChecked(xs, ys []*tfwrap.Tensor, n, batch int) (Logs, error) {
	if batch == 0 {
		batch = 32
	}
	fetch := append([]tfwrap.Output{c.evalLoss}, c.evalLogs...)
	sums := make([]float64, len(fetch))
	sizes := tfwrap.Batches(n, batch)
	var feeds []tfwrap.Output
	var parts [][]*tfwrap.Tensor
	for i, x := range xs {
		p, err := x.SplitRows(sizes...)
		if err != nil {
			return nil, err
		}
		feeds, parts = append(feeds, c.xs[i]), append(parts, p)
	}
	for i, y := range ys {
		p, err := y.SplitRows(sizes...)
		if err != nil {
			return nil, err
		}
		feeds, parts = append(feeds, c.outs[i].yEval), append(parts, p)
	}
	nLosses := 0
	if len(c.outs) > 1 {
		nLosses = len(c.outs)
	}
	for b, size := range sizes {
		feed := tfwrap.Feeds{}
		for i, f := range feeds {
			feed[f] = parts[i][b]
		}
		res, err := c.sess.Run(feed, fetch)
		if err != nil {
			return nil, fmt.Errorf("models: evaluate: %w", err)
		}
		for i, r := range res {
			v, err := r.Float32s()
			if err != nil {
				return nil, err
			}
			if i <= nLosses {
				// Batch means.
				sums[i] += float64(v[0]) * float64(size)
			} else {
				sums[i] += float64(v[0])
			}
		}
	}
	logs := Logs{"loss": sums[0] / float64(n)}
	for i, name := range c.logNames {
		logs[name] = sums[1+i] / float64(n)
	}
	return logs, nil
}

// PredictOptions configures Predict; the zero value means batches of 32.
type PredictOptions struct {
	BatchSize int
	// Profile traces some of the batches and writes trace.json and
	// ops.txt (see ProfileOptions); the zero value traces none.
	Profile ProfileOptions
}

// Predict returns the outputs of a model of one input and one output for
// the inputs x, (N, ...), in inference mode, as keras.Model.predict.
// PredictAll and PredictNamed serve models of several.
func (m *Model) Predict(x *tfwrap.Tensor, opts PredictOptions) (*tfwrap.Tensor, error) {
	if len(m.inputs) != 1 || len(m.outputs) != 1 {
		return nil, fmt.Errorf("models: predict: the model has %d inputs and %d outputs; use PredictAll or PredictNamed", len(m.inputs), len(m.outputs))
	}
	out, err := m.PredictAll([]*tfwrap.Tensor{x}, opts)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// PredictNamed is PredictAll with inputs and outputs by name
// (InputNames, OutputNames).
func (m *Model) PredictNamed(x map[string]*tfwrap.Tensor, opts PredictOptions) (map[string]*tfwrap.Tensor, error) {
	names := m.InputNames()
	for n := range x {
		if !slices.Contains(names, n) {
			return nil, fmt.Errorf("models: predict: the model has no input named %q; its inputs are %s%s", n, strings.Join(names, ", "), suggest.Hint(n, names))
		}
	}
	xs := make([]*tfwrap.Tensor, len(names))
	for i, n := range names {
		t, ok := x[n]
		if !ok {
			return nil, fmt.Errorf("models: predict: no tensor for input %q", n)
		}
		xs[i] = t
	}
	outs, err := m.PredictAll(xs, opts)
	if err != nil {
		return nil, err
	}
	res := map[string]*tfwrap.Tensor{}
	for i, n := range m.outNames {
		res[n] = outs[i]
	}
	return res, nil
}

// PredictAll returns every output of the model for its inputs xs, one
// (N, ...) tensor per input in the order of InputNames, in inference
// mode.
func (m *Model) PredictAll(xs []*tfwrap.Tensor, opts PredictOptions) ([]*tfwrap.Tensor, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return nil, err
	}
	if len(xs) != len(c.xs) {
		return nil, fmt.Errorf("models: predict: %d input tensors, the model has %d (%s)", len(xs), len(c.xs), strings.Join(c.inNames, ", "))
	}
	n := -1
	for i, x := range xs {
		name := "inputs"
		if len(xs) > 1 {
			name = fmt.Sprintf("input %q", c.inNames[i])
		}
		if x == nil {
			return nil, fmt.Errorf("models: predict: %s are nil", name)
		}
		if x.DType() != tfwrap.Float32 {
			return nil, fmt.Errorf("models: predict: %s are %v, the model takes float32", name, x.DType())
		}
		if in := c.xs[i].Shape(); !shape.Compatible(in, x.Shape()) {
			return nil, fmt.Errorf("models: predict: %s have shape %s, the model takes %s", name, shape.String(x.Shape()), shape.String(in))
		}
		if k := int(x.Shape()[0]); n < 0 {
			n = k
		} else if k != n {
			return nil, fmt.Errorf("models: predict: %s has %d samples, input %q has %d", name, k, c.inNames[0], n)
		}
	}
	if n == 0 {
		return nil, errors.New("models: predict: no inputs")
	}
	sp, err := newStepProfiler("predict", opts.Profile)
	if err != nil {
		return nil, err
	}
	batch := opts.BatchSize
	if batch <= 0 {
		batch = 32
	}
	sizes := tfwrap.Batches(n, batch)
	split := make([][]*tfwrap.Tensor, len(xs))
	for i, x := range xs {
		if split[i], err = x.SplitRows(sizes...); err != nil {
			return nil, err
		}
	}
	fetch := make([]tfwrap.Output, len(c.outs))
	for i, o := range c.outs {
		fetch[i] = o.pred
	}
	parts := make([][]*tfwrap.Tensor, len(fetch))
	for b := range sizes {
		feed := tfwrap.Feeds{}
		for i := range xs {
			feed[c.xs[i]] = split[i][b]
		}
		res, err := sp.runWith(c.sess, tfwrap.RunOptions{Inline: c.predictInline()}, feed, fetch)
		if err != nil {
			return nil, finishProfile(sp, fmt.Errorf("models: predict: %w", err))
		}
		for i, r := range res {
			parts[i] = append(parts[i], r)
		}
	}
	if err := sp.finish(); err != nil {
		return nil, err
	}
	out := make([]*tfwrap.Tensor, len(fetch))
	for i, p := range parts {
		if len(p) == 1 {
			out[i] = p[0]
		} else if out[i], err = tfwrap.ConcatRows(p...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Gradients returns the loss on one batch (x, y), followed by its gradients
// with respect to the trainable weights (in the order of Trainable), in
// training mode, without applying them: what tf.GradientTape gives for the
// same model in Python. BatchGradients takes a batch of any model.
func (m *Model) Gradients(x, y *tfwrap.Tensor) ([]*tfwrap.Tensor, error) {
	d, err := NewDataset(x, y)
	if err != nil {
		return nil, err
	}
	return m.BatchGradients(d)
}

// BatchGradients is Gradients for a batch given as a Dataset (several
// inputs and outputs, sample weights).
func (m *Model) BatchGradients(d *Dataset) ([]*tfwrap.Tensor, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return nil, err
	}
	xs, ys, err := c.checkData("batch", d)
	if err != nil {
		return nil, err
	}
	w, err := c.sampleWeights(d, ys, nil)
	if err != nil {
		return nil, err
	}
	feed := tfwrap.Feeds{c.wb: w}
	for i, x := range xs {
		feed[c.xb[i]] = x
	}
	for i, y := range ys {
		feed[c.yb[i]] = y
	}
	return c.sess.Run(feed, append([]tfwrap.Output{c.trainLoss}, c.grads...))
}

// Trainable returns the weights the optimizer updates.
func (m *Model) Trainable() []*tfwrap.Variable {
	if m.c == nil {
		return nil
	}
	return append([]*tfwrap.Variable{}, m.c.trainable...)
}
