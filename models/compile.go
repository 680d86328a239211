package models

import (
	"errors"
	"fmt"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// compiled is the TensorFlow side of a model: one graph with an inference
// pass fed from placeholders and a training pass that draws its batches
// from data held in TF variables (or from a fed batch), sharing weights.
type compiled struct {
	g       *tfwrap.Graph
	sess    *tfwrap.Session
	opts    CompileOptions
	loss    losses.Loss
	metrics []metrics.Metric
	labelDT tfwrap.DType
	labelSh []int64

	// Inference.
	x, pred, yEval, evalLoss tfwrap.Output
	evalSums                 []tfwrap.Output

	// Training.
	dataX, dataY, dataW, perm, cursor, batch *tfwrap.Variable
	stepVar, epochVar                        *tfwrap.Variable // training steps and epochs done
	xb, yb, wb, trainLoss                    tfwrap.Output
	weighted                                 bool // the loss weighs samples (a PerSampleLoss)
	trainable                                []*tfwrap.Variable
	grads                                    []tfwrap.Output
	step, reset                              *tfwrap.Op
	accLoss, accCount                        *tfwrap.Variable
	accMetrics                               []*tfwrap.Variable

	weights      []*tfwrap.Variable // every layer variable, Keras order
	weightsSaver *tfwrap.Saver
	fullSaver    *tfwrap.Saver // weights and optimizer state
}

// Compile chooses the loss, optimizer and metrics, builds the model's graph
// in TensorFlow and initializes its weights. A model compiles once.
func (m *Sequential) Compile(opts CompileOptions) error {
	if err := m.lockMutable("compile"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if m.c != nil {
		return errors.New("models: model is already compiled")
	}
	if opts.Loss == nil || opts.Optimizer == nil {
		return errors.New("models: compile needs a Loss and an Optimizer")
	}
	out := m.OutputShape()
	labelSh, err := opts.Loss.LabelShape(out)
	if err != nil {
		return fmt.Errorf("models: loss %s: %w", opts.Loss.Name(), err)
	}
	c := &compiled{opts: opts, loss: opts.Loss, metrics: opts.Metrics, labelDT: opts.Loss.LabelDType(), labelSh: labelSh}
	for _, mt := range opts.Metrics {
		if mt == nil {
			return errors.New("models: a metric is nil")
		}
		if err := mt.Check(c.labelDT, out); err != nil {
			return fmt.Errorf("models: metric %s: %w", mt.Name(), err)
		}
	}
	if err := c.build(m); err != nil {
		return err
	}
	var sopts []tfwrap.SessionOption
	if opts.Threads > 0 {
		sopts = append(sopts, tfwrap.WithThreads(opts.Threads, 1))
	}
	if c.sess, err = c.g.NewSession(sopts...); err != nil {
		return fmt.Errorf("models: compile: %w", err)
	}
	if err := c.sess.InitVariables(); err != nil {
		c.sess.Close()
		return fmt.Errorf("models: compile: %w", err)
	}
	m.c = c
	return nil
}

func (c *compiled) build(m *Sequential) error {
	g := tfwrap.NewGraph()
	if c.opts.Device != "" {
		g = g.OnDevice(c.opts.Device)
	}
	c.g = g
	f32 := tfwrap.Float32

	// Inference pass: creates the weights, named layer/kernel as in Keras.
	c.x = g.Placeholder("inputs", f32, append([]int64{-1}, m.input...)...)
	ctx := &layers.Context{}
	pred, err := m.forward(g, ctx, c.opts.Seed, c.x)
	if err != nil {
		return err
	}
	c.pred = g.Identity("predictions", pred)
	c.yEval = g.Placeholder("labels", c.labelDT, append([]int64{-1}, c.labelSh...)...)
	ev := g.WithScope("evaluate")
	c.evalLoss = withPenalties(ev, c.loss.Build(ev, c.yEval, losses.Pred{Out: pred, Logits: ctx.Logits, LogitsOf: ctx.LogitsOf}), ctx.Losses)
	for _, mt := range c.metrics {
		c.evalSums = append(c.evalSums, ev.Sum(mt.Build(ev, c.yEval, pred)))
	}
	for _, l := range m.layers {
		c.weights = append(c.weights, l.Weights()...)
	}

	// Data held in TF, and a cursor over a per-epoch permutation.
	d := g.WithScope("data")
	emptyX, err := tfwrap.Zeros(f32, append([]int64{0}, m.input...)...)
	if err != nil {
		return err
	}
	emptyY, err := tfwrap.Zeros(c.labelDT, append([]int64{0}, c.labelSh...)...)
	if err != nil {
		return err
	}
	emptyP, err := tfwrap.Zeros(tfwrap.Int32, 0)
	if err != nil {
		return err
	}
	emptyW, err := tfwrap.Zeros(f32, 0)
	if err != nil {
		return err
	}
	c.dataX = d.Variable("x", emptyX, tfwrap.NotTrainable(), tfwrap.WithShape(append([]int64{-1}, m.input...)...))
	c.dataY = d.Variable("y", emptyY, tfwrap.NotTrainable(), tfwrap.WithShape(append([]int64{-1}, c.labelSh...)...))
	c.dataW = d.Variable("sample_weights", emptyW, tfwrap.NotTrainable(), tfwrap.WithShape(-1))
	c.perm = d.Variable("permutation", emptyP, tfwrap.NotTrainable(), tfwrap.WithShape(-1))
	c.cursor = d.Variable("cursor", tfwrap.Scalar(int32(0)), tfwrap.NotTrainable())
	c.batch = d.Variable("batch_size", tfwrap.Scalar(int32(32)), tfwrap.NotTrainable())
	progress := g.WithScope("progress")
	c.stepVar = progress.Variable("steps", tfwrap.Scalar(int64(0)), tfwrap.NotTrainable())
	c.epochVar = progress.Variable("epochs", tfwrap.Scalar(int64(0)), tfwrap.NotTrainable())
	start := c.cursor.Value()
	n := d.Reshape(d.ShapeOf(c.perm.Value()))
	size := d.Minimum(c.batch.Value(), d.Sub(n, start))
	idx := d.Slice(c.perm.Value(), start, size)
	c.xb = g.PlaceholderWithDefault("train_inputs", d.Gather(c.dataX.Value(), idx), append([]int64{-1}, m.input...)...)
	c.yb = g.PlaceholderWithDefault("train_labels", d.Gather(c.dataY.Value(), idx), append([]int64{-1}, c.labelSh...)...)
	// Per-sample weights, drawn with the same indices as the batch.
	c.wb = g.PlaceholderWithDefault("train_sample_weights", d.Gather(c.dataW.Value(), idx), -1)

	// Training pass, sharing the weights.
	tg := g.WithScope("training")
	tctx := &layers.Context{Training: true, Step: c.stepVar.Value()}
	tpred, err := m.forward(tg, tctx, c.opts.Seed, c.xb)
	if err != nil {
		return err
	}
	tp := losses.Pred{Out: tpred, Logits: tctx.Logits, LogitsOf: tctx.LogitsOf}
	var loss tfwrap.Output
	if pl, ok := c.loss.(losses.PerSampleLoss); ok {
		c.weighted = true
		loss = losses.WeightedMean(tg, pl.PerSample(tg, c.yb, tp), c.wb)
	} else {
		loss = c.loss.Build(tg, c.yb, tp)
	}
	loss = withPenalties(tg, loss, tctx.Losses)
	c.trainLoss = tg.CheckNumerics(loss, "the training loss is NaN or infinite")
	for _, w := range c.weights {
		if w.Trainable() {
			c.trainable = append(c.trainable, w)
		}
	}
	if len(c.trainable) == 0 {
		return errors.New("models: the model has no trainable weights")
	}
	if c.grads, err = g.GradientTape().Gradient(c.trainLoss, trainableSources(c.trainable)...); err != nil {
		return fmt.Errorf("models: gradients: %w", err)
	}
	apply, err := c.opts.Optimizer.Build(g, c.trainable, c.grads)
	if err != nil {
		return fmt.Errorf("models: optimizer %s: %w", c.opts.Optimizer.Name(), err)
	}

	// Running sums of the epoch's loss and metrics, kept in TF.
	acc := g.WithScope("metrics")
	zero := tfwrap.Scalar(float32(0))
	c.accLoss = acc.Variable("loss_sum", zero, tfwrap.NotTrainable())
	c.accCount = acc.Variable("count", zero, tfwrap.NotTrainable())
	nb := tg.Cast(tg.Reshape(tg.Slice(tg.ShapeOf(c.xb), tg.Scalar(0, tfwrap.Int32), tg.Scalar(1, tfwrap.Int32))), f32)
	updates := append([]*tfwrap.Op{apply}, tctx.Updates...)
	updates = append(updates,
		c.accLoss.AssignAdd(tg, tg.Mul(c.trainLoss, nb)),
		c.accCount.AssignAdd(tg, nb),
		c.cursor.AssignAdd(tg, size),
		c.stepVar.AssignAdd(tg.After(apply), tg.Scalar(1, tfwrap.Int64)))
	resets := []*tfwrap.Op{c.accLoss.Assign(acc, acc.Scalar(0, f32)), c.accCount.Assign(acc, acc.Scalar(0, f32))}
	for _, mt := range c.metrics {
		v := acc.Variable(mt.Name()+"_sum", zero, tfwrap.NotTrainable())
		c.accMetrics = append(c.accMetrics, v)
		updates = append(updates, v.AssignAdd(tg, tg.Sum(mt.Build(tg, c.yb, tpred))))
		resets = append(resets, v.Assign(acc, acc.Scalar(0, f32)))
	}
	c.step = g.Group("train", updates...)
	c.reset = g.Group("reset_metrics", resets...)

	c.weightsSaver = g.NewSaver(c.weights, nil)
	state := append(append([]*tfwrap.Variable{}, c.weights...), c.opts.Optimizer.State()...)
	c.fullSaver = g.NewSaver(append(state, c.stepVar, c.epochVar), nil)
	if err := g.Err(); err != nil {
		return fmt.Errorf("models: compile: %w", err)
	}
	return nil
}

// withPenalties adds the layers' regularization penalties to a batch's
// loss, as Keras adds the sum of model.losses to the compiled loss; the
// loss it reports includes them.
func withPenalties(g *tfwrap.Graph, loss tfwrap.Output, penalties []tfwrap.Output) tfwrap.Output {
	if len(penalties) == 0 {
		return loss
	}
	sum := penalties[0]
	for _, p := range penalties[1:] {
		sum = g.Add(sum, p)
	}
	return g.Add(loss, sum)
}

func trainableSources(vs []*tfwrap.Variable) []tfwrap.Source {
	out := make([]tfwrap.Source, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// forward adds every layer's ops for a batch x.
func (m *Sequential) forward(g *tfwrap.Graph, ctx *layers.Context, seed uint64, x tfwrap.Output) (tfwrap.Output, error) {
	var mask tfwrap.Output
	for _, l := range m.layers {
		ctx.Graph = g.WithScope(l.Name())
		ctx.Seed = seedFor(seed, l.Name())
		ctx.Masks, ctx.OutMasks = []tfwrap.Output{mask}, nil
		out, err := l.Forward(ctx, x)
		if err != nil {
			return tfwrap.Output{}, fmt.Errorf("models: %w", err)
		}
		mask = nextMask(l.Type(), ctx, mask)
		x = out
	}
	ctx.Masks, ctx.OutMasks = nil, nil
	return x, nil
}

// nextMask is the mask of a layer's first output: the one it set, or its
// input's when its type hands masks on, or none.
func nextMask(typ string, ctx *layers.Context, in tfwrap.Output) tfwrap.Output {
	if ctx.OutMasks != nil {
		if len(ctx.OutMasks) > 0 {
			return ctx.OutMasks[0]
		}
		return tfwrap.Output{}
	}
	if layers.PassesMask(typ) {
		return in
	}
	return tfwrap.Output{}
}

// Close releases the model's TensorFlow session. It is idempotent and safe
// for concurrent use. While Fit trains the model, Close returns ErrTraining
// and closes nothing: cancel Fit's context and wait for it first.
func (m *Sequential) Close() error {
	if err := m.lockMutable("close"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if m.c == nil || m.c.sess == nil {
		return nil
	}
	return m.c.sess.Close()
}

// session returns the compiled model or ErrNotCompiled / ErrClosed.
func (m *Sequential) session() (*compiled, error) {
	if m.c == nil {
		return nil, ErrNotCompiled
	}
	if m.c.sess.Closed() {
		return nil, fmt.Errorf("models: model is %w", ErrClosed)
	}
	return m.c, nil
}

// Weights returns the model's variables in Keras's get_weights order
// (layer by layer: kernel, bias; gamma, beta, moving mean, moving variance).
func (m *Sequential) Weights() []*tfwrap.Variable {
	if m.c == nil {
		return nil
	}
	return append([]*tfwrap.Variable{}, m.c.weights...)
}

// GetWeights returns the current values of Weights.
func (m *Sequential) GetWeights() ([]*tfwrap.Tensor, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return nil, err
	}
	outs := make([]tfwrap.Output, len(c.weights))
	for i, w := range c.weights {
		outs[i] = w.Value()
	}
	return c.sess.Run(nil, outs)
}

// SetWeights assigns values to Weights, in the same order, as Keras's
// set_weights; each must have its variable's dtype and shape.
func (m *Sequential) SetWeights(values []*tfwrap.Tensor) error {
	if err := m.lockMutable("set weights"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	c, err := m.session()
	if err != nil {
		return err
	}
	if len(values) != len(c.weights) {
		return fmt.Errorf("models: set weights: got %d tensors, the model has %d weights", len(values), len(c.weights))
	}
	for i, w := range c.weights {
		if err := c.sess.SetValue(w, values[i]); err != nil {
			return fmt.Errorf("models: set weights: %w", err)
		}
	}
	return nil
}

// SaveWeights writes the weights to a TensorFlow checkpoint at prefix
// (prefix.index and prefix.data-*), atomically.
func (m *Sequential) SaveWeights(prefix string) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return err
	}
	return c.sess.Save(c.weightsSaver, prefix)
}

// LoadWeights reads weights saved by SaveWeights from a model of the same
// architecture.
func (m *Sequential) LoadWeights(prefix string) error {
	if err := m.lockMutable("load weights"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	c, err := m.session()
	if err != nil {
		return err
	}
	return c.sess.Restore(c.weightsSaver, prefix)
}

// SaveCheckpoint writes the whole training state to a TensorFlow checkpoint
// at prefix: the weights, the optimizer's slots, iteration count and
// learning rate, the step count that seeds dropout, and the epochs done.
// A model restored from it with RestoreCheckpoint and fitted on with
// FitOptions.InitialEpoch continues exactly as an uninterrupted run.
func (m *Sequential) SaveCheckpoint(prefix string) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return err
	}
	return c.sess.Save(c.fullSaver, prefix)
}

// RestoreCheckpoint reads what SaveCheckpoint wrote (from a model of the
// same architecture, loss and optimizer) and returns the epochs done.
func (m *Sequential) RestoreCheckpoint(prefix string) (epochs int, err error) {
	if err := m.lockMutable("restore checkpoint"); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	c, err := m.session()
	if err != nil {
		return 0, err
	}
	if err := c.sess.Restore(c.fullSaver, prefix); err != nil {
		return 0, err
	}
	t, err := c.sess.Value(c.epochVar)
	if err != nil {
		return 0, err
	}
	v, err := t.Int64s()
	if err != nil {
		return 0, err
	}
	return int(v[0]), nil
}

// ServingGraph is what an exporter needs from a compiled model: its session,
// the saver of its weights, and the inference pass's input and output.
type ServingGraph struct {
	Session       *tfwrap.Session
	Saver         *tfwrap.Saver
	Input, Output tfwrap.Output
}

// Serving returns the model's ServingGraph. The model owns everything in
// it; it is valid until Close.
func (m *Sequential) Serving() (ServingGraph, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return ServingGraph{}, err
	}
	return ServingGraph{Session: c.sess, Saver: c.weightsSaver, Input: c.x, Output: c.pred}, nil
}

// SetWeightsByName assigns tensors to the weights of those names (e.g.
// "block1_conv/kernel"), leaving the others as they are: how a pretrained
// backbone's weights go into a bigger model. Unknown names and tensors of
// the wrong dtype or shape are errors, and then nothing is assigned.
func (m *Sequential) SetWeightsByName(values map[string]*tfwrap.Tensor) error {
	if err := m.lockMutable("set weights"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	c, err := m.session()
	if err != nil {
		return err
	}
	byName := map[string]*tfwrap.Variable{}
	for _, w := range c.weights {
		byName[w.Name()] = w
	}
	for name, t := range values {
		w, ok := byName[name]
		if !ok {
			return fmt.Errorf("models: set weights: the model has no weight %q", name)
		}
		if t == nil || t.DType() != w.DType() || !shape.Equal(t.Shape(), w.Shape()) {
			return fmt.Errorf("models: set weights: %q is %v%v, the weight is %v%v", name, t.DType(), t.Shape(), w.DType(), w.Shape())
		}
	}
	for name, t := range values {
		if err := c.sess.SetValue(byName[name], t); err != nil {
			return fmt.Errorf("models: set weights: %w", err)
		}
	}
	return nil
}

// SetLearningRate changes the optimizer's learning rate. It is the one
// change allowed while Fit runs, as Keras's ReduceLROnPlateau and
// LearningRateScheduler make it from a callback: the rate is a TF variable,
// and the next step reads the new value. With a learning-rate schedule
// (optimizers.WithSchedule) it has no effect.
func (m *Sequential) SetLearningRate(lr float64) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return err
	}
	if !(lr > 0) {
		return fmt.Errorf("models: learning rate %v must be positive", lr)
	}
	return c.sess.SetValue(c.opts.Optimizer.LearningRateVariable(), tfwrap.Scalar(float32(lr)))
}

// LearningRate returns the optimizer's current learning rate, as
// TensorFlow holds it. It is read-only, so callbacks may call it.
func (m *Sequential) LearningRate() (float64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return 0, err
	}
	t, err := c.sess.Value(c.opts.Optimizer.LearningRateVariable())
	if err != nil {
		return 0, fmt.Errorf("models: learning rate: %w", err)
	}
	v, err := t.Float32s()
	if err != nil {
		return 0, fmt.Errorf("models: learning rate: %w", err)
	}
	return float64(v[0]), nil
}

// StopTraining makes Fit stop after the current epoch (or batch, when
// called from a batch callback). It is safe for concurrent use.
func (m *Sequential) StopTraining() { m.stop.Store(true) }
