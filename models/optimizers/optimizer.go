package optimizers

import (
	"errors"
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

// Optimizer turns gradients into variable updates.
type Optimizer interface {
	// Name is the Keras name, e.g. "adam".
	Name() string
	// LearningRate is the initial learning rate.
	LearningRate() float64
	// Build adds one op to g that applies grads to vars (and advances the
	// iteration count). It may be called once.
	Build(g *tfwrap.Graph, vars []*tfwrap.Variable, grads []tfwrap.Output) (*tfwrap.Op, error)
	// State returns the optimizer's variables once built: the iteration
	// count, the learning rate and every slot, for checkpoints.
	State() []*tfwrap.Variable
	// LearningRateVariable is the learning rate's variable once built.
	LearningRateVariable() *tfwrap.Variable
}

// ErrReused is returned when an optimizer is built into a second model.
var ErrReused = errors.New("optimizers: this optimizer is already built into a model; make a new one")

// common holds the state every optimizer has.
type common struct {
	lr        float64
	g         *tfwrap.Graph
	lrVar     *tfwrap.Variable
	iter      *tfwrap.Variable
	slots     []*tfwrap.Variable
	scopeName string

	clipNorm, globalClipNorm, clipValue, weightDecay float64
	schedule                                         Schedule
	// rate is the learning rate of the step being built: the learning
	// rate variable, or the schedule at the iteration count.
	rate tfwrap.Output
}

func newCommon(lr float64, opts []Option) common {
	c := common{lr: lr}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

func (c *common) LearningRate() float64                  { return c.lr }
func (c *common) LearningRateVariable() *tfwrap.Variable { return c.lrVar }

func (c *common) State() []*tfwrap.Variable {
	if c.iter == nil {
		return nil
	}
	return append([]*tfwrap.Variable{c.iter, c.lrVar}, c.slots...)
}

// begin validates the arguments, creates the iteration count and the
// learning rate under the optimizer's scope, and clips the gradients and
// decays the weights as configured. The updates go on the returned view
// (after the decay), with the returned gradients and c.rate.
func (c *common) begin(name string, g *tfwrap.Graph, vars []*tfwrap.Variable, grads []tfwrap.Output) (s, up *tfwrap.Graph, clipped []tfwrap.Output, err error) {
	if c.g != nil {
		return nil, nil, nil, ErrReused
	}
	if err := c.checkOptions(name); err != nil {
		return nil, nil, nil, err
	}
	s, err = c.start(name, g, vars, grads)
	if err != nil {
		return nil, nil, nil, err
	}
	up, clipped = c.prepare(g, vars, grads)
	if err := g.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("optimizers: %w", err)
	}
	return s, up, clipped, nil
}

func (c *common) start(name string, g *tfwrap.Graph, vars []*tfwrap.Variable, grads []tfwrap.Output) (*tfwrap.Graph, error) {
	if !(c.lr > 0) {
		return nil, fmt.Errorf("optimizers: %s: learning rate %v must be positive", name, c.lr)
	}
	if len(vars) != len(grads) || len(vars) == 0 {
		return nil, fmt.Errorf("optimizers: %s: %d variables and %d gradients", name, len(vars), len(grads))
	}
	for i, v := range vars {
		if v.DType() != tfwrap.Float32 {
			return nil, fmt.Errorf("optimizers: %s: variable %s is %v; only float32 is supported", name, v.Name(), v.DType())
		}
		if !grads[i].Valid() {
			return nil, fmt.Errorf("optimizers: %s: gradient %d is not valid", name, i)
		}
		if !compatible(grads[i].Shape(), v.Shape()) {
			return nil, fmt.Errorf("optimizers: %s: gradient %d has shape %v, its variable %s %v", name, i, grads[i].Shape(), v.Name(), v.Shape())
		}
		if grads[i].DType() != tfwrap.Float32 {
			return nil, fmt.Errorf("optimizers: %s: gradient %d is %v, its variable %s float32", name, i, grads[i].DType(), v.Name())
		}
	}
	c.g = g
	s := g.WithScope("optimizer")
	c.iter = s.Variable("iterations", tfwrap.Scalar(int64(0)), tfwrap.NotTrainable())
	c.lrVar = s.Variable("learning_rate", tfwrap.Scalar(float32(c.lr)), tfwrap.NotTrainable())
	return s, g.Err()
}

// slot makes a variable shaped like v, named after it, filled with zeros.
func (c *common) slot(s *tfwrap.Graph, v *tfwrap.Variable, name string) (*tfwrap.Variable, error) {
	return c.slotFilled(s, v, name, 0)
}

// slotFilled makes a float32 variable shaped like v, named after it,
// filled with x.
func (c *common) slotFilled(s *tfwrap.Graph, v *tfwrap.Variable, name string, x float64) (*tfwrap.Variable, error) {
	n := int64(1)
	for _, d := range v.Shape() {
		n *= d
	}
	if n < 0 {
		return nil, fmt.Errorf("optimizers: variable %s has no fixed shape %v", v.Name(), v.Shape())
	}
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(x)
	}
	z, err := tfwrap.NewTensor(vals, v.Shape()...)
	if err != nil {
		return nil, err
	}
	sv := s.Variable(v.Name()+"/"+name, z, tfwrap.NotTrainable())
	c.slots = append(c.slots, sv)
	return sv, nil
}

// finish advances the iteration count after the updates and groups them.
func (c *common) finish(g *tfwrap.Graph, updates []*tfwrap.Op) (*tfwrap.Op, error) {
	inc := c.iter.AssignAdd(g.After(updates...), g.Scalar(1, tfwrap.Int64))
	op := g.Group("train_step", append(updates, inc)...)
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("optimizers: %w", err)
	}
	return op, nil
}

func f32(g *tfwrap.Graph, v float64) tfwrap.Output { return g.Scalar(v, tfwrap.Float32) }

// compatible reports whether a gradient's static shape (nil: unknown
// rank; -1: an unknown dimension) can be its variable's.
func compatible(grad, v []int64) bool {
	if grad == nil {
		return true
	}
	if len(grad) != len(v) {
		return false
	}
	for i := range grad {
		if grad[i] >= 0 && grad[i] != v[i] {
			return false
		}
	}
	return true
}
