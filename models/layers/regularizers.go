package layers

import (
	"fmt"
	"math"

	"github.com/tfgo-project/gotf/tfwrap"
)

// Regularizer is a weight penalty, l1·sum(|w|) + l2·sum(w²), as Keras's
// keras.regularizers.L1, L2 and L1L2. Layers add it to the training loss
// through WithKernelRegularizer and WithBiasRegularizer; as in Keras, the
// loss a model reports (in training and in Evaluate) includes it, and a
// frozen layer's weights add nothing. Build one with L1, L2 or L1L2; it is
// a plain value, safe to copy.
type Regularizer struct {
	l1, l2 float64
}

// L1 is Keras's keras.regularizers.L1(l1): l1·sum(|w|).
func L1(l1 float64) Regularizer { return Regularizer{l1: l1} }

// L2 is Keras's keras.regularizers.L2(l2): l2·sum(w²).
func L2(l2 float64) Regularizer { return Regularizer{l2: l2} }

// L1L2 is Keras's keras.regularizers.L1L2(l1, l2): both penalties.
func L1L2(l1, l2 float64) Regularizer { return Regularizer{l1: l1, l2: l2} }

// Factors returns the l1 and l2 factors.
func (r Regularizer) Factors() (l1, l2 float64) { return r.l1, r.l2 }

// check refuses what Keras refuses: negative, infinite or NaN factors.
func (r Regularizer) check() error {
	for _, f := range [...]struct {
		name string
		v    float64
	}{{"l1", r.l1}, {"l2", r.l2}} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			return fmt.Errorf("regularizer factor %s = %v must be a non-negative number", f.name, f.v)
		}
	}
	return nil
}

// penalty returns r's penalty on w, a float32 scalar, as Keras's L1L2
// computes it.
func (r Regularizer) penalty(g *tfwrap.Graph, w tfwrap.Output) tfwrap.Output {
	p := g.Scalar(0, tfwrap.Float32)
	if r.l1 != 0 {
		p = g.Add(p, g.Mul(g.Scalar(r.l1, tfwrap.Float32), g.Sum(g.Abs(w))))
	}
	if r.l2 != 0 {
		p = g.Add(p, g.Mul(g.Scalar(r.l2, tfwrap.Float32), g.Sum(g.Square(w))))
	}
	return p
}

// checkRegularizers checks the layer's regularizer factors.
func (a *affine) checkRegularizers() error {
	if r := a.cfg.kernelReg; r != nil {
		if err := r.check(); err != nil {
			return fmt.Errorf("%s: kernel %w", a.name, err)
		}
	}
	if r := a.cfg.biasReg; r != nil {
		if err := r.check(); err != nil {
			return fmt.Errorf("%s: bias %w", a.name, err)
		}
	}
	return nil
}

// addPenalties adds the layer's regularization penalties to ctx.Losses,
// once its weights exist. A frozen layer adds none: Keras sums the
// regularizers of trainable weights only.
func (a *affine) addPenalties(ctx *Context) {
	if a.cfg.frozen {
		return
	}
	if r := a.cfg.kernelReg; r != nil && a.kernel != nil {
		ctx.Losses = append(ctx.Losses, r.penalty(ctx.Graph, a.kernel.Value()))
	}
	if r := a.cfg.biasReg; r != nil && a.bias != nil {
		ctx.Losses = append(ctx.Losses, r.penalty(ctx.Graph, a.bias.Value()))
	}
}

// RegularizerConfig is a Regularizer in a layer's Config (JSON {"l1": …,
// "l2": …}, a factor left out being 0).
type RegularizerConfig struct {
	L1 float64 `json:"l1,omitempty"`
	L2 float64 `json:"l2,omitempty"`
}

func regularizerConfig(r *Regularizer) *RegularizerConfig {
	if r == nil {
		return nil
	}
	return &RegularizerConfig{L1: r.l1, L2: r.l2}
}

// describeRegularizers adds a Dense or Conv2D layer's regularizers to its
// Config.
func (a *affine) describeRegularizers(c Config) Config {
	c.KernelRegularizer, c.BiasRegularizer = regularizerConfig(a.cfg.kernelReg), regularizerConfig(a.cfg.biasReg)
	return c
}

// regularizerOptions returns the options that give a layer c's
// regularizers.
func regularizerOptions(c Config) []Option {
	var opts []Option
	if r := c.KernelRegularizer; r != nil {
		opts = append(opts, WithKernelRegularizer(L1L2(r.L1, r.L2)))
	}
	if r := c.BiasRegularizer; r != nil {
		opts = append(opts, WithBiasRegularizer(L1L2(r.L1, r.L2)))
	}
	return opts
}
