package models

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"

	"github.com/tfgo-project/gotf/tfwrap"
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
	// Hooks are Loop hooks run after the callbacks, in order: they see
	// every step (StepEnder) and every epoch's logs, and what they add to
	// the logs goes into the history. Fit's own display, validation and
	// callbacks run as hooks before them. As callbacks, they run without
	// Fit's lock, so they may call the model's read-only methods; its
	// mutating ones return ErrTraining.
	Hooks []Hook
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
	if err := c.errMaskedOutput("fit"); err != nil {
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
	vd, err := c.checkValidation(val)
	if err != nil {
		return nil, nil, err
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
		return m.trainLoop(ctx, c, opts, vd, steps, newDistFeed(c, n, steps, opts.BatchSize, !opts.NoShuffle, opts.Seed))
	}
	return m.trainLoop(ctx, c, opts, vd, steps, &inGraph{c: c, n: n, steps: steps, shuffle: !opts.NoShuffle, seed: opts.Seed})
}

// epochFeed is where the training loop gets its batches: Fit's data held
// in TensorFlow (inGraph) or FitStream's source.
type epochFeed interface {
	// begin prepares epoch e (from 0).
	begin(e int) error
	// step runs batch b (from 0) of epoch e, traced by prof (nil: not
	// traced), or reports false when the epoch has no more batches. It
	// returns ctx's error, unwrapped, when ctx is done before the batch
	// runs.
	step(ctx context.Context, prof *stepProfiler, e, b int) (bool, error)
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

func (f *inGraph) step(ctx context.Context, prof *stepProfiler, e, b int) (bool, error) {
	if b == f.steps {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if _, err := prof.run(f.c.sess, nil, nil, f.c.step); err != nil {
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

// trainLoop runs Fit's and FitStream's training: a Loop over the model's
// own step (batches from feed) with the hooks FitOptions ask for, in
// Keras's order: the callbacks' OnTrainBegin, then every epoch
// validation, the progress display, the epoch count, the callbacks and
// the history. steps is the number of batches per epoch, or 0 when
// unknown. The run's state (the step, its profiler, the hooks) is made
// here, once per run.
func (m *Model) trainLoop(ctx context.Context, c *compiled, opts FitOptions, val *validationHook, steps int, feed epochFeed) (hist *History, enders []TrainEnder, err error) {
	sp, err := newStepProfiler("fit", opts.Profile)
	if err != nil {
		return nil, nil, err
	}
	defer func() { err = finishProfile(sp, err) }()
	hooks := []Hook{&trainBegin{m: m, callbacks: opts.Callbacks, enders: &enders}}
	if val != nil {
		val.batch = opts.BatchSize
		hooks = append(hooks, val)
	}
	hooks = append(hooks, ProgressHook(opts.Output, opts.Progress), epochCount{c})
	for _, cb := range opts.Callbacks {
		hooks = append(hooks, &callbackHook{m: m, cb: cb, batch: batchFunc(cb)})
	}
	for _, h := range opts.Hooks {
		hooks = append(hooks, unlockedHook{m: m, h: h})
	}
	hooks = append(hooks, stopHook{m})
	m.stop.Store(false)
	loop := Loop{Epochs: opts.Epochs, InitialEpoch: opts.InitialEpoch, Steps: steps, Hooks: hooks}
	hist, err = loop.Run(ctx, &fitStep{m: m, c: c, feed: feed, prof: sp})
	return hist, enders, err
}

// fitStep is the model's own training step: a batch from the feed through
// the compiled update, with the epoch's running metrics kept in
// TensorFlow.
type fitStep struct {
	m    *Model
	c    *compiled
	feed epochFeed
	prof *stepProfiler
}

func (s *fitStep) BeginEpoch(e int) error {
	if err := s.feed.begin(e); err != nil {
		return err
	}
	_, err := s.c.sess.Run(nil, nil, s.c.reset)
	return err
}

func (s *fitStep) Run(ctx context.Context, e, b int) (bool, error) {
	// Let the read-only calls waiting on other goroutines (Predict,
	// GetWeights, …) run between steps, rather than after the whole run;
	// m.training keeps the others out.
	s.m.mu.Unlock()
	s.m.mu.Lock()
	return s.feed.step(ctx, s.prof, e, b)
}

func (s *fitStep) Logs() (Logs, error) { return s.c.running() }

// checkValidation checks the validation data once, before the run: its
// shapes, dtypes and finite values.
func (c *compiled) checkValidation(val *Dataset) (*validationHook, error) {
	if val == nil {
		return nil, nil
	}
	xs, ys, err := c.checkData("validation data", val)
	if err != nil {
		return nil, err
	}
	if err := val.checkFinite(); err != nil {
		return nil, fmt.Errorf("models: validation data: %w", err)
	}
	return &validationHook{c: c, xs: xs, ys: ys, n: val.Len()}, nil
}

// trainBegin calls the callbacks' OnTrainBegin, in order, and records
// which TrainEnders to call once the model is released.
type trainBegin struct {
	m         *Model
	callbacks []Callback
	enders    *[]TrainEnder
}

func (h *trainBegin) Name() string { return "callbacks' OnTrainBegin" }
func (h *trainBegin) passErrors()  {}

func (h *trainBegin) OnLoopBegin(*LoopRun) error {
	for _, cb := range h.callbacks {
		if tb, ok := cb.(TrainBeginner); ok {
			if err := h.m.unlocked(func() error { return tb.OnTrainBegin(h.m) }); err != nil {
				return err
			}
		}
		if te, ok := cb.(TrainEnder); ok {
			*h.enders = append(*h.enders, te)
		}
	}
	return nil
}

// validationHook evaluates the validation data after each epoch (val_…).
type validationHook struct {
	c        *compiled
	xs, ys   []*tfwrap.Tensor
	n, batch int
}

func (h *validationHook) Name() string { return "validation" }

func (h *validationHook) OnEpochEnd(_ *LoopRun, _ int, logs Logs) error {
	vl, err := h.c.evaluateChecked(h.xs, h.ys, h.n, h.batch)
	if err != nil {
		return err
	}
	for k, v := range vl {
		logs["val_"+k] = v
	}
	return nil
}

// epochCount records the epochs done in the model's state, for
// checkpoints.
type epochCount struct{ c *compiled }

func (epochCount) Name() string { return "epoch count" }

func (h epochCount) OnEpochEnd(_ *LoopRun, e int, _ Logs) error {
	return h.c.sess.SetValue(h.c.epochVar, tfwrap.Scalar(int64(e+1)))
}

// callbackHook runs a Fit callback, without Fit's lock, with a read-only
// view of the model.
type callbackHook struct {
	m     *Model
	cb    Callback
	batch func(TrainingView, int, Logs) error
}

func (h *callbackHook) Name() string { return fmt.Sprintf("callback %T", h.cb) }
func (h *callbackHook) passErrors()  {}

// OnStepEnd runs a batch callback; StopTraining from it (or from anywhere,
// while it runs) ends the run after this batch.
func (h *callbackHook) OnStepEnd(r *LoopRun, b int, logs func() (Logs, error)) error {
	if h.batch == nil {
		return nil
	}
	l, err := logs()
	if err != nil {
		return err
	}
	if err := h.m.unlocked(func() error { return h.batch(h.m, b, l) }); err != nil {
		return err
	}
	if h.m.stop.Load() {
		r.Stop()
	}
	return nil
}

func (h *callbackHook) OnEpochEnd(_ *LoopRun, e int, logs Logs) error {
	return h.m.unlocked(func() error { return h.cb.OnEpochEnd(h.m, e, logs) })
}

// unlockedHook runs a FitOptions hook without Fit's lock, as callbacks
// run, so that it may call the model's read-only methods.
type unlockedHook struct {
	m *Model
	h Hook
}

func (u unlockedHook) Name() string { return u.h.Name() }

func (u unlockedHook) OnLoopBegin(r *LoopRun) error {
	if b, ok := u.h.(LoopBeginner); ok {
		return u.m.unlocked(func() error { return b.OnLoopBegin(r) })
	}
	return nil
}

func (u unlockedHook) OnEpochBegin(r *LoopRun, e int) error {
	if b, ok := u.h.(EpochBeginner); ok {
		return u.m.unlocked(func() error { return b.OnEpochBegin(r, e) })
	}
	return nil
}

func (u unlockedHook) OnStepEnd(r *LoopRun, b int, logs func() (Logs, error)) error {
	if s, ok := u.h.(StepEnder); ok {
		return u.m.unlocked(func() error { return s.OnStepEnd(r, b, logs) })
	}
	return nil
}

func (u unlockedHook) OnEpochEnd(r *LoopRun, e int, logs Logs) error {
	if ee, ok := u.h.(EpochEnder); ok {
		return u.m.unlocked(func() error { return ee.OnEpochEnd(r, e, logs) })
	}
	return nil
}

// stopHook ends the run after the epoch in which StopTraining was called
// (after the batch, from a batch callback: callbackHook).
type stopHook struct{ m *Model }

func (stopHook) Name() string { return "stop" }

func (h stopHook) OnEpochEnd(r *LoopRun, _ int, _ Logs) error {
	if h.m.stop.Load() {
		r.Stop()
	}
	return nil
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
