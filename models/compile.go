package models

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/tfgo-project/gotf/internal/cpuinfo"
	"github.com/tfgo-project/gotf/internal/suggest"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/tfwrap"
)

// compiled is the TensorFlow side of a model: one graph with an inference
// pass fed from placeholders and a training pass that draws its batches
// from data held in TF variables (or from a fed batch), sharing weights.
type compiled struct {
	bytesSig *tfwrap.SignatureDef // the serving_bytes signature, once ExportWith made it
	g        *tfwrap.Graph
	sess     *tfwrap.Session
	opts     CompileOptions
	inNames  []string
	outs     []*outputSpec
	// maskedOut names an output that carries a mask (an Embedding's
	// mask_zero reaching it, position by position): Keras leaves the
	// masked positions out of that output's loss and metrics, which Go's
	// losses do not do, so Fit and Evaluate refuse such a model rather
	// than train it differently (errMaskedOutput). Predict is unaffected.
	maskedOut string

	// Inference.
	xs       []tfwrap.Output // one placeholder per input
	evalLoss tfwrap.Output   // the total
	evalLogs []tfwrap.Output // per output loss (several outputs), then metric sums
	logNames []string        // the keys of evalLogs and accLogs

	// Training.
	dataX, dataY               []*tfwrap.Variable
	dataW, perm, cursor, batch *tfwrap.Variable
	stepVar, epochVar          *tfwrap.Variable // training steps and epochs done
	xb, yb                     []tfwrap.Output
	wb, trainLoss              tfwrap.Output
	weighted                   bool // every loss weighs samples (a PerSampleLoss)
	trainable                  []*tfwrap.Variable
	grads                      []tfwrap.Output
	step, reset                *tfwrap.Op
	accLoss, accCount          *tfwrap.Variable
	accLogs                    []*tfwrap.Variable // sums behind logNames

	weights      []*tfwrap.Variable // every layer variable, Keras order
	dist         *replicas          // the replicas of a distributed model, or nil
	weightsSaver *tfwrap.Saver
	fullSaver    *tfwrap.Saver // weights and optimizer state
}

// outputSpec is what Compile chose for one output.
type outputSpec struct {
	name    string
	loss    losses.Loss
	weight  float64
	metrics []metrics.Metric
	labelDT tfwrap.DType
	labelSh []int64
	pred    tfwrap.Output // the inference pass's output
	yEval   tfwrap.Output // its labels placeholder
}

// logName is the key of an output's loss or metric in the logs: the bare
// name for a one-output model, output_name for several, as Keras 3.
func (c *compiled) logName(o *outputSpec, name string) string {
	if len(c.outs) == 1 {
		return name
	}
	return o.name + "_" + name
}

// Compile chooses the loss, optimizer and metrics, builds the model's graph
// in TensorFlow and initializes its weights. A model compiles once.
func (m *Model) Compile(opts CompileOptions) error {
	if err := m.lockMutable("compile"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if m.c != nil {
		return errors.New("models: model is already compiled")
	}
	if opts.Optimizer == nil {
		return errors.New("models: compile needs an Optimizer")
	}
	for _, l := range m.layerList {
		if len(l.Weights()) > 0 {
			return fmt.Errorf("models: compile: layer %s already has weights, made by an earlier Compile (a failed one of this model, or another model's that holds the layer); they live in that graph: build the model again with new layers", l.Name())
		}
	}
	if err := opts.Distribute.check(opts); err != nil {
		return err
	}
	sopts, err := sessionOptions(opts) // before the graph takes the layers' weights
	if err != nil {
		return err
	}
	c := &compiled{opts: opts}
	for _, s := range m.inputs {
		c.inNames = append(c.inNames, s.name)
	}
	if err := c.chooseOutputs(m); err != nil {
		return err
	}
	if err := c.build(m); err != nil {
		return err
	}
	if opts.Distribute != nil {
		err = c.openSessions(sopts)
	} else {
		c.sess, err = c.g.NewSession(sopts...)
	}
	if err != nil {
		return fmt.Errorf("models: compile: %w", err)
	}
	if err := c.sess.InitVariables(); err != nil {
		c.closeSessions()
		return fmt.Errorf("models: compile: %w", c.diagnose(err))
	}
	m.c = c
	return nil
}

// MixedBFloat16 is Keras's mixed_bfloat16 policy (CompileOptions.Precision).
const MixedBFloat16 = "mixed_bfloat16"

// sessionOptions are the session options of opts' thread settings and
// precision; none by default.
func sessionOptions(opts CompileOptions) ([]tfwrap.SessionOption, error) {
	if opts.Threads < 0 || opts.Threads > tfwrap.MaxThreads {
		return nil, fmt.Errorf("models: compile: threads %d: want 0 (TensorFlow's default) to %d", opts.Threads, tfwrap.MaxThreads)
	}
	if err := tfwrap.CheckThreads(opts.IntraOpThreads, opts.InterOpThreads); err != nil {
		return nil, fmt.Errorf("models: compile: %w", err)
	}
	intra, inter := opts.IntraOpThreads, opts.InterOpThreads
	if opts.Threads > 0 {
		if intra == 0 {
			intra = opts.Threads
		}
		if inter == 0 {
			inter = 1
		}
	}
	var so []tfwrap.SessionOption
	switch opts.Precision {
	case "", "float32":
	case MixedBFloat16:
		if opts.Distribute != nil {
			return nil, fmt.Errorf("models: compile: precision %q is not supported with Distribute", opts.Precision)
		}
		if err := cpuinfo.BFloat16(); err != nil {
			return nil, fmt.Errorf("models: compile: precision %q: %w", opts.Precision, err)
		}
		so = append(so, tfwrap.WithBFloat16(true))
	default:
		return nil, fmt.Errorf("models: compile: precision %q: want \"float32\" or %q", opts.Precision, MixedBFloat16)
	}
	if intra == 0 && inter == 0 {
		return so, nil
	}
	return append(so, tfwrap.WithThreads(intra, inter)), nil
}

// chooseOutputs picks each output's loss, weight and metrics and checks
// them against its shape, in Go.
func (c *compiled) chooseOutputs(m *Model) error {
	opts := c.opts
	known := map[string]bool{}
	for _, n := range m.outNames {
		known[n] = true
	}
	check := func(what string, names []string) error {
		sort.Strings(names)
		for _, n := range names {
			if !known[n] {
				return fmt.Errorf("models: compile: %s names output %q; the model's outputs are %s%s",
					what, n, strings.Join(m.outNames, ", "), suggest.Hint(n, m.outNames))
			}
		}
		return nil
	}
	if err := check("Losses", mapKeys(opts.Losses)); err != nil {
		return err
	}
	if err := check("LossWeights", mapKeys(opts.LossWeights)); err != nil {
		return err
	}
	if err := check("OutputMetrics", mapKeys(opts.OutputMetrics)); err != nil {
		return err
	}
	for i, name := range m.outNames {
		o := &outputSpec{name: name, loss: opts.Loss, weight: 1}
		if l, ok := opts.Losses[name]; ok {
			o.loss = l
		}
		if o.loss == nil {
			if len(m.outNames) == 1 {
				return errors.New("models: compile needs a Loss and an Optimizer")
			}
			return fmt.Errorf("models: compile: output %q has no loss; give Loss (for every output) or Losses[%q]", name, name)
		}
		if w, ok := opts.LossWeights[name]; ok {
			if !(w >= 0) || math.IsInf(w, 0) {
				return fmt.Errorf("models: compile: loss weight %v of output %q is not a finite non-negative number", w, name)
			}
			o.weight = w
		}
		out := m.outputs[i].shape
		sh, err := o.loss.LabelShape(out)
		if err != nil {
			if len(m.outNames) == 1 {
				return fmt.Errorf("models: loss %s: %w", o.loss.Name(), err)
			}
			return fmt.Errorf("models: output %q: loss %s: %w", name, o.loss.Name(), err)
		}
		o.labelDT, o.labelSh = o.loss.LabelDType(), sh
		o.metrics = append(append([]metrics.Metric{}, opts.Metrics...), opts.OutputMetrics[name]...)
		for _, mt := range o.metrics {
			if mt == nil {
				return errors.New("models: a metric is nil")
			}
			if err := mt.Check(o.labelDT, out); err != nil {
				if len(m.outNames) == 1 {
					return fmt.Errorf("models: metric %s: %w", mt.Name(), err)
				}
				return fmt.Errorf("models: output %q: metric %s: %w", name, mt.Name(), err)
			}
		}
		c.outs = append(c.outs, o)
	}
	return nil
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (c *compiled) build(m *Model) error {
	g := tfwrap.NewGraph()
	if c.opts.Device != "" {
		g = g.OnDevice(c.opts.Device)
	}
	wg := g // the view that makes the weights
	if dd := c.opts.Distribute; dd != nil {
		// The cluster's tasks share a variable among every session that
		// names it: a container of its own keeps this model's apart.
		g = g.OnDevice(dd.chief()).WithContainer(newContainer())
		wg = g.WithVariableDevice(dd.varDevice())
	}
	c.g = g
	f32 := tfwrap.Float32

	// Inference pass: creates the weights, named layer/kernel as in Keras.
	for _, s := range m.inputs {
		c.xs = append(c.xs, g.Placeholder(s.name, f32, append([]int64{-1}, s.shape...)...))
	}
	ctx := &layers.Context{}
	res, err := m.forward(wg, ctx, c.opts.Seed, c.xs, nil)
	if err != nil {
		return fmt.Errorf("models: %w", err)
	}
	for i, r := range res {
		if r.mask.Valid() && c.maskedOut == "" {
			c.maskedOut = c.outs[i].name
		}
	}
	ev := g.WithScope("evaluate")
	var evalLosses []tfwrap.Output
	for i, o := range c.outs {
		if m.seq {
			o.pred = g.Identity("predictions", res[i].pred.Out)
			o.yEval = g.Placeholder("labels", o.labelDT, append([]int64{-1}, o.labelSh...)...)
		} else {
			o.pred = g.Identity(o.name+"_predictions", res[i].pred.Out)
			o.yEval = g.Placeholder(o.name+"_labels", o.labelDT, append([]int64{-1}, o.labelSh...)...)
		}
		evalLosses = append(evalLosses, o.loss.Build(ev, o.yEval, res[i].pred))
	}
	c.evalLoss = withPenalties(ev, c.total(ev, evalLosses), ctx.Losses)
	if len(c.outs) > 1 {
		for i, o := range c.outs {
			c.evalLogs = append(c.evalLogs, evalLosses[i])
			c.logNames = append(c.logNames, c.logName(o, "loss"))
		}
	}
	for i, o := range c.outs {
		for _, mt := range o.metrics {
			c.evalLogs = append(c.evalLogs, ev.Sum(mt.Build(ev, o.yEval, res[i].pred.Out)))
			c.logNames = append(c.logNames, c.logName(o, mt.Name()))
		}
	}
	c.weights = m.Weights()

	// Data held in TF, and a cursor over a per-epoch permutation.
	d := g.WithScope("data")
	dataVar := func(name string, dt tfwrap.DType, perSample []int64) (*tfwrap.Variable, error) {
		empty, err := tfwrap.Zeros(dt, append([]int64{0}, perSample...)...)
		if err != nil {
			return nil, err
		}
		return d.Variable(name, empty, tfwrap.NotTrainable(), tfwrap.WithShape(append([]int64{-1}, perSample...)...)), nil
	}
	for i, s := range m.inputs {
		name := "x"
		if !m.seq {
			name = "x_" + s.name
		}
		v, err := dataVar(name, f32, s.shape)
		if err != nil {
			return err
		}
		c.dataX = append(c.dataX, v)
		_ = i
	}
	for _, o := range c.outs {
		name := "y"
		if !m.seq {
			name = "y_" + o.name
		}
		v, err := dataVar(name, o.labelDT, o.labelSh)
		if err != nil {
			return err
		}
		c.dataY = append(c.dataY, v)
	}
	if c.dataW, err = dataVar("sample_weights", f32, nil); err != nil {
		return err
	}
	if c.perm, err = dataVar("permutation", tfwrap.Int32, nil); err != nil {
		return err
	}
	c.cursor = d.Variable("cursor", tfwrap.Scalar(int32(0)), tfwrap.NotTrainable())
	c.batch = d.Variable("batch_size", tfwrap.Scalar(int32(32)), tfwrap.NotTrainable())
	progress := g.WithScope("progress")
	c.stepVar = progress.Variable("steps", tfwrap.Scalar(int64(0)), tfwrap.NotTrainable())
	c.epochVar = progress.Variable("epochs", tfwrap.Scalar(int64(0)), tfwrap.NotTrainable())
	if c.opts.Distribute != nil {
		if err := c.buildReplicas(m, g, d); err != nil {
			return err
		}
	} else if err := c.buildStep(m, g, d); err != nil {
		return err
	}

	c.weightsSaver = g.NewSaver(c.weights, nil)
	state := append(append([]*tfwrap.Variable{}, c.weights...), c.opts.Optimizer.State()...)
	c.fullSaver = g.NewSaver(append(state, c.stepVar, c.epochVar), nil)
	if err := g.Err(); err != nil {
		return fmt.Errorf("models: compile: %w", err)
	}
	return nil
}

// buildStep adds the one-process training step: the batch at the cursor
// drawn from the uploaded data (or fed), forward, gradients, the
// optimizer's update and the running metrics.
func (c *compiled) buildStep(m *Model, g, d *tfwrap.Graph) error {
	f32 := tfwrap.Float32
	var err error
	start := c.cursor.Value()
	n := d.Reshape(d.ShapeOf(c.perm.Value()))
	size := d.Minimum(c.batch.Value(), d.Sub(n, start))
	idx := d.Slice(c.perm.Value(), start, size)
	for i, s := range m.inputs {
		name := "train_inputs"
		if !m.seq {
			name = "train_" + s.name
		}
		c.xb = append(c.xb, g.PlaceholderWithDefault(name, d.Gather(c.dataX[i].Value(), idx), append([]int64{-1}, s.shape...)...))
	}
	for i, o := range c.outs {
		name := "train_labels"
		if !m.seq {
			name = "train_" + o.name + "_labels"
		}
		c.yb = append(c.yb, g.PlaceholderWithDefault(name, d.Gather(c.dataY[i].Value(), idx), append([]int64{-1}, o.labelSh...)...))
	}
	// Per-sample weights, drawn with the same indices as the batch.
	c.wb = g.PlaceholderWithDefault("train_sample_weights", d.Gather(c.dataW.Value(), idx), -1)

	// Training pass, sharing the weights.
	tg := g.WithScope("training")
	tctx := &layers.Context{Training: true, Step: c.stepVar.Value()}
	tres, err := m.forward(tg, tctx, c.opts.Seed, c.xb, nil)
	if err != nil {
		return fmt.Errorf("models: %w", err)
	}
	c.weighted = true
	for _, o := range c.outs {
		if _, ok := o.loss.(losses.PerSampleLoss); !ok {
			c.weighted = false
		}
	}
	trainLosses := make([]tfwrap.Output, len(c.outs))
	for i, o := range c.outs {
		if c.weighted {
			trainLosses[i] = losses.WeightedMean(tg, o.loss.(losses.PerSampleLoss).PerSample(tg, c.yb[i], tres[i].pred), c.wb)
		} else {
			trainLosses[i] = o.loss.Build(tg, c.yb[i], tres[i].pred)
		}
	}
	loss := withPenalties(tg, c.total(tg, trainLosses), tctx.Losses)
	c.trainLoss = tg.CheckNumerics(loss, "the training loss is NaN or infinite")
	for _, w := range c.weights {
		if w.Trainable() {
			c.trainable = append(c.trainable, w)
		}
	}
	if len(c.trainable) == 0 {
		return errors.New("models: the model has no trainable weights")
	}
	if c.grads, err = g.GradientTape().Gradient(c.trainLoss, tfwrap.Sources(c.trainable)...); err != nil {
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
	nb := tg.Cast(tg.Reshape(tg.Slice(tg.ShapeOf(c.xb[0]), tg.Scalar(0, tfwrap.Int32), tg.Scalar(1, tfwrap.Int32))), f32)
	updates := append([]*tfwrap.Op{apply}, tctx.Updates...)
	updates = append(updates,
		c.accLoss.AssignAdd(tg, tg.Mul(c.trainLoss, nb)),
		c.accCount.AssignAdd(tg, nb),
		c.cursor.AssignAdd(tg, size),
		c.stepVar.AssignAdd(tg.After(apply), tg.Scalar(1, tfwrap.Int64)))
	resets := []*tfwrap.Op{c.accLoss.Assign(acc, acc.Scalar(0, f32)), c.accCount.Assign(acc, acc.Scalar(0, f32))}
	var trainLogs []tfwrap.Output // batch sums behind logNames
	if len(c.outs) > 1 {
		for _, l := range trainLosses {
			trainLogs = append(trainLogs, tg.Mul(l, nb))
		}
	}
	for i, o := range c.outs {
		for _, mt := range o.metrics {
			trainLogs = append(trainLogs, tg.Sum(mt.Build(tg, c.yb[i], tres[i].pred.Out)))
		}
	}
	for i, name := range c.logNames {
		v := acc.Variable(name+"_sum", zero, tfwrap.NotTrainable())
		c.accLogs = append(c.accLogs, v)
		updates = append(updates, v.AssignAdd(tg, trainLogs[i]))
		resets = append(resets, v.Assign(acc, acc.Scalar(0, f32)))
	}
	c.step = g.Group("train", updates...)
	c.reset = g.Group("reset_metrics", resets...)
	return nil
}

// total is the loss training minimizes: the outputs' losses, each times
// its weight, summed, as Keras's loss_weights.
func (c *compiled) total(g *tfwrap.Graph, ls []tfwrap.Output) tfwrap.Output {
	if len(ls) == 1 && c.outs[0].weight == 1 {
		return ls[0]
	}
	var sum tfwrap.Output
	for i, l := range ls {
		if w := c.outs[i].weight; w != 1 {
			l = g.Mul(l, g.Scalar(w, tfwrap.Float32))
		}
		if i == 0 {
			sum = l
		} else {
			sum = g.Add(sum, l)
		}
	}
	return sum
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

// Close releases the model's TensorFlow session. It is idempotent and safe
// for concurrent use. While Fit trains the model, Close returns ErrTraining
// and closes nothing: cancel Fit's context and wait for it first.
func (m *Model) Close() error {
	if err := m.lockMutable("close"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if m.c == nil || m.c.sess == nil {
		return nil
	}
	return m.c.closeSessions()
}

// errMaskedOutput is Fit's and Evaluate's error for a model whose output
// carries a mask (see compiled.maskedOut).
func (c *compiled) errMaskedOutput(what string) error {
	if c.maskedOut == "" {
		return nil
	}
	return fmt.Errorf("models: %s: output %q carries an Embedding's mask (mask_zero) position by position; Keras leaves the masked positions out of its loss and metrics, which Go does not do yet, so it refuses to train or evaluate the model rather than compute another loss (Predict works); pool or reduce the sequence before the output (GlobalAveragePooling1D, an LSTM without return_sequences), or drop mask_zero", what, c.maskedOut)
}

// session returns the compiled model or ErrNotCompiled / ErrClosed.
func (m *Model) session() (*compiled, error) {
	if m.c == nil {
		return nil, ErrNotCompiled
	}
	if m.c.sess.Closed() {
		return nil, fmt.Errorf("models: model is %w", ErrClosed)
	}
	return m.c, nil
}

// servingGraph is what Export needs from a compiled model: its session,
// the saver of its weights, and the inference pass's inputs and outputs,
// by the names the serving signature gives them (InputNames and
// OutputNames; "inputs" and "outputs" for a Sequential model). Input and
// Output are the first of each.
type servingGraph struct {
	Session         *tfwrap.Session
	Saver           *tfwrap.Saver
	Input, Output   tfwrap.Output
	Inputs, Outputs map[string]tfwrap.Output
}

// serving returns the model's servingGraph. The model owns everything in
// it; it is valid until Close, and only while the caller holds m.mu (a
// step or Close may run as soon as it is released).
func (m *Model) serving() (servingGraph, error) {
	c, err := m.session()
	if err != nil {
		return servingGraph{}, err
	}
	sg := servingGraph{Session: c.sess, Saver: c.weightsSaver, Input: c.xs[0], Output: c.outs[0].pred,
		Inputs: map[string]tfwrap.Output{}, Outputs: map[string]tfwrap.Output{}}
	for i, x := range c.xs {
		sg.Inputs[c.inNames[i]] = x
	}
	for i, o := range c.outs {
		sg.Outputs[m.outNames[i]] = o.pred
	}
	return sg, nil
}

// SetLearningRate changes the optimizer's learning rate. It is the one
// change allowed while Fit runs, as Keras's ReduceLROnPlateau and
// LearningRateScheduler make it from a callback: the rate is a TF variable,
// and the next step reads the new value. With a learning-rate schedule
// (optimizers.WithSchedule) it has no effect.
func (m *Model) SetLearningRate(lr float64) error {
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
func (m *Model) LearningRate() (float64, error) {
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
func (m *Model) StopTraining() { m.stop.Store(true) }

// predictInline says whether Predict runs the ops in the caller's thread:
// unless the options ask for an inter-op pool.
func (c *compiled) predictInline() bool {
	return c.opts.InterOpThreads <= 0 && c.opts.Threads <= 0
}
