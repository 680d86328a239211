package models

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/tfgo-project/gotf/tfwrap"
)

// Batch is one training batch of a BatchSource: inputs X (batch,
// features...), labels Y (batch, ...) as the model's loss takes them (the
// same dtypes and shapes as a Dataset's), and optional per-sample weights W
// (float32, (batch)).
type Batch struct {
	X, Y, W *tfwrap.Tensor
	// Inputs and Labels, when set, replace X and Y for a functional
	// model of several inputs or outputs, in the order of its
	// InputNames and OutputNames.
	Inputs, Labels []*tfwrap.Tensor

	xNames, yNames []string // the names of Inputs and Labels, from a NewNamedDataset
}

// BatchSource streams training batches to FitStream, for data that does
// not fit in memory (or is generated on the fly).
//
// Next returns the next batch of the current epoch, or io.EOF when the
// epoch is over; any other error ends training and FitStream returns it,
// wrapped with the epoch and batch. Next must return promptly once ctx is
// done. Reset starts the next epoch: FitStream calls it before every epoch,
// the first included, so a source is rewound before it is read.
//
// FitStream calls Next from a goroutine of its own when it reads ahead
// (FitOptions.Prefetch), but never concurrently with another Next or with
// Reset, so a source need not be safe for concurrent use.
//
// A source may also have
//
//   - Len() int, the number of batches per epoch, for the progress display
//     (without it, or when it returns 0, the display counts steps as
//     Keras's "Unknown"); the epoch still ends at io.EOF;
//   - ResetEpoch(epoch int) error (EpochResetter), which FitStream then
//     calls instead of Reset with the epoch it starts (from 0, or from
//     FitOptions.InitialEpoch when resuming), so that the order of the
//     batches can depend on the epoch alone, as Fit's shuffling does.
type BatchSource interface {
	Next(ctx context.Context) (Batch, error)
	Reset() error
}

// EpochResetter is a BatchSource whose epochs are numbered; see
// BatchSource.
type EpochResetter interface {
	ResetEpoch(epoch int) error
}

// FitStream trains the model on batches from src, as Fit does on a
// Dataset, with the same options, callbacks, progress display, history,
// validation (FitOptions.ValidationData, evaluated in batches of
// BatchSize), InitialEpoch, ClassWeight, StopTraining and ErrTraining. An
// epoch is what src yields until io.EOF. Each batch is fed to the training
// step instead of being drawn from uploaded data, so only the batches
// being prefetched are held in memory.
//
// A goroutine reads FitOptions.Prefetch batches ahead (default 2) and
// checks each in Go against the model before TensorFlow sees it: the
// dtypes and per-sample shapes of its inputs and labels, that they hold
// the same number of samples, class ids within the model's classes, and
// the sample weights. A bad batch ends training with an error that names
// its epoch and batch (from 1). The goroutine ends before FitStream
// returns, however training ended.
//
// BatchSize only sets the validation batches; the source chooses the
// training batches, so NoShuffle and Seed have no effect (FromDataset
// takes its own), and ValidationSplit is refused: give ValidationData.
// Cancelling ctx stops training between batches, or while waiting for
// one; FitStream then returns the history so far and ctx's error.
func (m *Model) FitStream(ctx context.Context, src BatchSource, opts FitOptions) (*History, error) {
	return m.train("fit stream", func() (*History, []TrainEnder, error) { return m.fitStream(ctx, src, opts) })
}

func (m *Model) fitStream(ctx context.Context, src BatchSource, opts FitOptions) (*History, []TrainEnder, error) {
	c, err := m.session()
	if err != nil {
		return nil, nil, err
	}
	if err := c.errMaskedOutput("fit stream"); err != nil {
		return nil, nil, err
	}
	if c.dist != nil {
		return nil, nil, errors.New("models: fit stream: a distributed model trains with Fit")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if err := checkFitOptions(&opts); err != nil {
		return nil, nil, err
	}
	if src == nil {
		return nil, nil, errors.New("models: fit stream: the batch source is nil")
	}
	val := opts.ValidationData
	if val == nil && opts.ValidationSplit != 0 {
		return nil, nil, errors.New("models: fit stream: a stream cannot be split for validation; give ValidationData")
	}
	vd, err := c.checkValidation(val)
	if err != nil {
		return nil, nil, err
	}
	if len(opts.ClassWeight) > 0 {
		if !c.weighted {
			return nil, nil, fmt.Errorf("models: fit stream: loss %s cannot weigh samples (it is not a losses.PerSampleLoss)", c.outs[0].loss.Name())
		}
		if err := c.checkClassWeight(opts.ClassWeight); err != nil {
			return nil, nil, err
		}
	}
	steps := 0
	if l, ok := src.(interface{ Len() int }); ok {
		steps = max(l.Len(), 0)
	}
	ahead := opts.Prefetch
	if ahead == 0 {
		ahead = 2
	}
	feed := &streamFeed{c: c, src: src, ctx: ctx, ahead: max(ahead, 0), classWeight: opts.ClassWeight}
	defer feed.stop()
	return m.trainLoop(ctx, c, opts, vd, steps, feed)
}

// streamFeed feeds FitStream's steps from a BatchSource through a
// prefetching goroutine, one per epoch.
type streamFeed struct {
	c           *compiled
	src         BatchSource
	ctx         context.Context
	ahead       int
	classWeight map[int]float64
	pf          *prefetcher
}

func (f *streamFeed) begin(e int) error {
	f.stop()
	var seq func(context.Context) iter.Seq2[Batch, error]
	if fs, ok := f.src.(*FuncSource); ok {
		// Range over the generator itself: stopping the prefetcher then
		// ends the generator, with nothing left suspended.
		seq = func(context.Context) iter.Seq2[Batch, error] { return fs.fn(e) }
	} else {
		var err error
		if er, ok := f.src.(EpochResetter); ok {
			err = er.ResetEpoch(e)
		} else {
			err = f.src.Reset()
		}
		if err != nil {
			return fmt.Errorf("models: fit stream: epoch %d: reset: %w", e+1, err)
		}
		seq = func(ctx context.Context) iter.Seq2[Batch, error] { return nextSeq(ctx, f.src) }
	}
	f.pf = startPrefetch(f.ctx, f.ahead, seq, func(b int, bt Batch, err error) (tfwrap.Feeds, error) {
		if err != nil {
			return nil, fmt.Errorf("models: fit stream: epoch %d, batch %d: %w", e+1, b+1, err)
		}
		return f.c.batchFeeds(fmt.Sprintf("fit stream: epoch %d, batch %d", e+1, b+1), bt, f.classWeight)
	})
	return nil
}

func (f *streamFeed) step(ctx context.Context, prof *stepProfiler, e, b int) (bool, error) {
	it, err := f.pf.next(ctx)
	if err != nil {
		return false, err
	}
	if it.err != nil {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		return false, it.err
	}
	if it.feeds == nil {
		if b == 0 {
			return false, fmt.Errorf("models: fit stream: epoch %d has no batches", e+1)
		}
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if _, err := prof.run(f.c.sess, it.feeds, nil, f.c.step); err != nil {
		return false, fmt.Errorf("models: fit stream: epoch %d, batch %d: %w", e+1, b+1, err)
	}
	return true, nil
}

// stop ends the epoch's prefetcher, if any, and waits for it.
func (f *streamFeed) stop() {
	if f.pf != nil {
		f.pf.stop()
		f.pf = nil
	}
}

// batchFeeds checks a streamed batch against the model as Fit checks its
// Dataset (what names the batch in errors) and returns the feeds of the
// training step's placeholders.
func (c *compiled) batchFeeds(what string, b Batch, classWeight map[int]float64) (tfwrap.Feeds, error) {
	d := &Dataset{x: b.Inputs, y: b.Labels, w: b.W, xNames: b.xNames, yNames: b.yNames}
	if d.x == nil && d.y == nil {
		if b.X == nil && b.Y == nil {
			return nil, fmt.Errorf("models: %s: inputs and labels are nil", what)
		}
		d.x, d.y = []*tfwrap.Tensor{b.X}, []*tfwrap.Tensor{b.Y}
	}
	xs, ys, err := c.checkData(what, d)
	if err != nil {
		return nil, err
	}
	if err := d.checkFinite(); err != nil {
		return nil, fmt.Errorf("models: %s: %w", what, err)
	}
	if d.w != nil && len(classWeight) > 0 {
		return nil, fmt.Errorf("models: %s: the batch has sample weights and FitOptions has class weights; give one (Keras refuses both too)", what)
	}
	if d.w != nil && !c.weighted {
		return nil, fmt.Errorf("models: %s: the batch has sample weights, but a loss cannot weigh samples (it is not a losses.PerSampleLoss)", what)
	}
	w, err := c.sampleWeights(d, ys, classWeight)
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", what, err)
	}
	feeds := tfwrap.Feeds{c.wb: w}
	for i, x := range xs {
		feeds[c.xb[i]] = x
	}
	for i, y := range ys {
		feeds[c.yb[i]] = y
	}
	return feeds, nil
}

// nextSeq ranges over a BatchSource's epoch: its batches up to io.EOF, or
// up to and including its first error.
func nextSeq(ctx context.Context, src BatchSource) iter.Seq2[Batch, error] {
	return func(yield func(Batch, error) bool) {
		for {
			b, err := src.Next(ctx)
			if err == io.EOF {
				return
			}
			if !yield(b, err) || err != nil {
				return
			}
		}
	}
}

// fetched is a prefetched batch, ready to feed, or the error that ends the
// epoch; neither means the end of the epoch.
type fetched struct {
	feeds tfwrap.Feeds
	err   error
}

// prefetcher reads an epoch's batches in a goroutine, at most ahead of
// them before the training loop asks for them. Every read is paid for by a
// token: ahead of them at the start, and one each time the loop asks.
type prefetcher struct {
	cancel context.CancelFunc
	done   chan struct{}
	tokens chan struct{}
	out    chan fetched
}

func startPrefetch(parent context.Context, ahead int, seq func(context.Context) iter.Seq2[Batch, error],
	prepare func(b int, bt Batch, err error) (tfwrap.Feeds, error)) *prefetcher {
	ctx, cancel := context.WithCancel(parent)
	p := &prefetcher{
		cancel: cancel,
		done:   make(chan struct{}),
		tokens: make(chan struct{}, ahead+1),
		out:    make(chan fetched, ahead+1),
	}
	for range ahead {
		p.tokens <- struct{}{}
	}
	go func() {
		defer close(p.done)
		send := func(f fetched) bool {
			select {
			case p.out <- f:
				return true
			case <-ctx.Done():
				return false
			}
		}
		take := func() bool {
			select {
			case <-p.tokens:
				return true
			case <-ctx.Done():
				return false
			}
		}
		b := 0
		defer func() {
			if r := recover(); r != nil {
				send(fetched{err: fmt.Errorf("models: fit stream: batch %d: the source panicked: %v", b+1, r)})
			}
		}()
		if !take() {
			return
		}
		for bt, err := range seq(ctx) {
			if err == io.EOF {
				break
			}
			feeds, err := prepare(b, bt, err)
			if !send(fetched{feeds: feeds, err: err}) || err != nil {
				return
			}
			b++
			if !take() {
				return
			}
		}
		send(fetched{})
	}()
	return p
}

// next returns the next batch (nil feeds at the end of the epoch), or
// ctx's error if ctx is done first.
func (p *prefetcher) next(ctx context.Context) (fetched, error) {
	select {
	case p.tokens <- struct{}{}:
	default:
	}
	select {
	case f := <-p.out:
		return f, nil
	case <-ctx.Done():
		return fetched{}, ctx.Err()
	}
}

// stop cancels the reads and waits for the goroutine to end.
func (p *prefetcher) stop() {
	p.cancel()
	<-p.done
}

// FuncSource is a BatchSource made by StreamFunc from a generator.
type FuncSource struct {
	fn    func(epoch int) iter.Seq2[Batch, error]
	epoch int
	next  func() (Batch, error, bool)
	halt  func()
}

// StreamFunc makes a BatchSource of a generator: fn(epoch) yields the
// batches of that epoch (from 0), and a non-nil error ends training.
// FitStream ranges over fn(epoch) directly, in its prefetching goroutine,
// and stops ranging (the yield returns false) when training ends early, so
// the generator's deferred clean-up runs. FitStream can stop a generator
// only at a yield: one that may block for long (on the network, say) is
// better a BatchSource, whose Next gets FitStream's context.
//
// Next and Reset serve callers other than FitStream: Next pulls from the
// current epoch (epoch 0 until Reset), and Reset moves to the next. Call
// Close when leaving an epoch unfinished that way.
func StreamFunc(fn func(epoch int) iter.Seq2[Batch, error]) *FuncSource {
	return &FuncSource{fn: fn}
}

// Next implements BatchSource.
func (s *FuncSource) Next(ctx context.Context) (Batch, error) {
	if err := ctx.Err(); err != nil {
		return Batch{}, err
	}
	if s.next == nil {
		s.next, s.halt = iter.Pull2(s.fn(s.epoch))
	}
	b, err, ok := s.next()
	if !ok {
		return Batch{}, io.EOF
	}
	return b, err
}

// Reset implements BatchSource: the next Next starts the next epoch.
func (s *FuncSource) Reset() error { return s.ResetEpoch(s.epoch + 1) }

// ResetEpoch implements EpochResetter.
func (s *FuncSource) ResetEpoch(epoch int) error {
	s.Close()
	s.epoch = epoch
	return nil
}

// Close ends the epoch being pulled by Next, if any.
func (s *FuncSource) Close() error {
	if s.halt != nil {
		s.halt()
		s.next, s.halt = nil, nil
	}
	return nil
}

// DatasetSource streams a Dataset in batches; FromDataset makes one.
type DatasetSource struct {
	d       *Dataset
	batch   int
	shuffle bool
	seed    uint64
	epoch   int
	order   []int32
	pos     int
}

// FromDataset returns a BatchSource of d's samples in batches of
// batchSize (the last one smaller), visited each epoch in the order Fit
// visits them with the same NoShuffle and Seed: in order when shuffle is
// false, else in the same seeded permutation per epoch. FitStream on it
// trains as Fit on d does. Its Len is the number of batches per epoch.
func FromDataset(d *Dataset, batchSize int, shuffle bool, seed uint64) (*DatasetSource, error) {
	if d == nil || d.Len() == 0 {
		return nil, errors.New("models: from dataset: the dataset is empty (build it with NewDataset)")
	}
	if batchSize < 1 {
		return nil, fmt.Errorf("models: from dataset: batch size %d must be positive", batchSize)
	}
	s := &DatasetSource{d: d, batch: batchSize, shuffle: shuffle, seed: seed}
	s.ResetEpoch(0)
	return s, nil
}

// Len returns the number of batches per epoch.
func (s *DatasetSource) Len() int { return (s.d.Len() + s.batch - 1) / s.batch }

// Reset implements BatchSource: the next Next starts the next epoch.
func (s *DatasetSource) Reset() error { return s.ResetEpoch(s.epoch + 1) }

// ResetEpoch implements EpochResetter.
func (s *DatasetSource) ResetEpoch(epoch int) error {
	s.epoch, s.pos = epoch, 0
	s.order = epochOrder(s.d.Len(), s.shuffle, s.seed, epoch)
	return nil
}

// Next implements BatchSource.
func (s *DatasetSource) Next(ctx context.Context) (Batch, error) {
	if err := ctx.Err(); err != nil {
		return Batch{}, err
	}
	if s.pos >= len(s.order) {
		return Batch{}, io.EOF
	}
	end := min(s.pos+s.batch, len(s.order))
	idx := make([]int, 0, end-s.pos)
	for _, i := range s.order[s.pos:end] {
		idx = append(idx, int(i))
	}
	s.pos = end
	sub, err := s.d.Subset(idx)
	if err != nil {
		return Batch{}, err
	}
	return Batch{Inputs: sub.x, Labels: sub.y, W: sub.w, xNames: sub.xNames, yNames: sub.yNames}, nil
}
