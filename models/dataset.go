package models

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// Dataset pairs inputs with labels along their first (sample) axis: one
// input and one label tensor for most models (NewDataset), one per input
// and per output for a functional model that has several, by position
// (NewMultiDataset) or by name (NewNamedDataset). Fit uploads it to
// TensorFlow once and then draws batches inside the graph, so no batch is
// copied in Go during training.
//
// Build one with NewDataset, NewMultiDataset or NewNamedDataset, which
// check what every model's Fit needs; Fit then checks it against the
// model's inputs, outputs and losses. A Dataset is immutable and safe for
// concurrent use. The zero value is an empty dataset, which Fit and
// Evaluate refuse.
type Dataset struct {
	x, y           []*tfwrap.Tensor
	xNames, yNames []string       // by name (NewNamedDataset), sorted; nil by position
	w              *tfwrap.Tensor // per-sample weights, or nil
}

func (d *Dataset) empty() bool { return d == nil || len(d.x) == 0 }

// with returns a dataset of d's names holding x, y and w.
func (d *Dataset) with(x, y []*tfwrap.Tensor, w *tfwrap.Tensor) *Dataset {
	return &Dataset{x: x, y: y, xNames: d.xNames, yNames: d.yNames, w: w}
}

// WithSampleWeights returns a copy of d whose samples Fit weighs by w, as
// Keras's fit(sample_weight=w): each sample's loss is multiplied by its
// weight and the batch's loss is sum(loss·weight) / batch size. w is a
// float32 vector (samples) of finite, non-negative numbers. Split and
// Subset keep the weights with their samples; Evaluate ignores them. Only
// the loss is weighted: the metrics (accuracy, …) are not, as Keras does
// not weigh compile(metrics=…) (its weighted_metrics has no equivalent).
func (d *Dataset) WithSampleWeights(w *tfwrap.Tensor) (*Dataset, error) {
	if d.empty() {
		return nil, errors.New("models: sample weights: the dataset is empty (build it with NewDataset)")
	}
	if err := checkWeights(w, d.Len()); err != nil {
		return nil, fmt.Errorf("models: sample weights: %w", err)
	}
	return d.with(d.x, d.y, w), nil
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
	return &Dataset{x: []*tfwrap.Tensor{x}, y: []*tfwrap.Tensor{y}}, nil
}

// NewMultiDataset pairs several inputs with several labels, in the order
// of a functional model's inputs and outputs (InputNames, OutputNames).
// Each input and label is checked as NewDataset checks its one pair, and
// all hold the same number of samples.
func NewMultiDataset(x, y []*tfwrap.Tensor) (*Dataset, error) {
	if err := checkSet(x, y, nil, nil); err != nil {
		return nil, fmt.Errorf("models: dataset: %w", err)
	}
	return &Dataset{x: append([]*tfwrap.Tensor{}, x...), y: append([]*tfwrap.Tensor{}, y...)}, nil
}

// NewNamedDataset pairs inputs and labels by name: x by the model's input
// names, y by its output names, as Keras's fit({"a": …}, {"cls": …}).
// Fit matches the names against the model and says which are missing or
// unknown.
func NewNamedDataset(x, y map[string]*tfwrap.Tensor) (*Dataset, error) {
	xn, yn := mapKeys(x), mapKeys(y)
	sort.Strings(xn)
	sort.Strings(yn)
	d := &Dataset{xNames: xn, yNames: yn}
	for _, n := range xn {
		d.x = append(d.x, x[n])
	}
	for _, n := range yn {
		d.y = append(d.y, y[n])
	}
	if err := checkSet(d.x, d.y, xn, yn); err != nil {
		return nil, fmt.Errorf("models: dataset: %w", err)
	}
	return d, nil
}

// checkSet checks each input and label as checkPair does, and that they
// hold one number of samples.
func checkSet(x, y []*tfwrap.Tensor, xn, yn []string) error {
	if len(x) == 0 {
		return errors.New("no inputs")
	}
	if len(y) == 0 {
		return errors.New("no labels")
	}
	name := func(names []string, what string, i int) string {
		if names != nil {
			return fmt.Sprintf("%s %q", what, names[i])
		}
		return fmt.Sprintf("%s %d", what, i)
	}
	for i, xi := range x {
		for j, yj := range y {
			if i > 0 && j > 0 {
				break
			}
			if err := checkPair(xi, yj); err != nil {
				return fmt.Errorf("%s, %s: %w", name(xn, "input", i), name(yn, "label", j), err)
			}
		}
	}
	return nil
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

// X returns the (first) inputs, (samples, features...).
func (d *Dataset) X() *tfwrap.Tensor {
	if d.empty() {
		return nil
	}
	return d.x[0]
}

// Y returns the (first) labels, (samples, ...).
func (d *Dataset) Y() *tfwrap.Tensor {
	if d.empty() || len(d.y) == 0 {
		return nil
	}
	return d.y[0]
}

// Inputs returns every input tensor, in the order given (sorted by name
// for NewNamedDataset).
func (d *Dataset) Inputs() []*tfwrap.Tensor {
	if d.empty() {
		return nil
	}
	return append([]*tfwrap.Tensor{}, d.x...)
}

// Labels returns every label tensor, in the order given (sorted by name
// for NewNamedDataset).
func (d *Dataset) Labels() []*tfwrap.Tensor {
	if d.empty() {
		return nil
	}
	return append([]*tfwrap.Tensor{}, d.y...)
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
	if d.empty() || d.x[0] == nil || d.x[0].Rank() == 0 {
		return 0
	}
	return int(d.x[0].Shape()[0])
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
	return d.rows(func(t *tfwrap.Tensor) (*tfwrap.Tensor, error) { return t.SliceRows(a, b) })
}

// rows applies f to every tensor of d.
func (d *Dataset) rows(f func(*tfwrap.Tensor) (*tfwrap.Tensor, error)) (*Dataset, error) {
	each := func(ts []*tfwrap.Tensor) ([]*tfwrap.Tensor, error) {
		out := make([]*tfwrap.Tensor, len(ts))
		for i, t := range ts {
			var err error
			if out[i], err = f(t); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	x, err := each(d.x)
	if err != nil {
		return nil, err
	}
	y, err := each(d.y)
	if err != nil {
		return nil, err
	}
	var w *tfwrap.Tensor
	if d.w != nil {
		if w, err = f(d.w); err != nil {
			return nil, err
		}
	}
	return d.with(x, y, w), nil
}

// Subset returns the samples at idx, in that order.
func (d *Dataset) Subset(idx []int) (*Dataset, error) {
	if len(idx) == 0 {
		return nil, errors.New("models: subset of no samples")
	}
	if d.Len() == 0 {
		return nil, errors.New("models: subset of an empty dataset")
	}
	out, err := d.rows(func(t *tfwrap.Tensor) (*tfwrap.Tensor, error) { return t.GatherRows(idx) })
	if err != nil {
		return nil, fmt.Errorf("models: subset: %w", err)
	}
	return out, nil
}

// checkFinite names the first NaN or infinite value among d's
// floating-point inputs, labels and sample weights. Fit refuses such data
// before its first step, on every CPU: where TensorFlow's oneDNN kernels
// run (Intel CPUs with AVX-512 and AMX by default), a fused ReLU turns a
// NaN into 0, so a NaN in the data does not always reach the loss that
// the in-graph loss check watches.
func (d *Dataset) checkFinite() error {
	check := func(kind string, i, of int, t *tfwrap.Tensor) error {
		at := t.FirstNonFinite()
		if at < 0 {
			return nil
		}
		name := kind
		if of > 1 {
			name = fmt.Sprintf("%s %d", kind, i)
		}
		per := int64(1)
		if sh := t.Shape(); len(sh) > 0 && sh[0] > 0 {
			per = t.NumElements() / sh[0]
		}
		return fmt.Errorf("%s of sample %d has %s at element %d: the data must be finite (NaN or infinite values make the loss NaN)",
			name, at/per, t.ElementString(at), at%per)
	}
	for i, x := range d.x {
		if err := check("input", i, len(d.x), x); err != nil {
			return err
		}
	}
	for i, y := range d.y {
		if err := check("label", i, len(d.y), y); err != nil {
			return err
		}
	}
	if d.w != nil {
		return check("sample weight", 0, 1, d.w)
	}
	return nil
}
