package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// Activation is an elementwise (or, for Softmax, last-axis) function that
// a layer applies to its output: Linear, ReLU, Sigmoid, Tanh or Softmax.
// Pass one with WithActivation (layers.Dense(10,
// layers.WithActivation(layers.Softmax))) or ActivationLayer. The zero
// value is Linear.
type Activation int

// The activations Keras layers take, by their Keras names.
const (
	Linear  Activation = iota // "linear": identity, the default
	ReLU                      // "relu": max(x, 0)
	Sigmoid                   // "sigmoid": 1 / (1 + exp(-x))
	Tanh                      // "tanh"
	Softmax                   // "softmax": over the last axis
)

// Padding is a Conv2D or pooling padding mode.
type Padding = shape.Padding

// The padding modes.
const (
	Same  = shape.Same
	Valid = shape.Valid
)

var activationNames = map[Activation]string{Linear: "linear", ReLU: "relu", Sigmoid: "sigmoid", Tanh: "tanh", Softmax: "softmax"}

// String returns the Keras name of the activation.
func (a Activation) String() string {
	if n, ok := activationNames[a]; ok {
		return n
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

// ParseActivation maps a Keras name ("relu", …) to an Activation.
func ParseActivation(name string) (Activation, error) {
	for a, n := range activationNames {
		if n == name {
			return a, nil
		}
	}
	return 0, fmt.Errorf("layers: unknown activation %q", name)
}

// apply adds the activation and records the logits for softmax and sigmoid.
func apply(ctx *Context, a Activation, x tfwrap.Output) (tfwrap.Output, error) {
	g := ctx.Graph
	ctx.Logits, ctx.LogitsOf = tfwrap.Output{}, Linear
	switch a {
	case Linear:
		return x, nil
	case ReLU:
		return g.Relu(x), nil
	case Tanh:
		return g.Tanh(x), nil
	case Sigmoid:
		ctx.Logits, ctx.LogitsOf = x, Sigmoid
		return g.Sigmoid(x), nil
	case Softmax:
		ctx.Logits, ctx.LogitsOf = x, Softmax
		return softmax(g, x), nil
	}
	return tfwrap.Output{}, fmt.Errorf("unknown activation %v", a)
}

// softmax is TensorFlow's Softmax over the last axis, except where its
// oneDNN kernel runs: there it is the same formula in plain ops,
// exp(x - max) / sum, the max held out of the gradient (softmax does not
// depend on it). oneDNN's softmax costs about 65 µs more than that on a
// batch of 32 × 10 (Intel Xeon, 2 vCPU; go test -bench Softmax), most of
// a tenth of an MLP's training step (README, "The last per-step costs").
func softmax(g *tfwrap.Graph, x tfwrap.Output) tfwrap.Output {
	if on, err := tfwrap.OneDNN(); err != nil || !on {
		return g.Softmax(x)
	}
	e := g.Exp(g.Sub(x, g.StopGradient(g.MaxKeepDims(x, -1))))
	return g.Div(e, g.SumKeepDims(e, -1))
}

type activationLayer struct{ base }

// ActivationLayer applies an activation on its own, as keras.layers.Activation.
func ActivationLayer(a Activation, opts ...Option) Layer {
	c := newConfig(opts)
	c.activation = a
	return &activationLayer{base{name: c.name, cfg: c}}
}

func (l *activationLayer) Type() string { return "Activation" }

func (l *activationLayer) OutputShape(in []int64) ([]int64, error) {
	if _, ok := activationNames[l.cfg.activation]; !ok {
		return nil, fmt.Errorf("%s: unknown activation %v", l.name, l.cfg.activation)
	}
	if l.cfg.activation == Softmax && len(in) == 0 {
		return nil, fmt.Errorf("%s: softmax needs at least one axis", l.name)
	}
	return append([]int64{}, in...), nil
}

func (l *activationLayer) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *activationLayer) Weights() []*tfwrap.Variable       { return nil }

func (l *activationLayer) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	out, err := apply(ctx, l.cfg.activation, x)
	if err != nil {
		return out, fmt.Errorf("layer %s: %w", l.name, err)
	}
	return built(l.name, ctx.Graph, out)
}
