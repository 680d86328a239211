package tfwrap

import (
	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// BiasAdd adds the vector b along the last (channel) axis of x.
func (g *Graph) BiasAdd(x, b Output) Output {
	if !g.check("BiasAdd", x, b) {
		return Output{}
	}
	if x.DType() != b.DType() {
		g.failf("BiasAdd: dtype mismatch: %v and %v", x.DType(), b.DType())
		return Output{}
	}
	if bs, xs := b.Shape(), x.Shape(); bs != nil && xs != nil {
		if len(bs) != 1 || len(xs) < 2 || (xs[len(xs)-1] >= 0 && bs[0] >= 0 && xs[len(xs)-1] != bs[0]) {
			g.failf("BiasAdd: bias of shape %s does not fit input of shape %s", shape.String(bs), shape.String(xs))
			return Output{}
		}
	}
	return g.add1("BiasAdd", "BiasAdd", []tf.Input{x.out, b.out}, nil)
}

// Conv2D convolves x (NHWC) with filter (height, width, in, out).
func (g *Graph) Conv2D(x, filter Output, strides [2]int64, padding shape.Padding) Output {
	if !g.check("Conv2D", x, filter) {
		return Output{}
	}
	if x.DType() != filter.DType() || !x.DType().IsFloat() {
		g.failf("Conv2D: input is %v and filter %v; both must be the same float type", x.DType(), filter.DType())
		return Output{}
	}
	xs, fs := x.Shape(), filter.Shape()
	if xs != nil && fs != nil {
		if _, err := shape.Conv2D(xs, fs, strides, padding); err != nil {
			g.failf("Conv2D(%s): %v", x.Name(), err)
			return Output{}
		}
	} else if padding != shape.Same && padding != shape.Valid {
		g.failf("Conv2D: padding %q is neither SAME nor VALID", padding)
		return Output{}
	}
	return g.add1("Conv2D", "Conv2D", []tf.Input{x.out, filter.out}, map[string]any{
		"strides": []int64{1, strides[0], strides[1], 1}, "padding": string(padding),
	})
}

func (g *Graph) pool(typ string, x Output, size, strides [2]int64, padding shape.Padding) Output {
	if !g.check(typ, x) {
		return Output{}
	}
	if !x.DType().IsFloat() {
		g.failf("%s: input is %v, want float", typ, x.DType())
		return Output{}
	}
	xs := x.Shape()
	if xs == nil {
		xs = []int64{-1, -1, -1, -1}
	}
	if _, err := shape.Pool2D(xs, size, strides, padding); err != nil {
		g.failf("%s(%s): %v", typ, x.Name(), err)
		return Output{}
	}
	return g.add1(typ, typ, []tf.Input{x.out}, map[string]any{
		"ksize": []int64{1, size[0], size[1], 1}, "strides": []int64{1, strides[0], strides[1], 1},
		"padding": string(padding),
	})
}

// MaxPool takes the maximum over size windows of x (NHWC).
func (g *Graph) MaxPool(x Output, size, strides [2]int64, padding shape.Padding) Output {
	return g.pool("MaxPool", x, size, strides, padding)
}

// AvgPool averages over size windows of x (NHWC).
func (g *Graph) AvgPool(x Output, size, strides [2]int64, padding shape.Padding) Output {
	return g.pool("AvgPool", x, size, strides, padding)
}

// Softmax normalizes the last axis of x to probabilities.
func (g *Graph) Softmax(x Output) Output { return g.unary("Softmax", x, true) }

// LogSoftmax returns log(softmax(x)) along the last axis, computed stably.
func (g *Graph) LogSoftmax(x Output) Output { return g.unary("LogSoftmax", x, true) }

// Floor rounds x down.
func (g *Graph) Floor(x Output) Output { return g.unary("Floor", x, true) }

// StopGradient passes x through and blocks gradients from flowing into it.
func (g *Graph) StopGradient(x Output) Output { return g.unary("StopGradient", x, false) }

// ZerosLike returns zeros of x's shape and dtype.
func (g *Graph) ZerosLike(x Output) Output { return g.unary("ZerosLike", x, false) }

// SoftmaxCrossEntropy returns, per row, the cross-entropy between labels
// (probabilities) and softmax(logits), from TensorFlow's fused kernel.
func (g *Graph) SoftmaxCrossEntropy(logits, labels Output) Output {
	if !g.check("SoftmaxCrossEntropyWithLogits", logits, labels) {
		return Output{}
	}
	if logits.DType() != labels.DType() || !logits.DType().IsFloat() {
		g.failf("SoftmaxCrossEntropyWithLogits: logits %v and labels %v must be the same float type", logits.DType(), labels.DType())
		return Output{}
	}
	if a, b := logits.Shape(), labels.Shape(); a != nil && b != nil {
		if len(a) != 2 || !shape.Compatible(a, b) && !shape.Compatible(b, a) {
			g.failf("SoftmaxCrossEntropyWithLogits: logits %s and labels %s must be the same (batch, classes) shape",
				shape.String(a), shape.String(b))
			return Output{}
		}
	}
	op := g.add("SoftmaxCrossEntropyWithLogits", "SoftmaxCrossEntropyWithLogits", []tf.Input{logits.out, labels.out}, nil)
	if op == nil {
		return Output{}
	}
	return Output{st: g.st, out: op.Output(0)}
}

// SparseSoftmaxCrossEntropy returns, per row, the cross-entropy between the
// class ids in labels (int32 or int64, one per row) and softmax(logits),
// from TensorFlow's fused kernel, whose gradient tfwrap registers in Go. An
// id outside [0, classes) makes the run fail.
func (g *Graph) SparseSoftmaxCrossEntropy(logits, labels Output) Output {
	if !g.check("SparseSoftmaxCrossEntropyWithLogits", logits, labels) {
		return Output{}
	}
	if !logits.DType().IsFloat() || (labels.DType() != Int32 && labels.DType() != Int64) {
		g.failf("SparseSoftmaxCrossEntropyWithLogits: logits must be float (got %v), labels int32 or int64 (got %v)", logits.DType(), labels.DType())
		return Output{}
	}
	if a, b := logits.Shape(), labels.Shape(); a != nil && b != nil {
		if len(a) != 2 || len(b) != 1 || a[0] >= 0 && b[0] >= 0 && a[0] != b[0] {
			g.failf("SparseSoftmaxCrossEntropyWithLogits: logits %s must be (batch, classes) and labels %s (batch)",
				shape.String(a), shape.String(b))
			return Output{}
		}
	}
	op := g.add("SparseSoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits", []tf.Input{logits.out, labels.out}, nil)
	if op == nil {
		return Output{}
	}
	return Output{st: g.st, out: op.Output(0)}
}

// BatchNorm is what FusedBatchNorm returns.
type BatchNorm struct {
	Y        Output // the normalized, scaled and shifted input
	Mean     Output // the batch mean (training) or the mean given
	Variance Output // the batch variance, Bessel-corrected (training), or the variance given
}

// FusedBatchNorm normalizes x (NHWC) per channel with TensorFlow's
// FusedBatchNormV3: with the batch statistics when training, else with mean
// and variance. scale, offset, mean and variance are vectors over channels.
func (g *Graph) FusedBatchNorm(x, scale, offset, mean, variance Output, epsilon float64, training bool) BatchNorm {
	if !g.check("FusedBatchNormV3", x, scale, offset, mean, variance) {
		return BatchNorm{}
	}
	if x.DType() != Float32 || scale.DType() != Float32 {
		g.failf("FusedBatchNormV3: input %v and scale %v must be float32", x.DType(), scale.DType())
		return BatchNorm{}
	}
	if xs := x.Shape(); xs != nil && len(xs) != 4 {
		g.failf("FusedBatchNormV3: input must be NHWC (rank 4), got %s", shape.String(xs))
		return BatchNorm{}
	}
	op := g.add("FusedBatchNormV3", "FusedBatchNormV3",
		[]tf.Input{x.out, scale.out, offset.out, mean.out, variance.out},
		map[string]any{"epsilon": float32(epsilon), "is_training": training, "data_format": "NHWC"})
	if op == nil {
		return BatchNorm{}
	}
	return BatchNorm{
		Y:        Output{st: g.st, out: op.Output(0)},
		Mean:     Output{st: g.st, out: op.Output(1)},
		Variance: Output{st: g.st, out: op.Output(2)},
	}
}

// RandomUniform returns a tensor of shape dims (an int32 or int64 vector)
// drawn uniformly from [0, 1). A nonzero seed pair makes the sequence
// reproducible for a given graph and session.
func (g *Graph) RandomUniform(dims Output, dt DType, seed, seed2 int64) Output {
	if !g.check("RandomUniform", dims) {
		return Output{}
	}
	if !dt.IsFloat() {
		g.failf("RandomUniform: dtype %v is not float", dt)
		return Output{}
	}
	return g.add1("RandomUniform", "RandomUniform", []tf.Input{dims.out},
		map[string]any{"dtype": tfType(dt), "seed": seed, "seed2": seed2})
}

// CheckNumerics passes x through, but makes the Run fail with msg when x
// holds a NaN or an infinity.
func (g *Graph) CheckNumerics(x Output, msg string) Output {
	if !g.check("CheckNumerics", x) {
		return Output{}
	}
	return g.add1("CheckNumerics", "CheckNumerics", []tf.Input{x.out}, map[string]any{"message": msg})
}

// StatelessRandomUniform returns a tensor of shape dims drawn uniformly from
// [0, 1), fully determined by seed (an int64 vector of two): the same seed
// gives the same numbers in any session, so a run can resume exactly.
func (g *Graph) StatelessRandomUniform(dims, seed Output, dt DType) Output {
	if !g.check("StatelessRandomUniform", dims, seed) {
		return Output{}
	}
	if !dt.IsFloat() {
		g.failf("StatelessRandomUniform: dtype %v is not float", dt)
		return Output{}
	}
	if seed.DType() != Int64 || (seed.Shape() != nil && !shape.Equal(seed.Shape(), []int64{2})) {
		g.failf("StatelessRandomUniform: seed must be an int64 vector of 2, got %v", seed)
		return Output{}
	}
	return g.add1("StatelessRandomUniform", "StatelessRandomUniform", []tf.Input{dims.out, seed.out},
		map[string]any{"dtype": tfType(dt)})
}
