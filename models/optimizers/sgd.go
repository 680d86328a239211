package optimizers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

type sgd struct {
	common
	momentum float64
	nesterov bool
}

// SGD is plain gradient descent, var -= lr·grad, in TF's
// ResourceApplyGradientDescent.
func SGD(lr float64, opts ...Option) Optimizer { return &sgd{common: newCommon(lr, opts)} }

// Momentum is Keras's SGD with momentum (Nesterov's when nesterov is set):
// velocity = momentum·velocity - lr·grad; var += velocity, in TF's
// ResourceApplyKerasMomentum.
func Momentum(lr, momentum float64, nesterov bool, opts ...Option) Optimizer {
	return &sgd{common: newCommon(lr, opts), momentum: momentum, nesterov: nesterov}
}

func (o *sgd) Name() string { return "SGD" }

func (o *sgd) Build(g *tfwrap.Graph, vars []*tfwrap.Variable, grads []tfwrap.Output) (*tfwrap.Op, error) {
	if o.momentum < 0 || o.momentum >= 1 {
		return nil, fmt.Errorf("optimizers: SGD momentum %v must be in [0, 1)", o.momentum)
	}
	s, up, grads, err := o.begin("SGD", g, vars, grads)
	if err != nil {
		return nil, err
	}
	lr := o.rate
	var updates []*tfwrap.Op
	for i, v := range vars {
		if o.momentum == 0 && !o.nesterov {
			updates = append(updates, up.ApplyGradientDescent(v, lr, grads[i]))
			continue
		}
		m, err := o.slot(s, v, "momentum")
		if err != nil {
			return nil, err
		}
		updates = append(updates, up.ApplyKerasMomentum(v, m, lr, grads[i], f32(g, o.momentum), o.nesterov))
	}
	return o.finish(g, updates)
}
