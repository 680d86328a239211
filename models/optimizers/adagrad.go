package optimizers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

type adagrad struct {
	common
	initialAccumulator, epsilon float64
}

// Adagrad is Keras's Adagrad (accumulators start at 0.1, epsilon 1e-7):
// acc += grad²; var -= lr·grad/sqrt(acc + epsilon). TF's ResourceApplyAdagradV2
// puts epsilon outside the square root, so the update is built from graph
// ops to match Keras.
func Adagrad(lr float64, opts ...Option) Optimizer { return AdagradWith(lr, 0.1, 1e-7, opts...) }

// AdagradWith is Adagrad with an explicit initial accumulator value and
// epsilon.
func AdagradWith(lr, initialAccumulator, epsilon float64, opts ...Option) Optimizer {
	return &adagrad{common: newCommon(lr, opts), initialAccumulator: initialAccumulator, epsilon: epsilon}
}

func (o *adagrad) Name() string { return "adagrad" }

func (o *adagrad) Build(g *tfwrap.Graph, vars []*tfwrap.Variable, grads []tfwrap.Output) (*tfwrap.Op, error) {
	if !(o.initialAccumulator >= 0 && o.epsilon > 0) {
		return nil, fmt.Errorf("optimizers: Adagrad initial accumulator %v must be ≥ 0 and epsilon %v positive", o.initialAccumulator, o.epsilon)
	}
	s, up, grads, err := o.begin("adagrad", g, vars, grads)
	if err != nil {
		return nil, err
	}
	eps := f32(g, o.epsilon)
	var updates []*tfwrap.Op
	for i, v := range vars {
		acc, err := o.slotFilled(s, v, "accumulator", o.initialAccumulator)
		if err != nil {
			return nil, err
		}
		// The new accumulator feeds both its assignment and the update, so
		// no read has to wait for the assignment.
		newAcc := g.Add(acc.Value(), g.Square(grads[i]))
		setAcc := acc.Assign(up, newAcc)
		delta := g.Div(g.Mul(o.rate, grads[i]), g.Sqrt(g.Add(newAcc, eps)))
		updates = append(updates, setAcc, v.AssignSub(up, delta))
	}
	return o.finish(g, updates)
}
