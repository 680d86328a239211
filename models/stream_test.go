package models

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// noLeak fails t if more goroutines run than before, once those ending
// have had a moment to end.
func noLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// FitStream over FromDataset trains exactly as Fit on the same data, batch
// size, order and seed: in order, shuffled with sample weights, and with
// class weights.
func TestStreamMatchesFit(t *testing.T) {
	for _, tc := range []struct {
		name         string
		shuffle      bool
		weighted     bool
		classWeights bool
	}{{"in order", false, false, false}, {"shuffled, weighted", true, true, false}, {"class weights", true, false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			d := toyData(t, 150, 4)
			if tc.weighted {
				w := make([]float32, d.Len())
				for i := range w {
					w[i] = float32(i%3) * 0.7
				}
				wt, _ := tfwrap.NewTensor(w)
				var err error
				if d, err = d.WithSampleWeights(wt); err != nil {
					t.Fatal(err)
				}
			}
			o := fitOpts(3, 32, 5)
			o.NoShuffle = !tc.shuffle
			if tc.classWeights {
				o.ClassWeight = map[int]float64{0: 2, 2: 0.5}
			}
			a := toyModel(t, 2, layers.Dropout(0.2))
			ha, err := a.Fit(context.Background(), d, o)
			if err != nil {
				t.Fatal(err)
			}
			src, err := FromDataset(d, 32, tc.shuffle, 5)
			if err != nil {
				t.Fatal(err)
			}
			b := toyModel(t, 2, layers.Dropout(0.2))
			hb, err := b.FitStream(context.Background(), src, o)
			if err != nil {
				t.Fatal(err)
			}
			wa, wb := weightsOf(t, a), weightsOf(t, b)
			for i := range wa {
				for j := range wa[i] {
					if math.Abs(float64(wa[i][j]-wb[i][j])) > 1e-6 {
						t.Fatalf("weight %d[%d]: Fit %v, FitStream %v", i, j, wa[i][j], wb[i][j])
					}
				}
			}
			for _, k := range []string{"loss", "accuracy"} {
				for e := range ha.Metrics[k] {
					if math.Abs(ha.Metrics[k][e]-hb.Metrics[k][e]) > 1e-6 {
						t.Fatalf("%s of epoch %d: Fit %v, FitStream %v", k, e, ha.Metrics[k], hb.Metrics[k])
					}
				}
			}
			if len(hb.Epochs) != 3 {
				t.Fatalf("FitStream history: %+v", hb)
			}
		})
	}
}

// toyBatches generates the toy problem's batches one at a time: the whole
// set is never held.
func toyBatches(t *testing.T, batches, size int) func(epoch int) iter.Seq2[Batch, error] {
	return func(epoch int) iter.Seq2[Batch, error] {
		return func(yield func(Batch, error) bool) {
			for b := range batches {
				d := toyData(t, size, uint64(1000*epoch+b+10))
				if !yield(Batch{X: d.X(), Y: d.Y()}, nil) {
					return
				}
			}
		}
	}
}

// A generator that makes each batch on the fly trains the toy MLP to a
// good accuracy, with validation, and the progress shows the unknown
// number of steps.
func TestStreamGeneratorLearns(t *testing.T) {
	before := runtime.NumGoroutine()
	m := toyModel(t, 1)
	test := toyData(t, 300, 2)
	var out bytes.Buffer
	o := fitOpts(6, 64, 1)
	o.ValidationData, o.Progress, o.Output = test, ProgressBar, &out
	h, err := m.FitStream(context.Background(), StreamFunc(toyBatches(t, 20, 32)), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Epochs) != 6 || len(h.Metrics["val_accuracy"]) != 6 {
		t.Fatalf("history: %+v", h)
	}
	if acc, _ := h.Last("val_accuracy"); acc < 0.85 {
		t.Fatalf("validation accuracy %v", acc)
	}
	if first, last := h.Metrics["loss"][0], h.Metrics["loss"][5]; !(last < first) {
		t.Fatalf("loss did not fall: %v", h.Metrics["loss"])
	}
	if s := out.String(); !strings.Contains(s, "1/Unknown") || !strings.Contains(s, "20/20 ") {
		t.Fatalf("progress:\n%q", s)
	}
	noLeak(t, before)
}

// countingSource counts the calls of Next in the current epoch, each of
// which takes a little while, as reading from disk would.
type countingSource struct {
	*DatasetSource
	calls atomic.Int64
}

func (s *countingSource) ResetEpoch(e int) error {
	s.calls.Store(0)
	return s.DatasetSource.ResetEpoch(e)
}

func (s *countingSource) Next(ctx context.Context) (Batch, error) {
	s.calls.Add(1)
	time.Sleep(time.Millisecond)
	return s.DatasetSource.Next(ctx)
}

// The prefetching goroutine reads exactly Prefetch batches ahead of the
// step while the training loop is busy (here, in a batch callback), and
// none without prefetching.
func TestStreamPrefetchReadsAhead(t *testing.T) {
	const batches = 12
	d := toyData(t, batches*10, 1)
	for _, prefetch := range []int{-1, 0, 3} {
		t.Run(fmt.Sprint("prefetch ", prefetch), func(t *testing.T) {
			ahead := prefetch
			if prefetch == 0 {
				ahead = 2
			} else if prefetch < 0 {
				ahead = 0
			}
			ds, _ := FromDataset(d, 10, false, 0)
			src := &countingSource{DatasetSource: ds}
			m := toyModel(t, 1)
			o := fitOpts(2, 10, 1)
			o.Prefetch = prefetch
			var bad []string
			o.Callbacks = []Callback{CallbackFuncs{BatchEnd: func(_ TrainingView, b int, _ Logs) error {
				// b+1 batches taken; the reader may read ahead more, and
				// the call that returns io.EOF counts too.
				want := int64(min(b+1+ahead, batches+1))
				deadline := time.Now().Add(10 * time.Second)
				for src.calls.Load() < want && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if got := src.calls.Load(); got != want {
					bad = append(bad, fmt.Sprintf("batch %d: %d calls of Next, want %d", b, got, want))
				}
				return nil
			}}}
			if _, err := m.FitStream(context.Background(), src, o); err != nil {
				t.Fatal(err)
			}
			if len(bad) > 0 {
				t.Fatal(strings.Join(bad, "\n"))
			}
		})
	}
}

// badAt yields good toy batches, and at batch index at (from 0) the one
// bad makes of a good one.
func badAt(t *testing.T, at int, bad func(Batch) Batch) *FuncSource {
	good := toyBatches(t, 6, 8)
	return StreamFunc(func(epoch int) iter.Seq2[Batch, error] {
		return func(yield func(Batch, error) bool) {
			i := 0
			for b, err := range good(epoch) {
				if i == at {
					b = bad(b)
				}
				if !yield(b, err) {
					return
				}
				i++
			}
		}
	})
}

// usable checks that the model is no longer training and still trains.
func usable(t *testing.T, m *Sequential) {
	t.Helper()
	if _, err := m.Fit(context.Background(), toyData(t, 40, 1), fitOpts(1, 10, 1)); err != nil {
		t.Fatalf("the model after a failed FitStream: %v", err)
	}
}

// A bad batch is an error naming its batch and what is wrong, before
// TensorFlow sees it.
func TestStreamBadBatch(t *testing.T) {
	before := runtime.NumGoroutine()
	m := toyModel(t, 1)
	f64 := func(n int64, cols int64) *tfwrap.Tensor {
		x, _ := tfwrap.NewTensor(make([]float64, n*cols), n, cols)
		return x
	}
	for _, tc := range []struct {
		name string
		bad  func(Batch) Batch
		want string
	}{
		{"float64 inputs", func(b Batch) Batch { b.X = f64(8, 6); return b }, "inputs are float64"},
		{"wrong features", func(b Batch) Batch { b.X = tensorOf[float32](t, 8, 5); return b }, "inputs have shape (8, 5), the model takes (None, 6)"},
		{"rank", func(b Batch) Batch { b.X = tensorOf[float32](t, 8, 6, 1); return b }, "rank 3"},
		{"float labels", func(b Batch) Batch { b.Y = tensorOf[float32](t, 8); return b }, "labels are float32"},
		{"label count", func(b Batch) Batch { b.Y = tensorOf[int32](t, 7); return b }, "8 inputs but 7 labels"},
		{"class out of range", func(b Batch) Batch {
			ids := make([]int32, 8)
			ids[5] = 7
			b.Y, _ = tfwrap.NewTensor(ids)
			return b
		}, "label 7 of sample 5 is outside the 3 classes"},
		{"weights length", func(b Batch) Batch { b.W = tensorOf[float32](t, 5); return b }, "want (8), one per sample"},
		{"negative weight", func(b Batch) Batch {
			w := make([]float32, 8)
			w[2] = -1
			b.W, _ = tfwrap.NewTensor(w)
			return b
		}, "weight -1 of sample 2"},
		{"nil inputs", func(b Batch) Batch { b.X = nil; return b }, "inputs are nil"},
		{"empty batch", func(Batch) Batch { return Batch{} }, "inputs and labels are nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := noPanic(t, func() error {
				_, err := m.FitStream(context.Background(), badAt(t, 3, tc.bad), fitOpts(2, 8, 1))
				return err
			})
			if err == nil || !strings.Contains(err.Error(), "epoch 1, batch 4") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about epoch 1, batch 4: %s", err, tc.want)
			}
		})
	}
	// Sample weights in a batch and class weights in the options.
	o := fitOpts(1, 8, 1)
	o.ClassWeight = map[int]float64{1: 2}
	_, err := m.FitStream(context.Background(), badAt(t, 1, func(b Batch) Batch { b.W = tensorOf[float32](t, 8); return b }), o)
	if err == nil || !strings.Contains(err.Error(), "epoch 1, batch 2: the batch has sample weights and FitOptions has class weights") {
		t.Fatalf("sample and class weights: %v", err)
	}
	usable(t, m)
	noLeak(t, before)
}

// failingSource fails at one batch of one epoch, or panics.
type failingSource struct {
	*DatasetSource
	epoch, batch int // from 1
	err          error
	panics       bool
	n            int
}

func (s *failingSource) ResetEpoch(e int) error {
	s.n = 0
	return s.DatasetSource.ResetEpoch(e)
}

func (s *failingSource) Next(ctx context.Context) (Batch, error) {
	s.n++
	if s.DatasetSource.epoch+1 == s.epoch && s.n == s.batch {
		if s.panics {
			panic("a corrupt record")
		}
		return Batch{}, s.err
	}
	return s.DatasetSource.Next(ctx)
}

// A source's error mid-epoch ends FitStream with it, wrapped with the
// epoch and batch, and keeps the epochs done; so does a panic in the
// source; the model is usable after.
func TestStreamSourceError(t *testing.T) {
	before := runtime.NumGoroutine()
	m := toyModel(t, 1)
	boom := errors.New("disk on fire")
	ds, _ := FromDataset(toyData(t, 80, 1), 10, true, 1)
	h, err := m.FitStream(context.Background(), &failingSource{DatasetSource: ds, epoch: 2, batch: 5, err: boom}, fitOpts(3, 10, 1))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "epoch 2, batch 5") {
		t.Fatalf("got %v, want %v at epoch 2, batch 5", err, boom)
	}
	if h == nil || len(h.Epochs) != 1 {
		t.Fatalf("history: %+v", h)
	}
	usable(t, m)

	ds, _ = FromDataset(toyData(t, 80, 1), 10, true, 1)
	err = noPanic(t, func() error {
		_, err := m.FitStream(context.Background(), &failingSource{DatasetSource: ds, epoch: 1, batch: 3, panics: true}, fitOpts(2, 10, 1))
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "batch 3: the source panicked: a corrupt record") {
		t.Fatalf("got %v, want the source's panic as an error", err)
	}
	usable(t, m)

	// An epoch without batches, a nil source and a validation split are
	// refused.
	empty := StreamFunc(func(int) iter.Seq2[Batch, error] { return func(func(Batch, error) bool) {} })
	if _, err := m.FitStream(context.Background(), empty, quiet); err == nil || !strings.Contains(err.Error(), "epoch 1 has no batches") {
		t.Fatalf("empty epoch: %v", err)
	}
	if _, err := m.FitStream(context.Background(), nil, quiet); err == nil {
		t.Fatal("a nil source was accepted")
	}
	o := quiet
	o.ValidationSplit = 0.2
	if _, err := m.FitStream(context.Background(), ds, o); err == nil || !strings.Contains(err.Error(), "ValidationData") {
		t.Fatalf("validation split: %v", err)
	}
	usable(t, m)
	noLeak(t, before)
}

// blockingSource yields some batches, then blocks in Next until its
// context is done.
type blockingSource struct {
	*DatasetSource
	after   int
	n       int
	blocked chan struct{}
}

func (s *blockingSource) Next(ctx context.Context) (Batch, error) {
	s.n++
	if s.n > s.after {
		close(s.blocked)
		<-ctx.Done()
		return Batch{}, ctx.Err()
	}
	return s.DatasetSource.Next(ctx)
}

// Cancelling the context returns promptly, whether the reader is blocked
// in the source or in a full queue, the generator of a stopped run ends,
// and no goroutine is left behind.
func TestStreamCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	m := toyModel(t, 1)

	t.Run("blocked in Next", func(t *testing.T) {
		ds, _ := FromDataset(toyData(t, 200, 1), 10, false, 0)
		src := &blockingSource{DatasetSource: ds, after: 4, blocked: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-src.blocked; cancel() }()
		var h *History
		var err error
		fitWithin(t, 10*time.Second, func() { h, err = m.FitStream(ctx, src, fitOpts(3, 10, 1)) })
		if !errors.Is(err, context.Canceled) || h == nil || len(h.Epochs) != 0 {
			t.Fatalf("got %v, %+v; want context.Canceled and no epochs", err, h)
		}
	})

	t.Run("queue full", func(t *testing.T) {
		ds, _ := FromDataset(toyData(t, 200, 1), 10, false, 0)
		ctx, cancel := context.WithCancel(context.Background())
		o := fitOpts(3, 10, 1)
		o.Callbacks = []Callback{CallbackFuncs{BatchEnd: func(_ TrainingView, b int, _ Logs) error {
			if b == 2 {
				cancel()
			}
			return nil
		}}}
		_, err := m.FitStream(ctx, ds, o)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})

	t.Run("generator stopped", func(t *testing.T) {
		var ended, yielded atomic.Int64
		gen := toyBatches(t, 50, 8)
		src := StreamFunc(func(e int) iter.Seq2[Batch, error] {
			return func(yield func(Batch, error) bool) {
				defer ended.Add(1)
				for b, err := range gen(e) {
					yielded.Add(1)
					if !yield(b, err) {
						return
					}
				}
			}
		})
		o := fitOpts(3, 8, 1)
		o.Callbacks = []Callback{CallbackFuncs{BatchEnd: func(v TrainingView, b int, _ Logs) error {
			if b == 5 {
				v.StopTraining()
			}
			return nil
		}}}
		h, err := m.FitStream(context.Background(), src, o)
		if err != nil || len(h.Epochs) != 1 {
			t.Fatalf("got %v, %+v", err, h)
		}
		if ended.Load() != 1 || yielded.Load() > 6+2+1 {
			t.Fatalf("generator ended %d times after %d batches", ended.Load(), yielded.Load())
		}
	})
	usable(t, m)
	noLeak(t, before)
}

// FuncSource also serves Next and Reset directly, and FitStream refuses to
// start while the model trains.
func TestStreamFuncSourceNext(t *testing.T) {
	src := StreamFunc(func(e int) iter.Seq2[Batch, error] {
		return func(yield func(Batch, error) bool) {
			for i := range e + 1 {
				x, _ := tfwrap.NewTensor([]float32{float32(e), float32(i)}, 1, 2)
				if !yield(Batch{X: x}, nil) {
					return
				}
			}
		}
	})
	for e := range 3 {
		n := 0
		for {
			b, err := src.Next(context.Background())
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			v, _ := b.X.Float32s()
			if v[0] != float32(e) || v[1] != float32(n) {
				t.Fatalf("epoch %d batch %d: %v", e, n, v)
			}
			n++
		}
		if n != e+1 {
			t.Fatalf("epoch %d: %d batches", e, n)
		}
		if err := src.Reset(); err != nil {
			t.Fatal(err)
		}
	}
	src.Close()

	m := toyModel(t, 1)
	ds, _ := FromDataset(toyData(t, 40, 1), 10, false, 0)
	o := fitOpts(1, 10, 1)
	var inner error
	o.Callbacks = []Callback{CallbackFuncs{EpochEnd: func(TrainingView, int, Logs) error {
		_, inner = m.FitStream(context.Background(), ds, quiet)
		return nil
	}}}
	if _, err := m.FitStream(context.Background(), ds, o); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, ErrTraining) {
		t.Fatalf("FitStream while training: %v", inner)
	}
}
