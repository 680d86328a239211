package models

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// FitOptions configures Fit. The zero value means one epoch, batches of
// 32, shuffled with seed 0, no validation, progress on stdout.
type FitOptions struct {
	Epochs    int
	BatchSize int
	// NoShuffle keeps the samples in order; by default each epoch visits
	// them in a new seeded permutation.
	NoShuffle bool
	Seed      uint64
	// ValidationData is evaluated after each epoch (val_loss, val_…).
	ValidationData *Dataset
	// ValidationSplit carves the last fraction of the training data off
	// for validation, as Keras does; ignored when ValidationData is set.
	ValidationSplit float64
	Callbacks       []Callback
	// Progress chooses the display; the zero value is ProgressAuto.
	Progress Progress
	// Output receives the progress (default os.Stdout).
	Output io.Writer
	// InitialEpoch is the number of epochs already done, when resuming
	// (what RestoreCheckpoint returns). As in Keras, Fit then runs epochs
	// InitialEpoch+1 … Epochs.
	InitialEpoch int
	// ClassWeight weighs each training sample's loss by the weight of its
	// class (its class id, or the argmax of a one-hot label, or the
	// rounded label of a single-output model), as Keras's class_weight;
	// classes left out weigh 1. Ids must be classes of the model's output.
	// It cannot be combined with a Dataset's sample weights (Keras refuses
	// both too), and validation ignores it.
	ClassWeight map[int]float64
	// Prefetch is how many batches FitStream reads ahead of the training
	// step (0 means 2; negative means none: each batch is read when the
	// step wants it). Fit ignores it.
	Prefetch int
}

// ErrTraining is returned (wrapped) by the calls that would change a model
// or the data Fit has uploaded (Fit, Compile, SetWeights, SetWeightsByName,
// LoadWeights, RestoreCheckpoint, SetLearningRate, Close) while Fit trains
// it, whether they come from Fit's callbacks or from another goroutine.
// Cancel Fit's context and wait for it to return first.
var ErrTraining = errors.New("the model is training")

// lockMutable takes the write lock for a call that changes the model, or
// returns ErrTraining while Fit trains it. It checks before locking, so
// that a caller is not held up behind a whole training run, and again
// after, since Fit may have started in between.
func (m *Sequential) lockMutable(what string) error {
	if m.training.Load() {
		return fmt.Errorf("models: %s: %w", what, ErrTraining)
	}
	m.mu.Lock()
	if m.training.Load() {
		m.mu.Unlock()
		return fmt.Errorf("models: %s: %w", what, ErrTraining)
	}
	return nil
}

// Fit trains the model on train, as keras.Model.fit. The data is uploaded
// to TensorFlow once; every batch is then drawn inside the graph, so the
// training loop moves no tensors between Go and TF except the running
// metrics when the progress display or a batch callback asks for them.
//
// Fit checks train (and the validation data) against the model's input
// shape and loss before any TensorFlow call. While it runs, the calls that
// would change the model return ErrTraining (see TrainingView); callbacks
// get a read-only TrainingView, and read-only calls from other goroutines
// wait for the current step.
//
// Cancelling ctx stops training between batches; Fit then returns the
// history so far and ctx's error. A NaN or infinite loss stops training
// with an error, leaving the weights of the last good step.
func (m *Sequential) Fit(ctx context.Context, train *Dataset, opts FitOptions) (*History, error) {
	return m.train("fit", func() (*History, []TrainEnder, error) { return m.fit(ctx, train, opts) })
}

// train runs a training run (Fit's or FitStream's) with the model locked
// and marked training, then calls the TrainEnders it returns once the
// model is released.
func (m *Sequential) train(what string, run func() (*History, []TrainEnder, error)) (*History, error) {
	if err := m.lockMutable(what); err != nil {
		return nil, err
	}
	m.training.Store(true)
	hist, enders, err := func() (*History, []TrainEnder, error) {
		// Deferred, so that a panicking callback does not leave the
		// model locked and training forever.
		defer func() {
			m.training.Store(false)
			m.mu.Unlock()
		}()
		return run()
	}()
	for _, te := range enders {
		if eerr := te.OnTrainEnd(m, hist); eerr != nil && err == nil {
			err = eerr
		}
	}
	return hist, err
}

// fit runs with m.mu held and m.training set, and releases the lock only
// around callbacks. It returns the TrainEnders to call once the model is
// released: those whose training began.
func (m *Sequential) fit(ctx context.Context, train *Dataset, opts FitOptions) (hist *History, enders []TrainEnder, err error) {
	c, err := m.session()
	if err != nil {
		return nil, nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if err := checkFitOptions(&opts); err != nil {
		return nil, nil, err
	}
	if err := c.checkData("training data", train); err != nil {
		return nil, nil, err
	}
	val := opts.ValidationData
	if val == nil && opts.ValidationSplit != 0 {
		if train, val, err = train.Split(opts.ValidationSplit); err != nil {
			return nil, nil, fmt.Errorf("models: fit: validation split: %w", err)
		}
	}
	if val != nil {
		if err := c.checkData("validation data", val); err != nil {
			return nil, nil, err
		}
	}
	ytrain, err := c.labels(train)
	if err != nil {
		return nil, nil, err
	}
	wtrain, err := c.sampleWeights(train, opts.ClassWeight)
	if err != nil {
		return nil, nil, err
	}
	// Free the uploaded copy in TF when done, before any OnTrainEnd; the
	// model keeps no data.
	defer func() {
		c.sess.InitVariables(c.dataX, c.dataY, c.dataW, c.perm)
	}()
	if err := c.sess.SetValue(c.dataW, wtrain); err != nil {
		return nil, nil, fmt.Errorf("models: fit: upload sample weights: %w", err)
	}
	if err := c.sess.SetValue(c.dataX, train.x); err != nil {
		return nil, nil, fmt.Errorf("models: fit: upload inputs: %w", err)
	}
	if err := c.sess.SetValue(c.dataY, ytrain); err != nil {
		return nil, nil, fmt.Errorf("models: fit: upload labels: %w", err)
	}
	if err := c.sess.SetValue(c.batch, tfwrap.Scalar(int32(opts.BatchSize))); err != nil {
		return nil, nil, err
	}

	n := train.Len()
	steps := (n + opts.BatchSize - 1) / opts.BatchSize
	return m.trainLoop(ctx, c, opts, val, steps, &inGraph{c: c, n: n, steps: steps, shuffle: !opts.NoShuffle, seed: opts.Seed})
}

// epochFeed is where the training loop gets its batches: Fit's data held
// in TensorFlow (inGraph) or FitStream's source.
type epochFeed interface {
	// begin prepares epoch e (from 0).
	begin(e int) error
	// step runs batch b (from 0) of epoch e, or reports false when the
	// epoch has no more batches. It returns ctx's error, unwrapped, when
	// ctx is done before the batch runs.
	step(ctx context.Context, e, b int) (bool, error)
}

// inGraph feeds Fit: each epoch sets the permutation of the uploaded
// samples, and each step draws its batch inside the graph.
type inGraph struct {
	c        *compiled
	n, steps int
	shuffle  bool
	seed     uint64
}

func (f *inGraph) begin(e int) error {
	perm, err := tfwrap.NewTensor(epochOrder(f.n, f.shuffle, f.seed, e))
	if err != nil {
		return err
	}
	if err := f.c.sess.SetValue(f.c.perm, perm); err != nil {
		return err
	}
	return f.c.sess.SetValue(f.c.cursor, tfwrap.Scalar(int32(0)))
}

func (f *inGraph) step(ctx context.Context, e, b int) (bool, error) {
	if b == f.steps {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if _, err := f.c.sess.Run(nil, nil, f.c.step); err != nil {
		return false, fmt.Errorf("models: fit: epoch %d, batch %d: %w", e+1, b+1, err)
	}
	return true, nil
}

// epochOrder is the order in which Fit visits n samples in epoch e: in
// order, or shuffled by a permutation that depends on the seed and the
// epoch alone, so that a resumed run shuffles as the uninterrupted one did.
func epochOrder(n int, shuffle bool, seed uint64, e int) []int32 {
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	if shuffle {
		rng := rand.New(rand.NewPCG(seed, 0x853c49e6748fea9b^uint64(e)))
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return order
}

// trainLoop is the epoch loop Fit and FitStream share: callbacks, progress,
// running metrics, validation and history, with batches from feed. steps
// is the number of batches per epoch, or 0 when unknown.
func (m *Sequential) trainLoop(ctx context.Context, c *compiled, opts FitOptions, val *Dataset, steps int, feed epochFeed) (hist *History, enders []TrainEnder, err error) {
	out := opts.Output
	if out == nil {
		out = os.Stdout
	}
	bar := newProgress(out, opts.Progress, opts.Epochs, steps)
	var batchHooks []func(TrainingView, int, Logs) error
	for _, cb := range opts.Callbacks {
		if f := batchFunc(cb); f != nil {
			batchHooks = append(batchHooks, f)
		}
	}
	m.stop.Store(false)
	hist = &History{}
	for _, cb := range opts.Callbacks {
		if tb, ok := cb.(TrainBeginner); ok {
			if err := m.unlocked(func() error { return tb.OnTrainBegin(m) }); err != nil {
				return hist, enders, err
			}
		}
		if te, ok := cb.(TrainEnder); ok {
			enders = append(enders, te)
		}
	}
	for e := opts.InitialEpoch; e < opts.Epochs; e++ {
		if err := feed.begin(e); err != nil {
			return hist, enders, err
		}
		if _, err := c.sess.Run(nil, nil, c.reset); err != nil {
			return hist, enders, err
		}
		bar.epochBegin(e)
		done := 0
		for b := 0; ; b++ {
			more, err := feed.step(ctx, e, b)
			if err != nil {
				return hist, enders, err
			}
			if !more {
				break
			}
			done = b + 1
			if len(batchHooks) > 0 || bar.due(b+1) {
				logs, err := c.running()
				if err != nil {
					return hist, enders, err
				}
				bar.update(b+1, logs)
				for _, f := range batchHooks {
					if err := m.unlocked(func() error { return f(m, b, logs) }); err != nil {
						return hist, enders, err
					}
				}
				if m.stop.Load() {
					break
				}
			}
		}
		logs, err := c.running()
		if err != nil {
			return hist, enders, err
		}
		if val != nil {
			vl, err := c.evaluate(val, opts.BatchSize)
			if err != nil {
				return hist, enders, err
			}
			for k, v := range vl {
				logs["val_"+k] = v
			}
		}
		bar.epochEnd(done, logs)
		if err := c.sess.SetValue(c.epochVar, tfwrap.Scalar(int64(e+1))); err != nil {
			return hist, enders, err
		}
		for _, cb := range opts.Callbacks {
			if err := m.unlocked(func() error { return cb.OnEpochEnd(m, e, logs) }); err != nil {
				return hist, enders, err
			}
		}
		// As Keras's History, which runs after the user's callbacks, the
		// history keeps what they add to the logs (learning_rate).
		hist.add(e, logs)
		if m.stop.Load() {
			break
		}
	}
	return hist, enders, nil
}

// checkFitOptions fills in the defaults of opts and checks what Fit and
// FitStream share, before any TensorFlow call.
func checkFitOptions(opts *FitOptions) error {
	if opts.Epochs == 0 {
		opts.Epochs = 1
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = 32
	}
	if opts.Epochs < 0 || opts.BatchSize < 0 || opts.InitialEpoch < 0 {
		return fmt.Errorf("models: fit: epochs (%d), batch size (%d) and initial epoch (%d) must not be negative",
			opts.Epochs, opts.BatchSize, opts.InitialEpoch)
	}
	if opts.InitialEpoch >= opts.Epochs {
		return fmt.Errorf("models: fit: initial epoch %d leaves nothing to do with epochs %d (epochs counts from the start, as in Keras)",
			opts.InitialEpoch, opts.Epochs)
	}
	if opts.BatchSize > math.MaxInt32 {
		return fmt.Errorf("models: fit: batch size %d is too large", opts.BatchSize)
	}
	if opts.Progress < ProgressAuto || opts.Progress > ProgressSilent {
		return fmt.Errorf("models: fit: unknown progress mode %d", opts.Progress)
	}
	for i, cb := range opts.Callbacks {
		if cb == nil {
			return fmt.Errorf("models: fit: callback %d is nil", i)
		}
	}
	return nil
}

// unlocked runs a user callback without Fit's lock, so that it may call
// the model's read-only methods (GetWeights, Predict, Evaluate,
// SaveWeights, …) without deadlock; m.training stays set, so the mutating
// ones return ErrTraining.
func (m *Sequential) unlocked(f func() error) error {
	m.mu.Unlock()
	defer m.mu.Lock()
	return f()
}

// running fetches the epoch's running means from TensorFlow.
func (c *compiled) running() (Logs, error) {
	outs := []tfwrap.Output{c.accLoss.Value(), c.accCount.Value()}
	for _, v := range c.accMetrics {
		outs = append(outs, v.Value())
	}
	res, err := c.sess.Run(nil, outs)
	if err != nil {
		return nil, err
	}
	vals := make([]float64, len(res))
	for i, r := range res {
		v, err := r.Float32s()
		if err != nil {
			return nil, err
		}
		vals[i] = float64(v[0])
	}
	count := math.Max(vals[1], 1)
	logs := Logs{"loss": vals[0] / count}
	for i, mt := range c.metrics {
		logs[mt.Name()] = vals[2+i] / count
	}
	return logs, nil
}

// checkData checks a dataset's inputs and labels against the model in Go,
// before any TensorFlow call, so that no kernel sees a shape it would abort
// on. It repeats NewDataset's checks, so the zero Dataset is refused too.
func (c *compiled) checkData(what string, d *Dataset) error {
	if d == nil {
		return fmt.Errorf("models: %s is nil", what)
	}
	if d.x == nil && d.y == nil {
		return fmt.Errorf("models: %s is empty (build it with NewDataset)", what)
	}
	if err := checkPair(d.x, d.y); err != nil {
		return fmt.Errorf("models: %s: %w", what, err)
	}
	in, xs := c.x.Shape(), d.x.Shape()
	if !shape.Compatible(in, xs) {
		msg := fmt.Sprintf("models: %s: inputs have shape %s, the model takes %s", what, shape.String(xs), shape.String(in))
		if len(in) != len(xs) {
			msg += fmt.Sprintf(" (rank %d, the model takes rank %d)", len(xs), len(in))
		}
		return errors.New(msg)
	}
	if d.y.DType() != c.labelDT {
		return fmt.Errorf("models: %s: labels are %v, loss %s wants %v", what, d.y.DType(), c.loss.Name(), c.labelDT)
	}
	ys := d.y.Shape()
	want := append([]int64{ys[0]}, c.labelSh...)
	sparseCol := len(c.labelSh) == 0 && len(ys) == 2 && ys[1] == 1
	if !shape.Equal(ys, want) && !sparseCol {
		return fmt.Errorf("models: %s: labels have shape %s, loss %s wants %s", what, shape.String(ys), c.loss.Name(),
			shape.String(append([]int64{-1}, c.labelSh...)))
	}
	if d.w != nil {
		if err := checkWeights(d.w, d.Len()); err != nil {
			return fmt.Errorf("models: %s: sample weights: %w", what, err)
		}
	}
	if c.labelDT == tfwrap.Int32 {
		ids, err := d.y.Int32s()
		if err != nil {
			return err
		}
		classes := c.pred.Shape()[1]
		for i, id := range ids {
			if id < 0 || int64(id) >= classes {
				return fmt.Errorf("models: %s: label %d of sample %d is outside the %d classes [0, %d)", what, id, i, classes, classes)
			}
		}
	}
	return nil
}

// labels returns d's labels in the shape the graph takes ((N, 1) ids
// become (N)).
func (c *compiled) labels(d *Dataset) (*tfwrap.Tensor, error) {
	if len(c.labelSh) == 0 && d.y.Rank() == 2 {
		return d.y.Reshaped(d.y.Shape()[0])
	}
	return d.y, nil
}

// EvaluateOptions configures Evaluate; the zero value means batches of 32.
type EvaluateOptions struct{ BatchSize int }

// Evaluate returns the loss and metrics on d, as keras.Model.evaluate:
// means over all samples, in inference mode.
func (m *Sequential) Evaluate(d *Dataset, opts EvaluateOptions) (Logs, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return nil, err
	}
	if opts.BatchSize < 0 {
		return nil, fmt.Errorf("models: evaluate: batch size %d is negative", opts.BatchSize)
	}
	if err := c.checkData("evaluation data", d); err != nil {
		return nil, err
	}
	return c.evaluate(d, opts.BatchSize)
}

func (c *compiled) evaluate(d *Dataset, batch int) (Logs, error) {
	if batch == 0 {
		batch = 32
	}
	y, err := c.labels(d)
	if err != nil {
		return nil, err
	}
	fetch := append([]tfwrap.Output{c.evalLoss}, c.evalSums...)
	sums := make([]float64, len(fetch))
	n := d.Len()
	sizes := tfwrap.Batches(n, batch)
	xs, err := d.x.SplitRows(sizes...)
	if err != nil {
		return nil, err
	}
	ys, err := y.SplitRows(sizes...)
	if err != nil {
		return nil, err
	}
	for b, size := range sizes {
		res, err := c.sess.Run(tfwrap.Feeds{c.x: xs[b], c.yEval: ys[b]}, fetch)
		if err != nil {
			return nil, fmt.Errorf("models: evaluate: %w", err)
		}
		for i, r := range res {
			v, err := r.Float32s()
			if err != nil {
				return nil, err
			}
			if i == 0 {
				sums[0] += float64(v[0]) * float64(size)
			} else {
				sums[i] += float64(v[0])
			}
		}
	}
	logs := Logs{"loss": sums[0] / float64(n)}
	for i, mt := range c.metrics {
		logs[mt.Name()] = sums[1+i] / float64(n)
	}
	return logs, nil
}

// PredictOptions configures Predict; the zero value means batches of 32.
type PredictOptions struct{ BatchSize int }

// Predict returns the model's outputs for the inputs x, (N, ...), in
// inference mode, as keras.Model.predict.
func (m *Sequential) Predict(x *tfwrap.Tensor, opts PredictOptions) (*tfwrap.Tensor, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return nil, err
	}
	if x == nil {
		return nil, errors.New("models: predict: inputs are nil")
	}
	if x.DType() != tfwrap.Float32 {
		return nil, fmt.Errorf("models: predict: inputs are %v, the model takes float32", x.DType())
	}
	if in := c.x.Shape(); !shape.Compatible(in, x.Shape()) {
		return nil, fmt.Errorf("models: predict: inputs have shape %s, the model takes %s", shape.String(x.Shape()), shape.String(in))
	}
	n := int(x.Shape()[0])
	if n == 0 {
		return nil, errors.New("models: predict: no inputs")
	}
	batch := opts.BatchSize
	if batch <= 0 {
		batch = 32
	}
	xs, err := x.SplitRows(tfwrap.Batches(n, batch)...)
	if err != nil {
		return nil, err
	}
	parts := make([]*tfwrap.Tensor, len(xs))
	for i, xb := range xs {
		if parts[i], err = c.sess.Eval(c.pred, tfwrap.Feeds{c.x: xb}); err != nil {
			return nil, fmt.Errorf("models: predict: %w", err)
		}
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return tfwrap.ConcatRows(parts...)
}

// Gradients returns the loss on one batch (x, y), followed by its gradients
// with respect to the trainable weights (in the order of Trainable), in
// training mode, without applying them: what tf.GradientTape gives for the
// same model in Python.
func (m *Sequential) Gradients(x, y *tfwrap.Tensor) ([]*tfwrap.Tensor, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return nil, err
	}
	d, err := NewDataset(x, y)
	if err != nil {
		return nil, err
	}
	if err := c.checkData("batch", d); err != nil {
		return nil, err
	}
	yl, err := c.labels(d)
	if err != nil {
		return nil, err
	}
	ones, err := c.sampleWeights(d, nil)
	if err != nil {
		return nil, err
	}
	return c.sess.Run(tfwrap.Feeds{c.xb: x, c.yb: yl, c.wb: ones}, append([]tfwrap.Output{c.trainLoss}, c.grads...))
}

// Trainable returns the weights the optimizer updates.
func (m *Sequential) Trainable() []*tfwrap.Variable {
	if m.c == nil {
		return nil
	}
	return append([]*tfwrap.Variable{}, m.c.trainable...)
}
