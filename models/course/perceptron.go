package course

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/tfwrap"
)

// Perceptron is the course's first model, exactly:
//
//	predict(x) = max(0, x·W + b)
//	loss       = mean((labels - predict(x))^2)
//	train step: dW, db = gradients of loss; W ← W - lr·dW; b ← b - lr·db
//
// Every step runs in TensorFlow: the forward pass, the gradients (TF's graph
// gradients) and the assignments. A Perceptron owns a Session: Close it.
// Its methods are safe for concurrent use; train steps are serialized.
type Perceptron struct {
	mu      sync.Mutex
	in, out int
	g       *tfwrap.Graph
	sess    *tfwrap.Session
	x, y    tfwrap.Output
	W, b    *tfwrap.Variable
	pred    tfwrap.Output
	loss    tfwrap.Output
	step    *tfwrap.Op
}

// PerceptronOptions configures NewPerceptron. The zero value means: learning
// rate 0.1, W drawn uniformly from [0, 1) with seed 0 (as tf.random.uniform
// in the course), b zeros.
type PerceptronOptions struct {
	LearningRate float64
	Seed         uint64
	// InitialW (inputs×outputs, row-major) and InitialB (outputs) replace
	// the random start when set, e.g. to match a run in Python.
	InitialW []float32
	InitialB []float32
}

// NewPerceptron builds a perceptron mapping inputs features to outputs
// values and initializes its variables.
func NewPerceptron(inputs, outputs int, opts PerceptronOptions) (*Perceptron, error) {
	if inputs < 1 || outputs < 1 {
		return nil, fmt.Errorf("course: perceptron needs at least one input and one output, got %d and %d", inputs, outputs)
	}
	lr := opts.LearningRate
	if lr == 0 {
		lr = 0.1
	}
	if lr < 0 || math.IsNaN(lr) || math.IsInf(lr, 0) {
		return nil, fmt.Errorf("course: perceptron learning rate %v must be a positive number", opts.LearningRate)
	}
	w0 := opts.InitialW
	if w0 == nil {
		r := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
		w0 = make([]float32, inputs*outputs)
		for i := range w0 {
			w0[i] = r.Float32()
		}
	}
	b0 := opts.InitialB
	if b0 == nil {
		b0 = make([]float32, outputs)
	}
	if len(w0) != inputs*outputs {
		return nil, fmt.Errorf("course: perceptron InitialW has %d values, want %d×%d=%d", len(w0), inputs, outputs, inputs*outputs)
	}
	if len(b0) != outputs {
		return nil, fmt.Errorf("course: perceptron InitialB has %d values, want %d", len(b0), outputs)
	}
	wt, err := tfwrap.NewTensor(w0, int64(inputs), int64(outputs))
	if err != nil {
		return nil, err
	}
	bt, err := tfwrap.NewTensor(b0, int64(outputs))
	if err != nil {
		return nil, err
	}

	g := tfwrap.NewGraph()
	p := &Perceptron{in: inputs, out: outputs, g: g}
	p.x = g.Placeholder("x", tfwrap.Float32, -1, int64(inputs))
	p.y = g.Placeholder("labels", tfwrap.Float32, -1, int64(outputs))
	p.W = g.Variable("W", wt)
	p.b = g.Variable("b", bt)
	// predict(x) = max(0, x·W + b)
	p.pred = g.Identity("predictions", g.Maximum(
		g.Scalar(0, tfwrap.Float32),
		g.Add(g.MatMul(p.x, p.W.Value()), p.b.Value())))
	// loss = mean((labels - predictions)^2)
	p.loss = g.Identity("loss", g.Mean(g.Square(g.Sub(p.y, p.pred))))
	grads, err := g.GradientTape().Gradient(p.loss, p.W, p.b)
	if err != nil {
		return nil, fmt.Errorf("course: perceptron: %w", err)
	}
	rate := g.Scalar(lr, tfwrap.Float32)
	p.step = g.Group("train_step",
		p.W.Assign(g, g.Sub(p.W.Value(), g.Mul(rate, grads[0]))),
		p.b.Assign(g, g.Sub(p.b.Value(), g.Mul(rate, grads[1]))))
	if p.sess, err = g.NewSession(); err != nil {
		return nil, fmt.Errorf("course: perceptron: %w", err)
	}
	if err := p.sess.InitVariables(); err != nil {
		p.sess.Close()
		return nil, fmt.Errorf("course: perceptron: %w", err)
	}
	return p, nil
}

// checkX validates a batch of inputs in Go.
func (p *Perceptron) checkX(x *tfwrap.Tensor) error {
	if x == nil {
		return errors.New("course: perceptron: inputs are nil")
	}
	if x.DType() != tfwrap.Float32 {
		return fmt.Errorf("course: perceptron: inputs are %v, want float32", x.DType())
	}
	s := x.Shape()
	if len(s) != 2 || s[1] != int64(p.in) {
		return fmt.Errorf("course: perceptron: inputs have shape %v, want (n, %d)", s, p.in)
	}
	if s[0] == 0 {
		return errors.New("course: perceptron: inputs hold no samples")
	}
	return nil
}

func (p *Perceptron) checkXY(x, y *tfwrap.Tensor) error {
	if err := p.checkX(x); err != nil {
		return err
	}
	if y == nil {
		return errors.New("course: perceptron: labels are nil")
	}
	if y.DType() != tfwrap.Float32 {
		return fmt.Errorf("course: perceptron: labels are %v, want float32", y.DType())
	}
	if s := y.Shape(); len(s) != 2 || s[0] != x.Shape()[0] || s[1] != int64(p.out) {
		return fmt.Errorf("course: perceptron: labels have shape %v, want (%d, %d) to match the inputs", s, x.Shape()[0], p.out)
	}
	return nil
}

func (p *Perceptron) session() (*tfwrap.Session, error) {
	if p == nil || p.sess == nil || p.sess.Closed() {
		return nil, fmt.Errorf("course: perceptron is %w", models.ErrClosed)
	}
	return p.sess, nil
}

// Predict returns max(0, x·W + b) for a batch x of shape (n, inputs).
func (p *Perceptron) Predict(x *tfwrap.Tensor) (*tfwrap.Tensor, error) {
	s, err := p.session()
	if err != nil {
		return nil, err
	}
	if err := p.checkX(x); err != nil {
		return nil, err
	}
	return s.Eval(p.pred, tfwrap.Feeds{p.x: x})
}

// Loss returns the mean squared error of the predictions on x against y.
func (p *Perceptron) Loss(x, y *tfwrap.Tensor) (float32, error) {
	s, err := p.session()
	if err != nil {
		return 0, err
	}
	if err := p.checkXY(x, y); err != nil {
		return 0, err
	}
	t, err := s.Eval(p.loss, tfwrap.Feeds{p.x: x, p.y: y})
	if err != nil {
		return 0, err
	}
	return scalar32(t)
}

// TrainStep runs one gradient step on the batch (x, y) and returns the loss
// computed before the update, as the course's train_step does.
func (p *Perceptron) TrainStep(x, y *tfwrap.Tensor) (float32, error) {
	s, err := p.session()
	if err != nil {
		return 0, err
	}
	if err := p.checkXY(x, y); err != nil {
		return 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	res, err := s.Run(tfwrap.Feeds{p.x: x, p.y: y}, []tfwrap.Output{p.loss}, p.step)
	if err != nil {
		return 0, err
	}
	return scalar32(res[0])
}

// Weights returns copies of W (inputs×outputs, row-major) and b.
func (p *Perceptron) Weights() (W, b []float32, err error) {
	s, err := p.session()
	if err != nil {
		return nil, nil, err
	}
	res, err := s.Run(nil, []tfwrap.Output{p.W.Value(), p.b.Value()})
	if err != nil {
		return nil, nil, err
	}
	if W, err = res[0].Float32s(); err != nil {
		return nil, nil, err
	}
	b, err = res[1].Float32s()
	return W, b, err
}

// Close releases the session. It is idempotent.
func (p *Perceptron) Close() error {
	if p == nil || p.sess == nil {
		return nil
	}
	return p.sess.Close()
}

func scalar32(t *tfwrap.Tensor) (float32, error) {
	v, err := t.Float32s()
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("models: expected a scalar, got %d values", len(v))
	}
	return v[0], nil
}
