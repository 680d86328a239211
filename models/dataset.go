package models

import (
	"errors"
	"fmt"
	"math"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// Dataset pairs inputs with labels along their first (sample) axis. Fit
// uploads it to TensorFlow once and then draws batches inside the graph,
// so no batch is copied in Go during training.
//
// Build one with NewDataset, which checks what every model's Fit needs;
// Fit then checks it against the model's input shape and loss. A Dataset
// is immutable and safe for concurrent use. The zero value is an empty
// dataset, which Fit and Evaluate refuse.
type Dataset struct {
	x, y *tfwrap.Tensor
	w    *tfwrap.Tensor // per-sample weights, or nil
}

// WithSampleWeights returns a copy of d whose samples Fit weighs by w, as
// Keras's fit(sample_weight=w): each sample's loss is multiplied by its
// weight and the batch's loss is sum(loss·weight) / batch size. w is a
// float32 vector (samples) of finite, non-negative numbers. Split and
// Subset keep the weights with their samples; Evaluate ignores them. Only
// the loss is weighted: the metrics (accuracy, …) are not, as Keras does
// not weigh compile(metrics=…) (its weighted_metrics has no equivalent).
func (d *Dataset) WithSampleWeights(w *tfwrap.Tensor) (*Dataset, error) {
	if d == nil || (d.x == nil && d.y == nil) {
		return nil, errors.New("models: sample weights: the dataset is empty (build it with NewDataset)")
	}
	if err := checkWeights(w, d.Len()); err != nil {
		return nil, fmt.Errorf("models: sample weights: %w", err)
	}
	return &Dataset{x: d.x, y: d.y, w: w}, nil
}

// NewWeightedDataset is NewDataset followed by WithSampleWeights.
func NewWeightedDataset(x, y, w *tfwrap.Tensor) (*Dataset, error) {
	d, err := NewDataset(x, y)
	if err != nil {
		return nil, err
	}
	return d.WithSampleWeights(w)
}

// checkWeights checks per-sample weights for n samples.
func checkWeights(w *tfwrap.Tensor, n int) error {
	if w == nil {
		return errors.New("weights are nil")
	}
	if w.DType() != tfwrap.Float32 {
		return fmt.Errorf("weights are %v, want float32", w.DType())
	}
	if w.Rank() != 1 || w.Shape()[0] != int64(n) {
		return fmt.Errorf("weights have shape %s, want (%d), one per sample", shape.String(w.Shape()), n)
	}
	v, err := w.Float32s()
	if err != nil {
		return err
	}
	for i, f := range v {
		if !(f >= 0) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("weight %v of sample %d is not a finite non-negative number", f, i)
		}
	}
	return nil
}

// SampleWeights returns the per-sample weights, or nil when the samples
// are not weighted.
func (d *Dataset) SampleWeights() *tfwrap.Tensor {
	if d == nil {
		return nil
	}
	return d.w
}

// NewDataset pairs inputs x with labels y. It checks, before any
// TensorFlow call, what Fit needs of every dataset:
//
//   - x is float32 with a sample axis and at least one feature axis,
//     (samples, features...), as every model takes;
//   - y has a sample axis and is int32 (class ids, shape (samples) or
//     (samples, 1), for SparseCategoricalCrossentropy) or float32 (targets
//     or one-hot rows, for the other losses);
//   - both hold the same number of samples, at least one.
//
// Whether the shapes fit a particular model and loss is Fit's check.
func NewDataset(x, y *tfwrap.Tensor) (*Dataset, error) {
	if err := checkPair(x, y); err != nil {
		return nil, fmt.Errorf("models: dataset: %w", err)
	}
	return &Dataset{x: x, y: y}, nil
}

// checkPair checks what NewDataset promises; Fit repeats it, so that a
// Dataset built some other way (the zero value) gets an error too.
func checkPair(x, y *tfwrap.Tensor) error {
	switch {
	case x == nil && y == nil:
		return errors.New("inputs and labels are nil")
	case x == nil:
		return errors.New("inputs are nil")
	case y == nil:
		return errors.New("labels are nil")
	}
	if x.DType() != tfwrap.Float32 {
		return fmt.Errorf("inputs are %v; models take float32 inputs", x.DType())
	}
	if x.Rank() < 2 {
		return fmt.Errorf("inputs have shape %s; they need a sample axis and at least one feature axis, (samples, features...)",
			shape.String(x.Shape()))
	}
	if y.Rank() < 1 {
		return fmt.Errorf("labels have shape %s; they need a sample axis", shape.String(y.Shape()))
	}
	switch y.DType() {
	case tfwrap.Int32:
		if ys := y.Shape(); len(ys) > 2 || (len(ys) == 2 && ys[1] != 1) {
			return fmt.Errorf("int32 labels have shape %s; class ids have shape (samples) or (samples, 1)", shape.String(ys))
		}
	case tfwrap.Float32:
	default:
		return fmt.Errorf("labels are %v; losses take int32 class ids or float32 targets", y.DType())
	}
	if nx, ny := x.Shape()[0], y.Shape()[0]; nx != ny {
		return fmt.Errorf("%d inputs but %d labels", nx, ny)
	}
	if x.Shape()[0] == 0 {
		return errors.New("dataset is empty")
	}
	return nil
}

// X returns the inputs, (samples, features...).
func (d *Dataset) X() *tfwrap.Tensor {
	if d == nil {
		return nil
	}
	return d.x
}

// Y returns the labels, (samples, ...).
func (d *Dataset) Y() *tfwrap.Tensor {
	if d == nil {
		return nil
	}
	return d.y
}

// ClassDataset builds a Dataset from flat float32 inputs, one per-sample
// shape (e.g. 28, 28, 1) long each, and their int32 class ids: the form
// image readers such as data/mnist return.
func ClassDataset(x []float32, ids []int32, perSample ...int64) (*Dataset, error) {
	n := int64(len(ids))
	if n == 0 {
		return nil, errors.New("models: dataset is empty")
	}
	xt, err := tfwrap.NewTensor(x, append([]int64{n}, perSample...)...)
	if err != nil {
		return nil, fmt.Errorf("models: dataset inputs for %d samples of shape %v: %w", n, perSample, err)
	}
	yt, err := tfwrap.NewTensor(ids)
	if err != nil {
		return nil, fmt.Errorf("models: dataset labels: %w", err)
	}
	return NewDataset(xt, yt)
}

// Len returns the number of samples.
func (d *Dataset) Len() int {
	if d == nil || d.x == nil || d.x.Rank() == 0 {
		return 0
	}
	return int(d.x.Shape()[0])
}

// Split returns the first 1-frac of the samples and the last frac, as
// Keras's validation_split takes the last part (before any shuffling).
func (d *Dataset) Split(frac float64) (head, tail *Dataset, err error) {
	if !(frac > 0 && frac < 1) {
		return nil, nil, fmt.Errorf("models: split fraction %v must be in (0, 1)", frac)
	}
	n := d.Len()
	cut := int(float64(n) * (1 - frac))
	if cut < 1 || cut >= n {
		return nil, nil, fmt.Errorf("models: splitting %d samples at %v leaves one side empty", n, frac)
	}
	if head, err = d.slice(0, cut); err != nil {
		return nil, nil, err
	}
	if tail, err = d.slice(cut, n); err != nil {
		return nil, nil, err
	}
	return head, tail, nil
}

func (d *Dataset) slice(a, b int) (*Dataset, error) {
	x, err := d.x.SliceRows(a, b)
	if err != nil {
		return nil, err
	}
	y, err := d.y.SliceRows(a, b)
	if err != nil {
		return nil, err
	}
	if d.w == nil {
		return NewDataset(x, y)
	}
	w, err := d.w.SliceRows(a, b)
	if err != nil {
		return nil, err
	}
	return NewWeightedDataset(x, y, w)
}

// Subset returns the samples at idx, in that order.
func (d *Dataset) Subset(idx []int) (*Dataset, error) {
	if len(idx) == 0 {
		return nil, errors.New("models: subset of no samples")
	}
	if d.Len() == 0 {
		return nil, errors.New("models: subset of an empty dataset")
	}
	x, err := d.x.GatherRows(idx)
	if err != nil {
		return nil, fmt.Errorf("models: subset: %w", err)
	}
	y, err := d.y.GatherRows(idx)
	if err != nil {
		return nil, fmt.Errorf("models: subset: %w", err)
	}
	if d.w == nil {
		return NewDataset(x, y)
	}
	w, err := d.w.GatherRows(idx)
	if err != nil {
		return nil, fmt.Errorf("models: subset: %w", err)
	}
	return NewWeightedDataset(x, y, w)
}
