// The checks data gets before TensorFlow sees it: fit options, and a
// Dataset against the model (dtypes, shapes, labels, sample counts).

package models

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/tfgo-project/gotf/internal/suggest"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// checkFitOptions fills in the defaults of opts and checks what Fit and
// FitStream share, before any TensorFlow call.
func checkFitOptions(opts *FitOptions) error {
	if opts.Epochs == 0 {
		opts.Epochs = 1
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = 32
	}
	if opts.Epochs < 0 || opts.BatchSize < 0 || opts.InitialEpoch < 0 {
		return fmt.Errorf("models: fit: epochs (%d), batch size (%d) and initial epoch (%d) must not be negative",
			opts.Epochs, opts.BatchSize, opts.InitialEpoch)
	}
	if opts.InitialEpoch >= opts.Epochs {
		return fmt.Errorf("models: fit: initial epoch %d leaves nothing to do with epochs %d (epochs counts from the start, as in Keras)",
			opts.InitialEpoch, opts.Epochs)
	}
	if opts.BatchSize > math.MaxInt32 {
		return fmt.Errorf("models: fit: batch size %d is too large", opts.BatchSize)
	}
	if opts.Progress < ProgressAuto || opts.Progress > ProgressSilent {
		return fmt.Errorf("models: fit: unknown progress mode %d", opts.Progress)
	}
	for i, cb := range opts.Callbacks {
		if cb == nil {
			return fmt.Errorf("models: fit: callback %d is nil", i)
		}
	}
	for i, h := range opts.Hooks {
		if isNil(h) {
			return fmt.Errorf("models: fit: hook %d is nil", i)
		}
	}
	return checkProfile("fit", opts.Profile)
}

// arrange returns d's inputs and labels in the order of the model's
// inputs and outputs, matching names for a NewNamedDataset.
func (c *compiled) arrange(what string, d *Dataset) (xs, ys []*tfwrap.Tensor, err error) {
	outNames := make([]string, len(c.outs))
	for i, o := range c.outs {
		outNames[i] = o.name
	}
	order := func(kind string, got []*tfwrap.Tensor, names, want []string) ([]*tfwrap.Tensor, error) {
		if names == nil {
			if len(got) != len(want) {
				return nil, fmt.Errorf("models: %s: %d %s tensors, the model has %d (%s)", what, len(got), kind, len(want), strings.Join(want, ", "))
			}
			return got, nil
		}
		by := map[string]*tfwrap.Tensor{}
		for i, n := range names {
			by[n] = got[i]
		}
		for _, n := range names {
			if !slices.Contains(want, n) {
				return nil, fmt.Errorf("models: %s: the model has no %s named %q; its %ss are %s%s", what, kind, n, kind, strings.Join(want, ", "), suggest.Hint(n, want))
			}
		}
		out := make([]*tfwrap.Tensor, len(want))
		for i, n := range want {
			t, ok := by[n]
			if !ok {
				return nil, fmt.Errorf("models: %s: no %s for the model's %s %q", what, kind, kind, n)
			}
			out[i] = t
		}
		return out, nil
	}
	if xs, err = order("input", d.x, d.xNames, c.inNames); err != nil {
		return nil, nil, err
	}
	if ys, err = order("output", d.y, d.yNames, outNames); err != nil {
		return nil, nil, err
	}
	return xs, ys, nil
}

// checkData checks a dataset's inputs and labels against the model in Go,
// before any TensorFlow call, so that no kernel sees a shape it would abort
// on, and returns them in the model's order and in the shapes the graph
// takes ((N, 1) class ids become (N)). It repeats NewDataset's checks, so
// the zero Dataset is refused too.
func (c *compiled) checkData(what string, d *Dataset) (xs, ys []*tfwrap.Tensor, err error) {
	if d == nil {
		return nil, nil, fmt.Errorf("models: %s is nil", what)
	}
	if d.empty() {
		return nil, nil, fmt.Errorf("models: %s is empty (build it with NewDataset)", what)
	}
	if err := checkSet(d.x, d.y, d.xNames, d.yNames); err != nil {
		return nil, nil, fmt.Errorf("models: %s: %w", what, err)
	}
	if xs, ys, err = c.arrange(what, d); err != nil {
		return nil, nil, err
	}
	for i, x := range xs {
		in, got := c.xs[i].Shape(), x.Shape()
		if !shape.Compatible(in, got) {
			name := "inputs"
			if len(xs) > 1 {
				name = fmt.Sprintf("input %q", c.inNames[i])
			}
			msg := fmt.Sprintf("models: %s: %s have shape %s, the model takes %s", what, name, shape.String(got), shape.String(in))
			if len(in) != len(got) {
				msg += fmt.Sprintf(" (rank %d, the model takes rank %d)", len(got), len(in))
			}
			return nil, nil, errors.New(msg)
		}
	}
	for i, o := range c.outs {
		y := ys[i]
		name := "labels"
		if len(c.outs) > 1 {
			name = fmt.Sprintf("labels of output %q", o.name)
		}
		if y.DType() != o.labelDT {
			return nil, nil, fmt.Errorf("models: %s: %s are %v, loss %s wants %v", what, name, y.DType(), o.loss.Name(), o.labelDT)
		}
		got := y.Shape()
		want := append([]int64{got[0]}, o.labelSh...)
		sparseCol := len(o.labelSh) == 0 && len(got) == 2 && got[1] == 1
		if !shape.Equal(got, want) && !sparseCol {
			return nil, nil, fmt.Errorf("models: %s: %s have shape %s, loss %s wants %s", what, name, shape.String(got), o.loss.Name(),
				shape.String(append([]int64{-1}, o.labelSh...)))
		}
		if o.labelDT == tfwrap.Int32 {
			ids, err := y.Int32s()
			if err != nil {
				return nil, nil, err
			}
			ps := o.pred.Shape()
			classes := ps[len(ps)-1]
			for j, id := range ids {
				if id < 0 || int64(id) >= classes {
					return nil, nil, fmt.Errorf("models: %s: label %d of sample %d is outside the %d classes [0, %d)", what, id, j, classes, classes)
				}
			}
		}
		if sparseCol {
			if ys[i], err = y.Reshaped(got[0]); err != nil {
				return nil, nil, err
			}
		}
	}
	if d.w != nil {
		if err := checkWeights(d.w, d.Len()); err != nil {
			return nil, nil, fmt.Errorf("models: %s: sample weights: %w", what, err)
		}
	}
	return xs, ys, nil
}
