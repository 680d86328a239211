package models

import (
	"errors"
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

// Dataset pairs inputs X with labels Y along their first axis. Fit uploads
// it to TensorFlow once and then draws batches inside the graph, so no
// batch is copied in Go during training. A Dataset is immutable.
type Dataset struct {
	X, Y *tfwrap.Tensor
}

// NewDataset checks that x and y hold the same number of samples (at least
// one).
func NewDataset(x, y *tfwrap.Tensor) (*Dataset, error) {
	if x == nil || y == nil {
		return nil, errors.New("models: dataset: inputs or labels are nil")
	}
	if x.Rank() < 1 || y.Rank() < 1 {
		return nil, fmt.Errorf("models: dataset: inputs %v and labels %v need a sample axis", x.Shape(), y.Shape())
	}
	if x.Shape()[0] != y.Shape()[0] {
		return nil, fmt.Errorf("models: dataset: %d inputs but %d labels", x.Shape()[0], y.Shape()[0])
	}
	if x.Shape()[0] == 0 {
		return nil, errors.New("models: dataset is empty")
	}
	return &Dataset{X: x, Y: y}, nil
}

// Len returns the number of samples.
func (d *Dataset) Len() int {
	if d == nil || d.X == nil || d.X.Rank() == 0 {
		return 0
	}
	return int(d.X.Shape()[0])
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
	x, err := d.X.SliceRows(a, b)
	if err != nil {
		return nil, err
	}
	y, err := d.Y.SliceRows(a, b)
	if err != nil {
		return nil, err
	}
	return &Dataset{X: x, Y: y}, nil
}

// Subset returns the samples at idx, in that order.
func (d *Dataset) Subset(idx []int) (*Dataset, error) {
	if len(idx) == 0 {
		return nil, errors.New("models: subset of no samples")
	}
	x, err := d.X.GatherRows(idx)
	if err != nil {
		return nil, err
	}
	y, err := d.Y.GatherRows(idx)
	if err != nil {
		return nil, err
	}
	return &Dataset{X: x, Y: y}, nil
}
