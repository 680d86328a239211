package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

// affine is what Dense and Conv2D share: a Glorot-uniform kernel, an
// optional zero bias, and an activation after them.
type affine struct {
	base
	units        int64 // output features or filters
	kernel, bias *tfwrap.Variable
}

// params counts the kernel of kernelSize elements and the bias.
func (a *affine) params(kernelSize int64) int64 {
	if a.cfg.noBias {
		return kernelSize
	}
	return kernelSize + a.units
}

func (a *affine) Weights() []*tfwrap.Variable {
	if a.kernel == nil {
		return nil
	}
	if a.bias == nil {
		return []*tfwrap.Variable{a.kernel}
	}
	return []*tfwrap.Variable{a.kernel, a.bias}
}

// create makes the variables on the first Forward.
func (a *affine) create(ctx *Context, fanIn, fanOut int64, dims ...int64) error {
	if a.kernel != nil {
		return nil
	}
	k, err := glorotUniform(a.seed(ctx), fanIn, fanOut, dims...)
	if err != nil {
		return err
	}
	a.kernel = a.variable(ctx.Graph, "kernel", k)
	if !a.cfg.noBias {
		b, err := filled(0, a.units)
		if err != nil {
			return err
		}
		a.bias = a.variable(ctx.Graph, "bias", b)
	}
	return nil
}

// finish adds the bias and the activation to y.
func (a *affine) finish(ctx *Context, y tfwrap.Output) (tfwrap.Output, error) {
	if a.bias != nil {
		y = ctx.Graph.BiasAdd(y, a.bias.Value())
	}
	out, err := apply(ctx, a.cfg.activation, y)
	if err != nil {
		return out, fmt.Errorf("layer %s: %w", a.name, err)
	}
	return built(a.name, ctx.Graph, out)
}
