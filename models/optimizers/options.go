package optimizers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

// Option configures an optimizer as Keras's optimizer arguments do.
type Option func(*common)

// ClipNorm clips each gradient to an L2 norm of at most c (Keras's
// clipnorm).
func ClipNorm(c float64) Option { return func(o *common) { o.clipNorm = c } }

// GlobalClipNorm scales all gradients together so that their joint L2
// norm is at most c (Keras's global_clipnorm).
func GlobalClipNorm(c float64) Option { return func(o *common) { o.globalClipNorm = c } }

// ClipValue clips each gradient element to [-c, c] (Keras's clipvalue).
func ClipValue(c float64) Option { return func(o *common) { o.clipValue = c } }

// WeightDecay shrinks every trainable variable by lr·wd·var before each
// update (Keras's weight_decay, decoupled from the gradient as in AdamW).
func WeightDecay(wd float64) Option { return func(o *common) { o.weightDecay = wd } }

// WithSchedule makes the learning rate schedule(iterations), as passing a
// LearningRateSchedule to a Keras optimizer does; the optimizer's own
// learning-rate argument is then ignored, and LearningRate reports the
// schedule's initial rate.
func WithSchedule(s Schedule) Option { return func(o *common) { o.schedule = s } }

// checkOptions validates the options, as Keras's constructor does.
func (c *common) checkOptions(name string) error {
	set := 0
	for _, v := range []float64{c.clipNorm, c.globalClipNorm, c.clipValue} {
		if v != 0 {
			set++
			if !(v > 0) {
				return fmt.Errorf("optimizers: %s: a clipping threshold must be positive, got %v", name, v)
			}
		}
	}
	if set > 1 {
		return fmt.Errorf("optimizers: %s: only one of ClipNorm, ClipValue and GlobalClipNorm can be set", name)
	}
	if c.weightDecay < 0 {
		return fmt.Errorf("optimizers: %s: weight decay %v must not be negative", name, c.weightDecay)
	}
	if c.schedule != nil {
		if err := c.schedule.check(); err != nil {
			return fmt.Errorf("optimizers: %s: %w", name, err)
		}
		c.lr = c.schedule.Initial()
	}
	return nil
}

// prepare clips the gradients, adds the weight decay, and returns the
// view on which the updates must be built (after the decay) with the
// clipped gradients. The learning rate is c.rate.
func (c *common) prepare(g *tfwrap.Graph, vars []*tfwrap.Variable, grads []tfwrap.Output) (*tfwrap.Graph, []tfwrap.Output) {
	step := g.Cast(c.iter.Value(), tfwrap.Float32)
	if c.schedule != nil {
		c.rate = c.schedule.rate(g.WithScope("learning_rate_schedule"), step)
	} else {
		c.rate = c.lrVar.Value()
	}
	grads = clip(g, grads, c.clipNorm, c.globalClipNorm, c.clipValue)
	if c.weightDecay == 0 {
		return g, grads
	}
	// The decay must see the weights the gradients were computed from:
	// it runs after every gradient, and the updates after it.
	var after []*tfwrap.Op
	for _, gr := range grads {
		after = append(after, gr.Op())
	}
	dg := g.After(after...)
	keep := g.Sub(f32(g, 1), g.Mul(c.rate, f32(g, c.weightDecay)))
	var decays []*tfwrap.Op
	for _, v := range vars {
		decays = append(decays, v.Assign(dg, g.Mul(v.Value(), keep)))
	}
	return g.After(decays...), grads
}

// clip applies Keras's _clip_gradients: clipnorm, else global_clipnorm,
// else clipvalue.
func clip(g *tfwrap.Graph, grads []tfwrap.Output, norm, global, value float64) []tfwrap.Output {
	out := make([]tfwrap.Output, len(grads))
	switch {
	case norm > 0:
		c := f32(g, norm)
		for i, gr := range grads {
			l2sum := g.SumKeepDims(g.Square(gr))
			pred := g.Apply("Greater", nil, l2sum, f32(g, 0))
			safe := g.Apply("SelectV2", nil, pred, l2sum, g.Apply("OnesLike", nil, l2sum))
			l2norm := g.Apply("SelectV2", nil, pred, g.Sqrt(safe), l2sum)
			out[i] = g.Div(g.Mul(gr, c), g.Maximum(l2norm, c))
		}
	case global > 0:
		c := f32(g, global)
		sums := make(tfwrap.OutputList, len(grads))
		for i, gr := range grads {
			sums[i] = g.Sum(g.Square(gr))
		}
		use := g.Sqrt(g.Apply("AddN", nil, sums))
		one := f32(g, 1)
		scale := g.Mul(c, g.Apply("Minimum", nil, g.Div(one, use), g.Div(one, c)))
		scale = g.Add(scale, g.Sub(use, use)) // NaN when the norm is not finite, as Keras
		for i, gr := range grads {
			out[i] = g.Mul(gr, scale)
		}
	case value > 0:
		for i, gr := range grads {
			out[i] = g.Apply("ClipByValue", nil, gr, f32(g, -value), f32(g, value))
		}
	default:
		copy(out, grads)
	}
	return out
}
