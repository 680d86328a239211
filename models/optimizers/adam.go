package optimizers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

type adam struct {
	common
	beta1, beta2, epsilon float64
	name                  string
}

// Adam is Keras's Adam (beta1 0.9, beta2 0.999, epsilon 1e-7) in TF's
// ResourceApplyAdam.
func Adam(lr float64, opts ...Option) Optimizer { return AdamWith(lr, 0.9, 0.999, 1e-7, opts...) }

// AdamWith is Adam with explicit betas and epsilon.
func AdamWith(lr, beta1, beta2, epsilon float64, opts ...Option) Optimizer {
	return &adam{common: newCommon(lr, opts), beta1: beta1, beta2: beta2, epsilon: epsilon, name: "adam"}
}

// AdamW is Keras's AdamW: Adam with decoupled weight decay (each variable
// shrinks by lr·weightDecay·var before its update; Keras's default decay
// is 0.004). A WeightDecay option overrides weightDecay.
func AdamW(lr, weightDecay float64, opts ...Option) Optimizer {
	o := &adam{common: newCommon(lr, append([]Option{WeightDecay(weightDecay)}, opts...)),
		beta1: 0.9, beta2: 0.999, epsilon: 1e-7, name: "adamw"}
	return o
}

func (o *adam) Name() string { return o.name }

func (o *adam) Build(g *tfwrap.Graph, vars []*tfwrap.Variable, grads []tfwrap.Output) (*tfwrap.Op, error) {
	if !(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 && o.epsilon > 0) {
		return nil, fmt.Errorf("optimizers: Adam betas (%v, %v) must be in [0, 1) and epsilon %v positive", o.beta1, o.beta2, o.epsilon)
	}
	s, up, grads, err := o.begin(o.name, g, vars, grads)
	if err != nil {
		return nil, err
	}
	// beta^t for the step t = iterations + 1 about to be taken.
	t := g.Cast(g.Add(o.iter.Value(), g.Scalar(1, tfwrap.Int64)), tfwrap.Float32)
	b1, b2 := f32(g, o.beta1), f32(g, o.beta2)
	b1p, b2p := g.Pow(b1, t), g.Pow(b2, t)
	lr, eps := o.rate, f32(g, o.epsilon)
	var updates []*tfwrap.Op
	for i, v := range vars {
		m, err := o.slot(s, v, "m")
		if err != nil {
			return nil, err
		}
		vv, err := o.slot(s, v, "v")
		if err != nil {
			return nil, err
		}
		updates = append(updates, up.ApplyAdam(v, m, vv, b1p, b2p, lr, b1, b2, eps, grads[i]))
	}
	return o.finish(g, updates)
}
