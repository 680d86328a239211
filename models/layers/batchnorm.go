package layers

import (
	"fmt"
	"math"

	"github.com/tfgo-project/gotf/tfwrap"
)

type batchNorm struct {
	base
	momentum, epsilon     float64
	gamma, beta, mean, va *tfwrap.Variable
}

// BatchNormalization normalizes each channel (the last axis), as
// keras.layers.BatchNormalization with momentum 0.99 and epsilon 1e-3, using
// TF's FusedBatchNormV3. In training it uses the batch's statistics and
// moves the moving mean and variance towards them (with the biased batch
// variance, as Keras does); at inference, and always when Frozen (as Keras
// runs a BatchNormalization layer with trainable=False in inference mode),
// it uses the moving statistics.
func BatchNormalization(opts ...Option) Layer {
	return BatchNormalizationWith(BatchNormOptions{}, opts...)
}

// BatchNormOptions are a BatchNormalization layer's momentum and epsilon;
// zero means Keras's default (0.99 and 1e-3).
type BatchNormOptions struct {
	Momentum float64
	Epsilon  float64
}

// BatchNormalizationWith is BatchNormalization with Keras's momentum and
// epsilon arguments, e.g. MobileNetV2's BatchNormOptions{Momentum: 0.999}.
func BatchNormalizationWith(o BatchNormOptions, opts ...Option) Layer {
	c := newConfig(opts)
	l := &batchNorm{base: base{name: c.name, cfg: c}, momentum: 0.99, epsilon: 1e-3}
	if o.Momentum != 0 {
		l.momentum = o.Momentum
	}
	if o.Epsilon != 0 {
		l.epsilon = o.Epsilon
	}
	return l
}

func (l *batchNorm) Type() string { return "BatchNormalization" }

func (l *batchNorm) OutputShape(in []int64) ([]int64, error) {
	if !(l.momentum >= 0 && l.momentum <= 1) || !(l.epsilon > 0) || math.IsInf(l.epsilon, 0) {
		return nil, fmt.Errorf("%s: BatchNormalization momentum %v must be in [0, 1] and epsilon %v positive", l.name, l.momentum, l.epsilon)
	}
	if len(in) != 1 && len(in) != 3 {
		return nil, fmt.Errorf("%s: BatchNormalization takes vectors or images per sample, got %v", l.name, in)
	}
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return append([]int64{}, in...), nil
}

func (l *batchNorm) ParamCount(in []int64) (int64, int64) {
	if len(in) == 0 {
		return 0, 0
	}
	c := in[len(in)-1]
	return 2 * c, 2 * c
}

func (l *batchNorm) Weights() []*tfwrap.Variable {
	if l.gamma == nil {
		return nil
	}
	return []*tfwrap.Variable{l.gamma, l.beta, l.mean, l.va}
}

func (l *batchNorm) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	g := ctx.Graph
	s := x.Shape()
	if len(s) != 2 && len(s) != 4 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v must be a batch of vectors or images", l.name, x)
	}
	c := s[len(s)-1]
	if l.gamma == nil {
		ones, err := filled(1, c)
		if err != nil {
			return tfwrap.Output{}, err
		}
		zeros, err := filled(0, c)
		if err != nil {
			return tfwrap.Output{}, err
		}
		l.gamma = l.variable(g, "gamma", ones)
		l.beta = l.variable(g, "beta", zeros)
		l.mean = g.Variable("moving_mean", zeros, tfwrap.NotTrainable())
		l.va = g.Variable("moving_variance", ones, tfwrap.NotTrainable())
	}
	in := x
	if len(s) == 2 { // FusedBatchNormV3 wants NHWC
		in = g.Reshape(x, -1, 1, 1, c)
	}
	var y tfwrap.Output
	if !ctx.Training || l.cfg.frozen {
		y = g.FusedBatchNorm(in, l.gamma.Value(), l.beta.Value(), l.mean.Value(), l.va.Value(), l.epsilon, false).Y
	} else {
		empty, err := tfwrap.NewTensor([]float32{}, 0)
		if err != nil {
			return tfwrap.Output{}, err
		}
		e := g.Const(empty)
		bn := g.FusedBatchNorm(in, l.gamma.Value(), l.beta.Value(), e, e, l.epsilon, true)
		y = bn.Y
		// FusedBatchNormV3 reports the unbiased variance; Keras moves the
		// moving variance with the biased one: scale by (n-1)/n.
		n := g.Cast(g.Div(g.Cast(g.Prod(g.ShapeOf(in)), tfwrap.Int32), g.Scalar(float64(c), tfwrap.Int32)), tfwrap.Float32)
		biased := g.Mul(bn.Variance, g.Div(g.Sub(n, g.Scalar(1, tfwrap.Float32)), n))
		rate := g.Scalar(1-l.momentum, tfwrap.Float32)
		ctx.Updates = append(ctx.Updates,
			l.mean.AssignSub(g, g.Mul(g.Sub(l.mean.Value(), bn.Mean), rate)),
			l.va.AssignSub(g, g.Mul(g.Sub(l.va.Value(), biased), rate)))
	}
	if len(s) == 2 {
		y = g.Reshape(y, -1, c)
	}
	return built(l.name, g, y)
}
