package losses

import (
	"fmt"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// Epsilon is Keras's backend.epsilon(), the clipping margin for
// probabilities.
const Epsilon = 1e-7

// Pred is the model output a loss compares with the labels.
type Pred struct {
	Out      tfwrap.Output     // the model's output, (batch, ...)
	Logits   tfwrap.Output     // its pre-activation, when the last layer ended in LogitsOf
	LogitsOf layers.Activation // Softmax, Sigmoid or Linear (no logits)
}

// Loss is a training objective.
type Loss interface {
	// Name is the Keras name, e.g. "sparse_categorical_crossentropy".
	Name() string
	// LabelDType is the dtype labels must have.
	LabelDType() tfwrap.DType
	// LabelShape returns the per-sample label shape for a per-sample model
	// output shape, or an error if the loss does not fit that output.
	LabelShape(out []int64) ([]int64, error)
	// Build returns the mean loss over the batch, a float32 scalar.
	Build(g *tfwrap.Graph, labels tfwrap.Output, pred Pred) tfwrap.Output
}

// PerSampleLoss is a Loss that also gives each sample's loss, so that Fit
// can weigh the samples (sample weights, class weights). The four losses
// of this package are PerSampleLoss.
type PerSampleLoss interface {
	Loss
	// PerSample returns the loss of each sample in the batch, a float32
	// vector (batch); Build is its mean.
	PerSample(g *tfwrap.Graph, labels tfwrap.Output, pred Pred) tfwrap.Output
}

// WeightedMean reduces per-sample losses with per-sample weights as Keras
// 3's default "sum_over_batch_size" reduction: sum(loss·weight) / batch
// size (not divided by the sum of the weights).
func WeightedMean(g *tfwrap.Graph, perSample, weights tfwrap.Output) tfwrap.Output {
	batch := g.Slice(g.ShapeOf(perSample), g.Scalar(0, tfwrap.Int32), g.Scalar(1, tfwrap.Int32))
	n := g.Cast(g.Reshape(batch), tfwrap.Float32)
	return g.Div(g.Sum(g.Mul(perSample, weights)), n)
}

// perSampleMean averages a per-element loss of shape (batch, ...) over
// every axis but the batch axis.
func perSampleMean(g *tfwrap.Graph, per tfwrap.Output) tfwrap.Output {
	if r := len(per.Shape()); r > 1 {
		axes := make([]int, r-1)
		for i := range axes {
			axes[i] = i + 1
		}
		return g.Mean(per, axes...)
	}
	return per
}

// MeanSquaredError is mean((labels - pred)^2).
type MeanSquaredError struct{}

// Name implements Loss.
func (MeanSquaredError) Name() string { return "mean_squared_error" }

// LabelDType implements Loss.
func (MeanSquaredError) LabelDType() tfwrap.DType { return tfwrap.Float32 }

// LabelShape implements Loss.
func (MeanSquaredError) LabelShape(out []int64) ([]int64, error) { return sameShape(out) }

// Build implements Loss.
func (l MeanSquaredError) Build(g *tfwrap.Graph, y tfwrap.Output, p Pred) tfwrap.Output {
	return g.Mean(l.PerSample(g, y, p))
}

// PerSample implements PerSampleLoss.
func (MeanSquaredError) PerSample(g *tfwrap.Graph, y tfwrap.Output, p Pred) tfwrap.Output {
	return perSampleMean(g, g.Mean(g.Square(g.Sub(y, p.Out)), -1))
}

// BinaryCrossentropy is Keras's binary cross-entropy on probabilities (or
// logits with FromLogits) against 0/1 labels.
type BinaryCrossentropy struct{ FromLogits bool }

// Name implements Loss.
func (BinaryCrossentropy) Name() string { return "binary_crossentropy" }

// LabelDType implements Loss.
func (BinaryCrossentropy) LabelDType() tfwrap.DType { return tfwrap.Float32 }

// LabelShape implements Loss.
func (BinaryCrossentropy) LabelShape(out []int64) ([]int64, error) { return sameShape(out) }

// Build implements Loss.
func (l BinaryCrossentropy) Build(g *tfwrap.Graph, y tfwrap.Output, p Pred) tfwrap.Output {
	return g.Mean(l.PerSample(g, y, p))
}

// PerSample implements PerSampleLoss.
func (l BinaryCrossentropy) PerSample(g *tfwrap.Graph, y tfwrap.Output, p Pred) tfwrap.Output {
	var per tfwrap.Output
	if l.FromLogits || p.LogitsOf == layers.Sigmoid {
		x := p.Out
		if !l.FromLogits {
			x = p.Logits
		}
		// max(x, 0) - x·y + log(1 + exp(-|x|)), as tf.nn.sigmoid_cross_entropy_with_logits.
		zero := g.Scalar(0, tfwrap.Float32)
		per = g.Add(g.Sub(g.Maximum(x, zero), g.Mul(x, y)), g.Log1p(g.Exp(g.Neg(g.Abs(x)))))
	} else {
		one := g.Scalar(1, tfwrap.Float32)
		q := clip(g, p.Out)
		per = g.Neg(g.Add(g.Mul(y, g.Log(q)), g.Mul(g.Sub(one, y), g.Log(g.Sub(one, q)))))
	}
	return perSampleMean(g, g.Mean(per, -1))
}

// CategoricalCrossentropy is Keras's categorical cross-entropy against
// one-hot (or soft) labels.
type CategoricalCrossentropy struct{ FromLogits bool }

// Name implements Loss.
func (CategoricalCrossentropy) Name() string { return "categorical_crossentropy" }

// LabelDType implements Loss.
func (CategoricalCrossentropy) LabelDType() tfwrap.DType { return tfwrap.Float32 }

// LabelShape implements Loss.
func (CategoricalCrossentropy) LabelShape(out []int64) ([]int64, error) {
	if len(out) != 1 {
		return nil, fmt.Errorf("categorical cross-entropy needs a vector of class scores per sample, got %v%s", out, flatHint(out))
	}
	return sameShape(out)
}

// Build implements Loss.
func (l CategoricalCrossentropy) Build(g *tfwrap.Graph, y tfwrap.Output, p Pred) tfwrap.Output {
	return g.Mean(l.PerSample(g, y, p))
}

// PerSample implements PerSampleLoss.
func (l CategoricalCrossentropy) PerSample(g *tfwrap.Graph, y tfwrap.Output, p Pred) tfwrap.Output {
	return categorical(g, y, p, l.FromLogits)
}

func categorical(g *tfwrap.Graph, y tfwrap.Output, p Pred, fromLogits bool) tfwrap.Output {
	if fromLogits {
		return g.SoftmaxCrossEntropy(p.Out, y)
	}
	if p.LogitsOf == layers.Softmax {
		return g.SoftmaxCrossEntropy(p.Logits, y)
	}
	q := g.Div(p.Out, g.SumKeepDims(p.Out, -1))
	return g.Neg(g.Sum(g.Mul(y, g.Log(clip(g, q))), -1))
}

// SparseCategoricalCrossentropy is categorical cross-entropy against integer
// class ids (int32 labels, one per sample). From logits it uses TF's
// SparseSoftmaxCrossEntropyWithLogits, as Keras does (its gradient is
// tfwrap's Go one); from probabilities the ids are one-hot encoded.
type SparseCategoricalCrossentropy struct{ FromLogits bool }

// Name implements Loss.
func (SparseCategoricalCrossentropy) Name() string { return "sparse_categorical_crossentropy" }

// LabelDType implements Loss.
func (SparseCategoricalCrossentropy) LabelDType() tfwrap.DType { return tfwrap.Int32 }

// LabelShape implements Loss.
func (SparseCategoricalCrossentropy) LabelShape(out []int64) ([]int64, error) {
	if len(out) != 1 || out[0] < 1 {
		return nil, fmt.Errorf("sparse categorical cross-entropy needs a vector of class scores per sample, got %v%s", out, flatHint(out))
	}
	return []int64{}, nil
}

// Build implements Loss.
func (l SparseCategoricalCrossentropy) Build(g *tfwrap.Graph, ids tfwrap.Output, p Pred) tfwrap.Output {
	return g.Mean(l.PerSample(g, ids, p))
}

// PerSample implements PerSampleLoss.
func (l SparseCategoricalCrossentropy) PerSample(g *tfwrap.Graph, ids tfwrap.Output, p Pred) tfwrap.Output {
	switch {
	case l.FromLogits:
		return g.SparseSoftmaxCrossEntropy(p.Out, g.Reshape(ids, -1))
	case p.LogitsOf == layers.Softmax:
		return g.SparseSoftmaxCrossEntropy(p.Logits, g.Reshape(ids, -1))
	}
	classes := p.Out.Shape()[1]
	y := g.OneHot(g.Reshape(ids, -1), int(classes), tfwrap.Float32)
	// Keras: clip, log, then a softmax cross-entropy of the log-probabilities.
	return g.SoftmaxCrossEntropy(g.Log(clip(g, p.Out)), y)
}

func clip(g *tfwrap.Graph, x tfwrap.Output) tfwrap.Output {
	return g.Maximum(g.Minimum(x, g.Scalar(1-Epsilon, tfwrap.Float32)), g.Scalar(Epsilon, tfwrap.Float32))
}

func sameShape(out []int64) ([]int64, error) {
	if len(out) == 0 {
		return nil, fmt.Errorf("model output per sample is a scalar; want at least one axis")
	}
	for _, d := range out {
		if d < 1 {
			return nil, fmt.Errorf("model output shape %s is not fully known", shape.String(out))
		}
	}
	return append([]int64{}, out...), nil
}

// flatHint explains an output of more than one axis per sample where a
// vector is wanted: most often a Dense layer on images or sequences, which
// applies to the last axis, position by position, as in Keras.
func flatHint(out []int64) string {
	if len(out) < 2 {
		return ""
	}
	return " (a Dense layer applies to the last axis of its input, every position alike, as in Keras: add a Flatten or global pooling layer before it to score the whole sample)"
}
