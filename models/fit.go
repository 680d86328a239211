package models

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"github.com/tfgo-project/gotf/internal/suggest"

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
	// Profile traces some training steps and writes trace.json and
	// ops.txt (see ProfileOptions); the zero value traces none.
	Profile ProfileOptions
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
func (m *Model) lockMutable(what string) error {
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
// history so far and ctx's error. Training and validation data holding a
// NaN or infinite value are refused before the first step, with the
// sample named; a NaN or infinite loss (the weights or the learning rate
// diverged) stops training with an error, leaving the weights of the last
// good step. Both hold on every CPU and kernel family.
func (m *Model) Fit(ctx context.Context, train *Dataset, opts FitOptions) (*History, error) {
	return m.train("fit", func() (*History, []TrainEnder, error) { return m.fit(ctx, train, opts) })
}

// train runs a training run (Fit's or FitStream's) with the model locked
// and marked training, then calls the TrainEnders it returns once the
// model is released.
func (m *Model) train(what string, run func() (*History, []TrainEnder, error)) (*History, error) {
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
func (m *Model) fit(ctx context.Context, train *Dataset, opts FitOptions) (hist *History, enders []TrainEnder, err error) {
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
	if _, _, err := c.checkData("training data", train); err != nil {
		return nil, nil, err
	}
	if err := train.checkFinite(); err != nil {
		return nil, nil, fmt.Errorf("models: training data: %w", err)
	}
	val := opts.ValidationData
	if val == nil && opts.ValidationSplit != 0 {
		if train, val, err = train.Split(opts.ValidationSplit); err != nil {
			return nil, nil, fmt.Errorf("models: fit: validation split: %w", err)
		}
	}
	if val != nil {
		if _, _, err := c.checkData("validation data", val); err != nil {
			return nil, nil, err
		}
		if err := val.checkFinite(); err != nil {
			return nil, nil, fmt.Errorf("models: validation data: %w", err)
		}
	}
	xtrain, ytrain, err := c.checkData("training data", train)
	if err != nil {
		return nil, nil, err
	}
	wtrain, err := c.sampleWeights(train, ytrain, opts.ClassWeight)
	if err != nil {
		return nil, nil, err
	}
	// Free the uploaded copy in TF when done, before any OnTrainEnd; the
	// model keeps no data.
	defer func() {
		vs := append(append([]*tfwrap.Variable{c.dataW, c.perm}, c.dataX...), c.dataY...)
		c.sess.InitVariables(vs...)
	}()
	if err := c.sess.SetValue(c.dataW, wtrain); err != nil {
		return nil, nil, fmt.Errorf("models: fit: upload sample weights: %w", err)
	}
	for i, x := range xtrain {
		if err := c.sess.SetValue(c.dataX[i], x); err != nil {
			return nil, nil, fmt.Errorf("models: fit: upload inputs: %w", err)
		}
	}
	for i, y := range ytrain {
		if err := c.sess.SetValue(c.dataY[i], y); err != nil {
			return nil, nil, fmt.Errorf("models: fit: upload labels: %w", err)
		}
	}
	if err := c.sess.SetValue(c.batch, tfwrap.Scalar(int32(opts.BatchSize))); err != nil {
		return nil, nil, err
	}

	n := train.Len()
	steps := (n + opts.BatchSize - 1) / opts.BatchSize
	if c.dist != nil {
		if opts.Profile.Steps > 0 {
			return nil, nil, errors.New("models: fit: Profile cannot trace a distributed step")
		}
		return m.trainLoop(ctx, c, opts, val, steps, newDistFeed(c, n, steps, opts.BatchSize, !opts.NoShuffle, opts.Seed))
	}
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
	if _, err := f.c.prof.run(f.c.sess, nil, nil, f.c.step); err != nil {
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
func (m *Model) trainLoop(ctx context.Context, c *compiled, opts FitOptions, val *Dataset, steps int, feed epochFeed) (hist *History, enders []TrainEnder, err error) {
	sp, err := newStepProfiler("fit", opts.Profile)
	if err != nil {
		return nil, nil, err
	}
	c.prof = sp
	defer func() {
		c.prof = nil
		err = finishProfile(sp, err)
	}()
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
			// Let the read-only calls waiting on other goroutines
			// (Predict, GetWeights, …) run between steps, rather than
			// after the whole run; m.training keeps the others out.
			m.mu.Unlock()
			m.mu.Lock()
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
	return checkProfile("fit", opts.Profile)
}

// unlocked runs a user callback without Fit's lock, so that it may call
// the model's read-only methods (GetWeights, Predict, Evaluate,
// SaveWeights, …) without deadlock; m.training stays set, so the mutating
// ones return ErrTraining.
func (m *Model) unlocked(f func() error) error {
	m.mu.Unlock()
	defer m.mu.Lock()
	return f()
}

// running fetches the epoch's running means from TensorFlow.
func (c *compiled) running() (Logs, error) {
	outs := []tfwrap.Output{c.accLoss.Value(), c.accCount.Value()}
	for _, v := range c.accLogs {
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
	for i, name := range c.logNames {
		logs[name] = vals[2+i] / count
	}
	return logs, nil
}

// arrange returns d's inputs and labels in the order of the model's
// inputs and outputs, matching names for a NewNamedDataset.
func (c *compiled) arrange(what string, d *Dataset) (xs, ys []*tfwrap.Tensor, err error) {
	outNames := make([]string, len(c.outs))
	for i, o := range c.outs {
		outNames[i] = o.name
	}
	order := func(kind string, got []*tfwrap.Tensor, names, want []string) ([]*tfwrap.Tensor, error) {
		if names == nil {
			if len(got) != len(want) {
				return nil, fmt.Errorf("models: %s: %d %s tensors, the model has %d (%s)", what, len(got), kind, len(want), strings.Join(want, ", "))
			}
			return got, nil
		}
		by := map[string]*tfwrap.Tensor{}
		for i, n := range names {
			by[n] = got[i]
		}
		for _, n := range names {
			if !slices.Contains(want, n) {
				return nil, fmt.Errorf("models: %s: the model has no %s named %q; its %ss are %s%s", what, kind, n, kind, strings.Join(want, ", "), suggest.Hint(n, want))
			}
		}
		out := make([]*tfwrap.Tensor, len(want))
		for i, n := range want {
			t, ok := by[n]
			if !ok {
				return nil, fmt.Errorf("models: %s: no %s for the model's %s %q", what, kind, kind, n)
			}
			out[i] = t
		}
		return out, nil
	}
	if xs, err = order("input", d.x, d.xNames, c.inNames); err != nil {
		return nil, nil, err
	}
	if ys, err = order("output", d.y, d.yNames, outNames); err != nil {
		return nil, nil, err
	}
	return xs, ys, nil
}

// checkData checks a dataset's inputs and labels against the model in Go,
// before any TensorFlow call, so that no kernel sees a shape it would abort
// on, and returns them in the model's order and in the shapes the graph
// takes ((N, 1) class ids become (N)). It repeats NewDataset's checks, so
// the zero Dataset is refused too.
func (c *compiled) checkData(what string, d *Dataset) (xs, ys []*tfwrap.Tensor, err error) {
	if d == nil {
		return nil, nil, fmt.Errorf("models: %s is nil", what)
	}
	if d.empty() {
		return nil, nil, fmt.Errorf("models: %s is empty (build it with NewDataset)", what)
	}
	if err := checkSet(d.x, d.y, d.xNames, d.yNames); err != nil {
		return nil, nil, fmt.Errorf("models: %s: %w", what, err)
	}
	if xs, ys, err = c.arrange(what, d); err != nil {
		return nil, nil, err
	}
	for i, x := range xs {
		in, got := c.xs[i].Shape(), x.Shape()
		if !shape.Compatible(in, got) {
			name := "inputs"
			if len(xs) > 1 {
				name = fmt.Sprintf("input %q", c.inNames[i])
			}
			msg := fmt.Sprintf("models: %s: %s have shape %s, the model takes %s", what, name, shape.String(got), shape.String(in))
			if len(in) != len(got) {
				msg += fmt.Sprintf(" (rank %d, the model takes rank %d)", len(got), len(in))
			}
			return nil, nil, errors.New(msg)
		}
	}
	for i, o := range c.outs {
		y := ys[i]
		name := "labels"
		if len(c.outs) > 1 {
			name = fmt.Sprintf("labels of output %q", o.name)
		}
		if y.DType() != o.labelDT {
			return nil, nil, fmt.Errorf("models: %s: %s are %v, loss %s wants %v", what, name, y.DType(), o.loss.Name(), o.labelDT)
		}
		got := y.Shape()
		want := append([]int64{got[0]}, o.labelSh...)
		sparseCol := len(o.labelSh) == 0 && len(got) == 2 && got[1] == 1
		if !shape.Equal(got, want) && !sparseCol {
			return nil, nil, fmt.Errorf("models: %s: %s have shape %s, loss %s wants %s", what, name, shape.String(got), o.loss.Name(),
				shape.String(append([]int64{-1}, o.labelSh...)))
		}
		if o.labelDT == tfwrap.Int32 {
			ids, err := y.Int32s()
			if err != nil {
				return nil, nil, err
			}
			ps := o.pred.Shape()
			classes := ps[len(ps)-1]
			for j, id := range ids {
				if id < 0 || int64(id) >= classes {
					return nil, nil, fmt.Errorf("models: %s: label %d of sample %d is outside the %d classes [0, %d)", what, id, j, classes, classes)
				}
			}
		}
		if sparseCol {
			if ys[i], err = y.Reshaped(got[0]); err != nil {
				return nil, nil, err
			}
		}
	}
	if d.w != nil {
		if err := checkWeights(d.w, d.Len()); err != nil {
			return nil, nil, fmt.Errorf("models: %s: sample weights: %w", what, err)
		}
	}
	return xs, ys, nil
}

// EvaluateOptions configures Evaluate; the zero value means batches of 32.
type EvaluateOptions struct{ BatchSize int }

// Evaluate returns the loss and metrics on d, as keras.Model.evaluate:
// means over all samples, in inference mode.
func (m *Model) Evaluate(d *Dataset, opts EvaluateOptions) (Logs, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return nil, err
	}
	if opts.BatchSize < 0 {
		return nil, fmt.Errorf("models: evaluate: batch size %d is negative", opts.BatchSize)
	}
	if _, _, err := c.checkData("evaluation data", d); err != nil {
		return nil, err
	}
	return c.evaluate(d, opts.BatchSize)
}

func (c *compiled) evaluate(d *Dataset, batch int) (Logs, error) {
	if batch == 0 {
		batch = 32
	}
	xs, ys, err := c.checkData("evaluation data", d)
	if err != nil {
		return nil, err
	}
	fetch := append([]tfwrap.Output{c.evalLoss}, c.evalLogs...)
	sums := make([]float64, len(fetch))
	n := d.Len()
	sizes := tfwrap.Batches(n, batch)
	var feeds []tfwrap.Output
	var parts [][]*tfwrap.Tensor
	for i, x := range xs {
		p, err := x.SplitRows(sizes...)
		if err != nil {
			return nil, err
		}
		feeds, parts = append(feeds, c.xs[i]), append(parts, p)
	}
	for i, y := range ys {
		p, err := y.SplitRows(sizes...)
		if err != nil {
			return nil, err
		}
		feeds, parts = append(feeds, c.outs[i].yEval), append(parts, p)
	}
	nLosses := 0
	if len(c.outs) > 1 {
		nLosses = len(c.outs)
	}
	for b, size := range sizes {
		feed := tfwrap.Feeds{}
		for i, f := range feeds {
			feed[f] = parts[i][b]
		}
		res, err := c.sess.Run(feed, fetch)
		if err != nil {
			return nil, fmt.Errorf("models: evaluate: %w", err)
		}
		for i, r := range res {
			v, err := r.Float32s()
			if err != nil {
				return nil, err
			}
			if i <= nLosses {
				// Batch means.
				sums[i] += float64(v[0]) * float64(size)
			} else {
				sums[i] += float64(v[0])
			}
		}
	}
	logs := Logs{"loss": sums[0] / float64(n)}
	for i, name := range c.logNames {
		logs[name] = sums[1+i] / float64(n)
	}
	return logs, nil
}

// PredictOptions configures Predict; the zero value means batches of 32.
type PredictOptions struct {
	BatchSize int
	// Profile traces some of the batches and writes trace.json and
	// ops.txt (see ProfileOptions); the zero value traces none.
	Profile ProfileOptions
}

// Predict returns the outputs of a model of one input and one output for
// the inputs x, (N, ...), in inference mode, as keras.Model.predict.
// PredictAll and PredictNamed serve models of several.
func (m *Model) Predict(x *tfwrap.Tensor, opts PredictOptions) (*tfwrap.Tensor, error) {
	if len(m.inputs) != 1 || len(m.outputs) != 1 {
		return nil, fmt.Errorf("models: predict: the model has %d inputs and %d outputs; use PredictAll or PredictNamed", len(m.inputs), len(m.outputs))
	}
	out, err := m.PredictAll([]*tfwrap.Tensor{x}, opts)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// PredictNamed is PredictAll with inputs and outputs by name
// (InputNames, OutputNames).
func (m *Model) PredictNamed(x map[string]*tfwrap.Tensor, opts PredictOptions) (map[string]*tfwrap.Tensor, error) {
	names := m.InputNames()
	for n := range x {
		if !slices.Contains(names, n) {
			return nil, fmt.Errorf("models: predict: the model has no input named %q; its inputs are %s%s", n, strings.Join(names, ", "), suggest.Hint(n, names))
		}
	}
	xs := make([]*tfwrap.Tensor, len(names))
	for i, n := range names {
		t, ok := x[n]
		if !ok {
			return nil, fmt.Errorf("models: predict: no tensor for input %q", n)
		}
		xs[i] = t
	}
	outs, err := m.PredictAll(xs, opts)
	if err != nil {
		return nil, err
	}
	res := map[string]*tfwrap.Tensor{}
	for i, n := range m.outNames {
		res[n] = outs[i]
	}
	return res, nil
}

// PredictAll returns every output of the model for its inputs xs, one
// (N, ...) tensor per input in the order of InputNames, in inference
// mode.
func (m *Model) PredictAll(xs []*tfwrap.Tensor, opts PredictOptions) ([]*tfwrap.Tensor, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return nil, err
	}
	if len(xs) != len(c.xs) {
		return nil, fmt.Errorf("models: predict: %d input tensors, the model has %d (%s)", len(xs), len(c.xs), strings.Join(c.inNames, ", "))
	}
	n := -1
	for i, x := range xs {
		name := "inputs"
		if len(xs) > 1 {
			name = fmt.Sprintf("input %q", c.inNames[i])
		}
		if x == nil {
			return nil, fmt.Errorf("models: predict: %s are nil", name)
		}
		if x.DType() != tfwrap.Float32 {
			return nil, fmt.Errorf("models: predict: %s are %v, the model takes float32", name, x.DType())
		}
		if in := c.xs[i].Shape(); !shape.Compatible(in, x.Shape()) {
			return nil, fmt.Errorf("models: predict: %s have shape %s, the model takes %s", name, shape.String(x.Shape()), shape.String(in))
		}
		if k := int(x.Shape()[0]); n < 0 {
			n = k
		} else if k != n {
			return nil, fmt.Errorf("models: predict: %s has %d samples, input %q has %d", name, k, c.inNames[0], n)
		}
	}
	if n == 0 {
		return nil, errors.New("models: predict: no inputs")
	}
	sp, err := newStepProfiler("predict", opts.Profile)
	if err != nil {
		return nil, err
	}
	batch := opts.BatchSize
	if batch <= 0 {
		batch = 32
	}
	sizes := tfwrap.Batches(n, batch)
	split := make([][]*tfwrap.Tensor, len(xs))
	for i, x := range xs {
		if split[i], err = x.SplitRows(sizes...); err != nil {
			return nil, err
		}
	}
	fetch := make([]tfwrap.Output, len(c.outs))
	for i, o := range c.outs {
		fetch[i] = o.pred
	}
	parts := make([][]*tfwrap.Tensor, len(fetch))
	for b := range sizes {
		feed := tfwrap.Feeds{}
		for i := range xs {
			feed[c.xs[i]] = split[i][b]
		}
		res, err := sp.runWith(c.sess, tfwrap.RunOptions{Inline: c.predictInline()}, feed, fetch)
		if err != nil {
			return nil, finishProfile(sp, fmt.Errorf("models: predict: %w", err))
		}
		for i, r := range res {
			parts[i] = append(parts[i], r)
		}
	}
	if err := sp.finish(); err != nil {
		return nil, err
	}
	out := make([]*tfwrap.Tensor, len(fetch))
	for i, p := range parts {
		if len(p) == 1 {
			out[i] = p[0]
		} else if out[i], err = tfwrap.ConcatRows(p...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Gradients returns the loss on one batch (x, y), followed by its gradients
// with respect to the trainable weights (in the order of Trainable), in
// training mode, without applying them: what tf.GradientTape gives for the
// same model in Python. BatchGradients takes a batch of any model.
func (m *Model) Gradients(x, y *tfwrap.Tensor) ([]*tfwrap.Tensor, error) {
	d, err := NewDataset(x, y)
	if err != nil {
		return nil, err
	}
	return m.BatchGradients(d)
}

// BatchGradients is Gradients for a batch given as a Dataset (several
// inputs and outputs, sample weights).
func (m *Model) BatchGradients(d *Dataset) ([]*tfwrap.Tensor, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return nil, err
	}
	xs, ys, err := c.checkData("batch", d)
	if err != nil {
		return nil, err
	}
	w, err := c.sampleWeights(d, ys, nil)
	if err != nil {
		return nil, err
	}
	feed := tfwrap.Feeds{c.wb: w}
	for i, x := range xs {
		feed[c.xb[i]] = x
	}
	for i, y := range ys {
		feed[c.yb[i]] = y
	}
	return c.sess.Run(feed, append([]tfwrap.Output{c.trainLoss}, c.grads...))
}

// Trainable returns the weights the optimizer updates.
func (m *Model) Trainable() []*tfwrap.Variable {
	if m.c == nil {
		return nil
	}
	return append([]*tfwrap.Variable{}, m.c.trainable...)
}
