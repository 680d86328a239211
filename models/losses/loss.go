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

// MeanSquaredError is mean((labels - pred)^2).
type MeanSquaredError struct{}

// Name implements Loss.
func (MeanSquaredError) Name() string { return "mean_squared_error" }

// LabelDType implements Loss.
func (MeanSquaredError) LabelDType() tfwrap.DType { return tfwrap.Float32 }

// LabelShape implements Loss.
func (MeanSquaredError) LabelShape(out []int64) ([]int64, error) { return sameShape(out) }

// Build implements Loss.
func (MeanSquaredError) Build(g *tfwrap.Graph, y tfwrap.Output, p Pred) tfwrap.Output {
	return g.Mean(g.Mean(g.Square(g.Sub(y, p.Out)), -1))
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
	return g.Mean(g.Mean(per, -1))
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
		return nil, fmt.Errorf("categorical cross-entropy needs a vector of class scores per sample, got %v", out)
	}
	return sameShape(out)
}

// Build implements Loss.
func (l CategoricalCrossentropy) Build(g *tfwrap.Graph, y tfwrap.Output, p Pred) tfwrap.Output {
	return g.Mean(categorical(g, y, p, l.FromLogits))
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
		return nil, fmt.Errorf("sparse categorical cross-entropy needs a vector of class scores per sample, got %v", out)
	}
	return []int64{}, nil
}

// Build implements Loss.
func (l SparseCategoricalCrossentropy) Build(g *tfwrap.Graph, ids tfwrap.Output, p Pred) tfwrap.Output {
	switch {
	case l.FromLogits:
		return g.Mean(g.SparseSoftmaxCrossEntropy(p.Out, g.Reshape(ids, -1)))
	case p.LogitsOf == layers.Softmax:
		return g.Mean(g.SparseSoftmaxCrossEntropy(p.Logits, g.Reshape(ids, -1)))
	}
	classes := p.Out.Shape()[1]
	y := g.OneHot(g.Reshape(ids, -1), int(classes), tfwrap.Float32)
	// Keras: clip, log, then a softmax cross-entropy of the log-probabilities.
	return g.Mean(g.SoftmaxCrossEntropy(g.Log(clip(g, p.Out)), y))
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
