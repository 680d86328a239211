package optimizers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

type rmsprop struct {
	common
	rho, momentum, epsilon float64
}

// RMSprop is Keras's RMSprop (rho 0.9, no momentum, epsilon 1e-7) in TF's
// ResourceApplyRMSProp: ms = rho·ms + (1-rho)·grad²;
// var -= lr·grad/sqrt(ms + epsilon).
func RMSprop(lr float64, opts ...Option) Optimizer { return RMSpropWith(lr, 0.9, 0, 1e-7, opts...) }

// RMSpropWith is RMSprop with explicit rho, momentum and epsilon.
func RMSpropWith(lr, rho, momentum, epsilon float64, opts ...Option) Optimizer {
	return &rmsprop{common: newCommon(lr, opts), rho: rho, momentum: momentum, epsilon: epsilon}
}

func (o *rmsprop) Name() string { return "rmsprop" }

func (o *rmsprop) Build(g *tfwrap.Graph, vars []*tfwrap.Variable, grads []tfwrap.Output) (*tfwrap.Op, error) {
	if !(o.rho >= 0 && o.rho < 1 && o.momentum >= 0 && o.momentum < 1 && o.epsilon > 0) {
		return nil, fmt.Errorf("optimizers: RMSprop rho %v and momentum %v must be in [0, 1), epsilon %v positive", o.rho, o.momentum, o.epsilon)
	}
	s, up, grads, err := o.begin("RMSprop", g, vars, grads)
	if err != nil {
		return nil, err
	}
	lr, rho, mom, eps := o.rate, f32(g, o.rho), f32(g, o.momentum), f32(g, o.epsilon)
	var updates []*tfwrap.Op
	for i, v := range vars {
		ms, err := o.slot(s, v, "velocity")
		if err != nil {
			return nil, err
		}
		mo, err := o.slot(s, v, "momentum")
		if err != nil {
			return nil, err
		}
		updates = append(updates, up.ApplyRMSProp(v, ms, mo, lr, rho, mom, eps, grads[i]))
	}
	return o.finish(g, updates)
}
