package course

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// GANOptions configures NewGAN; the zero value means two Adam optimizers
// with the learning rate 2e-4 and β1 = 0.5 of the DCGAN paper, and seed 0.
type GANOptions struct {
	// GeneratorOptimizer and DiscriminatorOptimizer apply each model's
	// gradients (one optimizer may not serve both).
	GeneratorOptimizer, DiscriminatorOptimizer optimizers.Optimizer
	// Seed seeds the weights' initializers.
	Seed uint64
}

// GAN is a generative adversarial network: a generator that maps noise to
// samples and a discriminator that scores samples as real (logit > 0) or
// made. Its training step is one Fit cannot express: two models, two
// losses and two optimizers, the discriminator's update first and then the
// generator's against the updated discriminator, as the GAN of Keras's
// "customizing what happens in fit" guide. It is built from the library's
// pieces: both models run in one graph of its own through AsLayer (the
// discriminator's two calls share its weights), GradientTape takes the
// gradients and each optimizer's Build applies them.
//
// NewGAN builds both models into the GAN's own graph, where their weights
// live: the models are used up (they cannot be compiled afterwards, nor
// given to another GAN). Its methods are safe for concurrent use (they
// take turns); Close releases it.
type GAN struct {
	mu                 sync.Mutex
	sess               *tfwrap.Session
	latent, sampleSize int64
	real, z1, z2, z    tfwrap.Output
	dLoss, gLoss, fake tfwrap.Output
	dStep, gStep       *tfwrap.Op
	gen, disc          []*tfwrap.Variable
}

// StepLosses are one training step's losses: the discriminator's on the
// real and the made batch (labels 1 and 0), before its update, and the
// generator's (its samples labelled 1) against the updated discriminator.
type StepLosses struct{ Discriminator, Generator float64 }

// NewGAN builds the training step of generator (noise of shape [latent] to
// samples) and discriminator (samples to one logit). Both are single-input,
// single-output models whose shapes must fit together, fresh from
// NewSequential or NewModel: not compiled, and not used by another GAN.
// The weights start from their initializers, seeded by o.Seed.
func NewGAN(generator, discriminator *models.Model, o GANOptions) (*GAN, error) {
	if generator == nil || discriminator == nil {
		return nil, errors.New("course: gan: a model is nil")
	}
	gIn, dIn := generator.InputShapes(), discriminator.InputShapes()
	gOut, dOut := [][]int64{generator.OutputShape()}, [][]int64{discriminator.OutputShape()}
	switch {
	case len(gIn) != 1 || len(dIn) != 1 || len(generator.OutputNames()) != 1 || len(discriminator.OutputNames()) != 1:
		return nil, errors.New("course: gan: the generator and the discriminator must each have one input and one output")
	case len(gIn[0]) != 1:
		return nil, fmt.Errorf("course: gan: the generator takes %v; want a noise vector", gIn[0])
	case fmt.Sprint(gOut[0]) != fmt.Sprint(dIn[0]):
		return nil, fmt.Errorf("course: gan: the generator makes %v, the discriminator takes %v", gOut[0], dIn[0])
	case fmt.Sprint(dOut[0]) != "[1]":
		return nil, fmt.Errorf("course: gan: the discriminator gives %v; want one logit", dOut[0])
	}
	for _, m := range []*models.Model{generator, discriminator} {
		if len(m.Weights()) > 0 {
			return nil, fmt.Errorf("course: gan: model %s already has weights (compiled, or used by another GAN); give NewGAN fresh models", m.Name())
		}
	}
	if o.GeneratorOptimizer == nil {
		o.GeneratorOptimizer = optimizers.AdamWith(2e-4, 0.5, 0.999, 1e-7)
	}
	if o.DiscriminatorOptimizer == nil {
		o.DiscriminatorOptimizer = optimizers.AdamWith(2e-4, 0.5, 0.999, 1e-7)
	}
	if o.GeneratorOptimizer == o.DiscriminatorOptimizer {
		return nil, errors.New("course: gan: the two models need an optimizer each")
	}

	g := tfwrap.NewGraph()
	n := &GAN{latent: gIn[0][0]}
	n.sampleSize = 1
	for _, d := range dIn[0] {
		n.sampleSize *= d
	}
	n.real = g.Placeholder("real", tfwrap.Float32, append([]int64{-1}, dIn[0]...)...)
	n.z1 = g.Placeholder("noise_d", tfwrap.Float32, -1, n.latent)
	n.z2 = g.Placeholder("noise_g", tfwrap.Float32, -1, n.latent)
	n.z = g.Placeholder("noise", tfwrap.Float32, -1, n.latent)
	steps := g.Variable("steps", tfwrap.Scalar(int64(0)), tfwrap.NotTrainable())
	run := func(m *models.Model, x tfwrap.Output, training bool) (tfwrap.Output, error) {
		ctx := &layers.Context{Graph: g, Training: training, Seed: o.Seed, Step: steps.Value()}
		out, err := m.AsLayer().ForwardAll(ctx, []tfwrap.Output{x})
		if err != nil {
			return tfwrap.Output{}, fmt.Errorf("course: gan: %w", err)
		}
		return out[0], nil
	}
	bce := func(logits tfwrap.Output, label float64) tfwrap.Output {
		y := g.Add(g.ZerosLike(logits), g.Scalar(label, tfwrap.Float32))
		return losses.BinaryCrossentropy{FromLogits: true}.Build(g, y, losses.Pred{Out: logits})
	}

	// The discriminator's step: real samples are 1, made ones 0.
	fake1, err := run(generator, n.z1, true)
	if err != nil {
		return nil, err
	}
	onReal, err := run(discriminator, n.real, true)
	if err != nil {
		return nil, err
	}
	onFake, err := run(discriminator, fake1, true)
	if err != nil {
		return nil, err
	}
	n.gen, n.disc = generator.AsLayer().Weights(), discriminator.AsLayer().Weights()
	// A NaN or infinite loss fails the step before any weight changes.
	n.dLoss = g.CheckNumerics(g.Div(g.Add(bce(onReal, 1), bce(onFake, 0)), g.Scalar(2, tfwrap.Float32)),
		"the discriminator's loss is NaN or infinite")
	dGrads, err := g.GradientTape().Gradient(n.dLoss, tfwrap.Sources(n.disc)...)
	if err != nil {
		return nil, fmt.Errorf("course: gan: discriminator gradients: %w", err)
	}
	if n.dStep, err = o.DiscriminatorOptimizer.Build(g, n.disc, dGrads); err != nil {
		return nil, fmt.Errorf("course: gan: discriminator optimizer: %w", err)
	}

	// The generator's step: its samples should be scored 1. It runs after
	// the discriminator's, so it reads the updated discriminator.
	fake2, err := run(generator, n.z2, true)
	if err != nil {
		return nil, err
	}
	judged, err := run(discriminator, fake2, true)
	if err != nil {
		return nil, err
	}
	n.gLoss = g.CheckNumerics(bce(judged, 1), "the generator's loss is NaN or infinite")
	gGrads, err := g.GradientTape().Gradient(n.gLoss, tfwrap.Sources(n.gen)...)
	if err != nil {
		return nil, fmt.Errorf("course: gan: generator gradients: %w", err)
	}
	gApply, err := o.GeneratorOptimizer.Build(g, n.gen, gGrads)
	if err != nil {
		return nil, fmt.Errorf("course: gan: generator optimizer: %w", err)
	}
	n.gStep = g.Group("gan_step", gApply, steps.AssignAdd(g.After(gApply), g.Scalar(1, tfwrap.Int64)))

	// Inference: samples from noise.
	if n.fake, err = run(generator, n.z, false); err != nil {
		return nil, err
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("course: gan: %w", err)
	}
	if n.sess, err = g.NewSession(); err != nil {
		return nil, fmt.Errorf("course: gan: %w", err)
	}
	state := append(append(append([]*tfwrap.Variable{steps}, n.gen...), n.disc...),
		append(o.GeneratorOptimizer.State(), o.DiscriminatorOptimizer.State()...)...)
	if err := n.sess.InitVariables(state...); err != nil {
		n.sess.Close()
		return nil, fmt.Errorf("course: gan: %w", err)
	}
	return n, nil
}

// checkBatch checks a batch before it reaches TensorFlow (its dtype, its
// values a sample, finite values) and returns it as [batch, rowSize].
func checkBatch(what string, t *tfwrap.Tensor, rowSize int64) (*tfwrap.Tensor, int64, error) {
	if t == nil {
		return nil, 0, fmt.Errorf("course: gan: %s is nil", what)
	}
	if t.DType() != tfwrap.Float32 {
		return nil, 0, fmt.Errorf("course: gan: %s holds %v, want float32", what, t.DType())
	}
	s := t.Shape()
	if len(s) < 2 || s[0] < 1 {
		return nil, 0, fmt.Errorf("course: gan: %s has shape %v, want a batch of at least one sample", what, s)
	}
	if n := t.NumElements() / s[0]; n != rowSize {
		return nil, 0, fmt.Errorf("course: gan: %s has shape %v, %d values a sample where the model takes %d", what, s, n, rowSize)
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, 0, err
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, 0, fmt.Errorf("course: gan: %s: sample %d holds %v", what, int64(i)/rowSize, x)
		}
	}
	flat, err := t.Reshaped(s[0], rowSize)
	return flat, s[0], err
}

// Step trains both models on one batch of real samples, with noise z1 for
// the discriminator's step and z2 for the generator's (batches of noise
// vectors; z2 may have another batch size).
func (n *GAN) Step(real, z1, z2 *tfwrap.Tensor) (StepLosses, error) {
	real, rb, err := checkBatch("the real batch", real, n.sampleSize)
	if err != nil {
		return StepLosses{}, err
	}
	z1, b1, err := checkBatch("noise z1", z1, n.latent)
	if err != nil {
		return StepLosses{}, err
	}
	if z2, _, err = checkBatch("noise z2", z2, n.latent); err != nil {
		return StepLosses{}, err
	}
	if b1 != rb {
		return StepLosses{}, fmt.Errorf("course: gan: %d real samples and %d noise vectors in z1; want as many", rb, b1)
	}
	real, err = real.Reshaped(append([]int64{rb}, n.real.Shape()[1:]...)...)
	if err != nil {
		return StepLosses{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sess == nil {
		return StepLosses{}, models.ErrClosed
	}
	d, err := n.sess.Run(tfwrap.Feeds{n.real: real, n.z1: z1}, []tfwrap.Output{n.dLoss}, n.dStep)
	if err != nil {
		return StepLosses{}, fmt.Errorf("course: gan: discriminator step: %w", err)
	}
	gl, err := n.sess.Run(tfwrap.Feeds{n.z2: z2}, []tfwrap.Output{n.gLoss}, n.gStep)
	if err != nil {
		return StepLosses{}, fmt.Errorf("course: gan: generator step: %w", err)
	}
	dv, _ := d[0].Float32s()
	gv, _ := gl[0].Float32s()
	return StepLosses{Discriminator: float64(dv[0]), Generator: float64(gv[0])}, nil
}

// GANTrainOptions configures GAN.Train; the zero value means 10 epochs of
// 100 steps of 64 samples, seed 0, no hooks.
type GANTrainOptions struct {
	Epochs, StepsPerEpoch, BatchSize int
	// Seed seeds the batches' draw and the noise.
	Seed uint64
	// Hooks run in the loop, as Fit's: models.ProgressHook shows Keras's
	// display with d_loss and g_loss.
	Hooks []models.Hook
}

// Train runs the GAN's step in a models.Loop: o.Epochs epochs of
// o.StepsPerEpoch steps on real (see TrainStep), with o.Hooks. The history
// holds each epoch's mean d_loss and g_loss. Cancelling ctx stops it
// between steps, returning the history so far and ctx's error.
func (n *GAN) Train(ctx context.Context, real []float32, o GANTrainOptions) (*models.History, error) {
	if o.Epochs < 0 || o.StepsPerEpoch < 0 || o.BatchSize < 0 {
		return nil, fmt.Errorf("course: gan: train: epochs %d, steps %d, batch size %d: want positive numbers (0: the default)", o.Epochs, o.StepsPerEpoch, o.BatchSize)
	}
	if o.Epochs == 0 {
		o.Epochs = 10
	}
	if o.StepsPerEpoch == 0 {
		o.StepsPerEpoch = 100
	}
	step, err := n.TrainStep(real, o.StepsPerEpoch, o.BatchSize, o.Seed)
	if err != nil {
		return nil, err
	}
	return models.Loop{Epochs: o.Epochs, Steps: o.StepsPerEpoch, Hooks: o.Hooks}.Run(ctx, step)
}

// TrainStep returns the GAN's training step for a models.Loop of one's
// own: epochs of steps steps, each drawing a batch of batch samples (0
// means 64) at random from real (samples held one after another, each as
// many values as the discriminator takes) and standard normal noise for
// both models, from seed. Its logs are the epoch's mean d_loss and g_loss.
func (n *GAN) TrainStep(real []float32, steps, batch int, seed uint64) (models.Step, error) {
	size := int(n.sampleSize)
	if len(real) == 0 || len(real)%size != 0 {
		return nil, fmt.Errorf("course: gan: train: %d values are not whole samples of %d", len(real), size)
	}
	if steps < 1 {
		return nil, fmt.Errorf("course: gan: train: %d steps an epoch", steps)
	}
	if batch < 0 {
		return nil, fmt.Errorf("course: gan: train: batch size %d", batch)
	}
	if batch == 0 {
		batch = 64
	}
	if int64(batch)*max(n.sampleSize, n.latent) > maxBatchValues {
		return nil, fmt.Errorf("course: gan: train: batch size %d: a batch would hold over %d values", batch, maxBatchValues)
	}
	for i, x := range real {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("course: gan: train: sample %d holds %v", i/size, x)
		}
	}
	return &ganStep{n: n, real: real, count: len(real) / size, steps: steps, batch: batch,
		rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), buf: make([]float32, batch*size)}, nil
}

// maxBatchValues bounds a training batch (1 GiB of float32).
const maxBatchValues = 1 << 28

type ganStep struct {
	n                   *GAN
	real                []float32
	count, steps, batch int
	rng                 *rand.Rand
	buf                 []float32
	sum                 StepLosses
	done                int
}

func (s *ganStep) BeginEpoch(int) error {
	s.sum, s.done = StepLosses{}, 0
	return nil
}

func (s *ganStep) noise() *tfwrap.Tensor {
	latent := int(s.n.latent)
	z := make([]float32, s.batch*latent)
	for i := range z {
		z[i] = float32(s.rng.NormFloat64())
	}
	t, _ := tfwrap.NewTensor(z, int64(s.batch), int64(latent))
	return t
}

func (s *ganStep) Run(ctx context.Context, e, b int) (bool, error) {
	if b == s.steps {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	size := int(s.n.sampleSize)
	for i := range s.batch {
		k := s.rng.IntN(s.count)
		copy(s.buf[i*size:(i+1)*size], s.real[k*size:(k+1)*size])
	}
	x, err := tfwrap.NewTensor(s.buf, int64(s.batch), int64(size))
	if err != nil {
		return false, err
	}
	l, err := s.n.Step(x, s.noise(), s.noise())
	if err != nil {
		return false, fmt.Errorf("course: gan: epoch %d, step %d: %w", e+1, b+1, err)
	}
	s.sum.Discriminator += l.Discriminator
	s.sum.Generator += l.Generator
	s.done++
	return true, nil
}

func (s *ganStep) Logs() (models.Logs, error) {
	k := float64(max(s.done, 1))
	return models.Logs{"d_loss": s.sum.Discriminator / k, "g_loss": s.sum.Generator / k}, nil
}

// Generate runs the generator, in inference mode, on a batch of noise.
func (n *GAN) Generate(z *tfwrap.Tensor) (*tfwrap.Tensor, error) {
	z, _, err := checkBatch("the noise", z, n.latent)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sess == nil {
		return nil, models.ErrClosed
	}
	out, err := n.sess.Run(tfwrap.Feeds{n.z: z}, []tfwrap.Output{n.fake})
	if err != nil {
		return nil, fmt.Errorf("course: gan: generate: %w", err)
	}
	return out[0], nil
}

// Weights returns the generator's weights, then the discriminator's, each
// in its layers' order (Keras's model.weights).
func (n *GAN) Weights() (gen, disc []*tfwrap.Tensor, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sess == nil {
		return nil, nil, models.ErrClosed
	}
	read := func(vs []*tfwrap.Variable) ([]*tfwrap.Tensor, error) {
		out := make([]*tfwrap.Tensor, len(vs))
		for i, v := range vs {
			t, err := n.sess.Value(v)
			if err != nil {
				return nil, fmt.Errorf("course: gan: read %s: %w", v.Name(), err)
			}
			out[i] = t
		}
		return out, nil
	}
	if gen, err = read(n.gen); err != nil {
		return nil, nil, err
	}
	disc, err = read(n.disc)
	return gen, disc, err
}

// Close releases the GAN's session. It is idempotent; afterwards every
// method returns models.ErrClosed.
func (n *GAN) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sess == nil {
		return nil
	}
	err := n.sess.Close()
	n.sess = nil
	return err
}

// MNISTGenerator is a small generator of 28×28 images with pixels in
// [-1, 1]: noise of size latent, two LeakyReLU layers, a tanh output.
func MNISTGenerator(latent int) (*models.Model, error) {
	return models.NewSequential([]int64{int64(latent)},
		layers.Dense(128, layers.WithName("g_dense1")),
		layers.ReLULayer(layers.ReLUOptions{NegativeSlope: 0.2}, layers.WithName("g_leaky1")),
		layers.Dense(256, layers.WithName("g_dense2")),
		layers.ReLULayer(layers.ReLUOptions{NegativeSlope: 0.2}, layers.WithName("g_leaky2")),
		layers.Dense(784, layers.WithActivation(layers.Tanh), layers.WithName("g_pixels")),
	)
}

// MNISTDiscriminator scores 784-pixel images: two LeakyReLU layers and a
// logit.
func MNISTDiscriminator() (*models.Model, error) {
	return models.NewSequential([]int64{784},
		layers.Dense(256, layers.WithName("d_dense1")),
		layers.ReLULayer(layers.ReLUOptions{NegativeSlope: 0.2}, layers.WithName("d_leaky1")),
		layers.Dense(128, layers.WithName("d_dense2")),
		layers.ReLULayer(layers.ReLUOptions{NegativeSlope: 0.2}, layers.WithName("d_leaky2")),
		layers.Dense(1, layers.WithName("d_logit")),
	)
}
