package optimizers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

type adam struct {
	common
	beta1, beta2, epsilon float64
}

// Adam is Keras's Adam (beta1 0.9, beta2 0.999, epsilon 1e-7) in TF's
// ResourceApplyAdam.
func Adam(lr float64) Optimizer { return AdamWith(lr, 0.9, 0.999, 1e-7) }

// AdamWith is Adam with explicit betas and epsilon.
func AdamWith(lr, beta1, beta2, epsilon float64) Optimizer {
	return &adam{common: common{lr: lr}, beta1: beta1, beta2: beta2, epsilon: epsilon}
}

func (o *adam) Name() string { return "adam" }

func (o *adam) Build(g *tfwrap.Graph, vars []*tfwrap.Variable, grads []tfwrap.Output) (*tfwrap.Op, error) {
	if !(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 && o.epsilon > 0) {
		return nil, fmt.Errorf("optimizers: Adam betas (%v, %v) must be in [0, 1) and epsilon %v positive", o.beta1, o.beta2, o.epsilon)
	}
	s, err := o.begin("Adam", g, vars, grads)
	if err != nil {
		return nil, err
	}
	// beta^t for the step t = iterations + 1 about to be taken.
	t := g.Cast(g.Add(o.iter.Value(), g.Scalar(1, tfwrap.Int64)), tfwrap.Float32)
	b1, b2 := f32(g, o.beta1), f32(g, o.beta2)
	b1p, b2p := g.Pow(b1, t), g.Pow(b2, t)
	lr, eps := o.lrVar.Value(), f32(g, o.epsilon)
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
		updates = append(updates, g.ApplyAdam(v, m, vv, b1p, b2p, lr, b1, b2, eps, grads[i]))
	}
	return o.finish(g, updates)
}
