package tfwrap

import (
	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// checkApply checks, in Go, the inputs of one of TensorFlow's ResourceApply*
// training kernels, which update vars[0] (and its slot variables vars[1:])
// in place: every variable, hyperparameter and the gradient must agree. It
// records the first problem in g.
func (g *Graph) checkApply(typ string, vars []*Variable, scalars []Output, grad Output) {
	if g.st.err != nil {
		return
	}
	v := vars[0]
	for i, s := range vars {
		if !s.ok() || s.st != g.st {
			g.failf("%s: variable %d (%s) is not valid in this graph", typ, i, s.Name())
			return
		}
		if s.dtype != v.dtype || !shape.Equal(s.shape, v.shape) {
			g.failf("%s: slot %s is %v%s, variable %s is %v%s", typ, s.name, s.dtype, shape.String(s.shape),
				v.name, v.dtype, shape.String(v.shape))
			return
		}
	}
	if !g.check(typ, append(scalars, grad)...) {
		return
	}
	for _, s := range scalars {
		if s.DType() != v.dtype || (s.Rank() != 0 && s.Rank() != -1) {
			g.failf("%s on %s: hyperparameter %s must be a %v scalar", typ, v.name, s.Name(), v.dtype)
			return
		}
	}
	if grad.DType() != v.dtype {
		g.failf("%s on %s: gradient is %v, variable %v", typ, v.name, grad.DType(), v.dtype)
		return
	}
	if gs := grad.Shape(); gs != nil && !shape.Compatible(gs, v.shape) && !shape.Compatible(v.shape, gs) {
		g.failf("%s on %s: gradient has shape %s, variable %s", typ, v.name, shape.String(gs), shape.String(v.shape))
		return
	}
}

func (g *Graph) apply(typ string, inputs []tf.Input, attrs map[string]any) *Op {
	op := g.add(typ, typ, inputs, attrs)
	if op == nil {
		return nil
	}
	return &Op{st: g.st, op: op}
}

// ApplyGradientDescent runs var -= lr·grad in TF's kernel.
func (g *Graph) ApplyGradientDescent(v *Variable, lr, grad Output) *Op {
	const typ = "ResourceApplyGradientDescent"
	g.checkApply(typ, []*Variable{v}, []Output{lr}, grad)
	if g.st.err != nil {
		return nil
	}
	return g.apply(typ, []tf.Input{v.handle, lr.out, grad.out}, map[string]any{"T": tfType(v.dtype)})
}

// ApplyKerasMomentum runs Keras's SGD with momentum in TF's kernel:
// accum = momentum·accum - lr·grad; var += accum (Nesterov: var +=
// momentum·accum - lr·grad).
func (g *Graph) ApplyKerasMomentum(v, accum *Variable, lr, grad, momentum Output, nesterov bool) *Op {
	const typ = "ResourceApplyKerasMomentum"
	g.checkApply(typ, []*Variable{v, accum}, []Output{lr, momentum}, grad)
	if g.st.err != nil {
		return nil
	}
	return g.apply(typ, []tf.Input{v.handle, accum.handle, lr.out, grad.out, momentum.out},
		map[string]any{"T": tfType(v.dtype), "use_nesterov": nesterov})
}

// ApplyAdam runs one Adam step in TF's kernel: m and vv are the first and
// second moment slots; beta1Power and beta2Power are beta^t for step t.
func (g *Graph) ApplyAdam(v, m, vv *Variable, beta1Power, beta2Power, lr, beta1, beta2, epsilon, grad Output) *Op {
	const typ = "ResourceApplyAdam"
	g.checkApply(typ, []*Variable{v, m, vv}, []Output{beta1Power, beta2Power, lr, beta1, beta2, epsilon}, grad)
	if g.st.err != nil {
		return nil
	}
	return g.apply(typ, []tf.Input{v.handle, m.handle, vv.handle, beta1Power.out, beta2Power.out,
		lr.out, beta1.out, beta2.out, epsilon.out, grad.out}, map[string]any{"T": tfType(v.dtype)})
}

// ApplyRMSProp runs one RMSprop step in TF's kernel: ms = rho·ms +
// (1-rho)·grad²; mom = momentum·mom + lr·grad/sqrt(ms+epsilon); var -= mom.
func (g *Graph) ApplyRMSProp(v, ms, mom *Variable, lr, rho, momentum, epsilon, grad Output) *Op {
	const typ = "ResourceApplyRMSProp"
	g.checkApply(typ, []*Variable{v, ms, mom}, []Output{lr, rho, momentum, epsilon}, grad)
	if g.st.err != nil {
		return nil
	}
	return g.apply(typ, []tf.Input{v.handle, ms.handle, mom.handle, lr.out, rho.out, momentum.out,
		epsilon.out, grad.out}, map[string]any{"T": tfType(v.dtype)})
}
