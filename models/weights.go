package models

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/tfgo-project/gotf/tfwrap"
)

// sampleWeights returns the per-sample weights Fit uploads for d: d's own
// sample weights, or those classWeight gives each sample's class, or ones.
func (c *compiled) sampleWeights(d *Dataset, ys []*tfwrap.Tensor, classWeight map[int]float64) (*tfwrap.Tensor, error) {
	n := d.Len()
	if len(classWeight) > 0 && len(c.outs) > 1 {
		return nil, errors.New("models: fit: class weights need a model of one output (Keras refuses them for several too); give sample weights")
	}
	if d.w != nil && len(classWeight) > 0 {
		return nil, errors.New("models: fit: give class weights or sample weights, not both (Keras refuses both too)")
	}
	if (d.w != nil || len(classWeight) > 0) && !c.weighted {
		return nil, fmt.Errorf("models: fit: loss %s cannot weigh samples (it is not a losses.PerSampleLoss)", c.outs[0].loss.Name())
	}
	if d.w != nil {
		return d.w, nil
	}
	w := make([]float32, n)
	for i := range w {
		w[i] = 1
	}
	if len(classWeight) > 0 {
		ids, err := c.classIDs(ys[0])
		if err != nil {
			return nil, err
		}
		if err := c.checkClassWeight(classWeight); err != nil {
			return nil, err
		}
		for i, id := range ids {
			if cw, ok := classWeight[id]; ok {
				w[i] = float32(cw)
			}
		}
	}
	return tfwrap.NewTensor(w)
}

// classes is the number of classes of the model's output: its width, or 2
// for a single output (binary labels).
func (c *compiled) classes() (int, error) {
	out := c.outs[0].pred.Shape()
	if len(out) != 2 || out[1] < 1 {
		return 0, fmt.Errorf("models: fit: class weights need a model whose output is a vector of class scores per sample, got per-sample shape %v", out[1:])
	}
	if out[1] == 1 {
		return 2, nil
	}
	return int(out[1]), nil
}

// checkClassWeight refuses ids that are not classes of the model's output
// and weights that are not finite non-negative numbers.
func (c *compiled) checkClassWeight(cw map[int]float64) error {
	classes, err := c.classes()
	if err != nil {
		return err
	}
	ids := make([]int, 0, len(cw))
	for id := range cw {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		if id < 0 || id >= classes {
			return fmt.Errorf("models: fit: class weight for class %d, outside the model's %d classes [0, %d)", id, classes, classes)
		}
		if v := cw[id]; !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Errorf("models: fit: class weight %v of class %d is not a finite non-negative number", v, id)
		}
	}
	return nil
}

// classIDs returns each sample's class as Keras's class_weight reads it:
// the id itself, the argmax of a one-hot (or soft) row, or a single
// label rounded.
func (c *compiled) classIDs(y *tfwrap.Tensor) ([]int, error) {
	n := int(y.Shape()[0])
	ids := make([]int, n)
	if y.DType() == tfwrap.Int32 {
		v, err := y.Int32s()
		if err != nil {
			return nil, err
		}
		for i, id := range v {
			ids[i] = int(id)
		}
		return ids, nil
	}
	ys := y.Shape()
	if len(ys) > 2 {
		return nil, fmt.Errorf("models: fit: class weights need class ids or one-hot labels, got labels of shape %v", ys)
	}
	v, err := y.Float32s()
	if err != nil {
		return nil, err
	}
	k := 1
	if len(ys) == 2 {
		k = int(ys[1])
	}
	for i := range ids {
		row := v[i*k : (i+1)*k]
		if k == 1 {
			ids[i] = int(math.RoundToEven(float64(row[0])))
			continue
		}
		best := 0
		for j, x := range row {
			if x > row[best] {
				best = j
			}
		}
		ids[i] = best
	}
	return ids, nil
}
