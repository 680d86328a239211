package tfwrap

import (
	"errors"
	"fmt"
	"os"
	"sync"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// SummaryWriter writes TensorBoard event files through TensorFlow's own
// summary ops (CreateSummaryFileWriter, WriteScalarSummary), so that
// `tensorboard --logdir` reads them as it reads Keras's. It owns a small
// graph and session: Close it. Safe for concurrent use.
type SummaryWriter struct {
	mu         sync.Mutex
	sess       *Session
	step, tag  Output
	value      Output
	write      *Op
	flush      *Op
	closeOp    *Op
	closedOnce bool
}

// NewSummaryWriter creates logdir if needed and opens an event file in it.
func NewSummaryWriter(logdir string) (*SummaryWriter, error) {
	if logdir == "" {
		return nil, errors.New("tfwrap: summary writer: empty log folder")
	}
	if err := os.MkdirAll(logdir, 0o755); err != nil {
		return nil, fmt.Errorf("tfwrap: summary writer: %w", err)
	}
	g := NewGraph()
	res := g.add1("SummaryWriter", "writer", nil, map[string]any{"shared_name": "", "container": ""})
	dir, err := NewStrings([]string{logdir}, []int64{}...)
	if err != nil {
		return nil, err
	}
	suffix, err := NewStrings([]string{".v2"}, []int64{}...)
	if err != nil {
		return nil, err
	}
	w := &SummaryWriter{}
	if res.Valid() {
		d, sfx := g.Const(dir), g.Const(suffix)
		q, ms := g.Scalar(10, Int32), g.Scalar(1000, Int32)
		if create := g.add("CreateSummaryFileWriter", "create", []tf.Input{res.out, d.out, q.out, ms.out, sfx.out}, nil); create != nil {
			after := g.After(&Op{st: g.st, op: create})
			w.step = g.Placeholder("step", Int64)
			w.tag = g.Placeholder("tag", String)
			w.value = g.Placeholder("value", Float32)
			if w.step.Valid() && w.tag.Valid() && w.value.Valid() {
				w.write = after.apply("WriteScalarSummary", []tf.Input{res.out, w.step.out, w.tag.out, w.value.out},
					map[string]any{"T": tf.Float})
			}
			w.flush = after.apply("FlushSummaryWriter", []tf.Input{res.out}, nil)
			w.closeOp = after.apply("CloseSummaryWriter", []tf.Input{res.out}, nil)
		}
	}
	if w.sess, err = g.NewSession(); err != nil {
		return nil, fmt.Errorf("tfwrap: summary writer: %w", err)
	}
	return w, nil
}

// Scalar records value under tag at step.
func (w *SummaryWriter) Scalar(tag string, step int64, value float64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closedOnce {
		return fmt.Errorf("tfwrap: summary writer is %w", ErrClosed)
	}
	t, err := NewStrings([]string{tag}, []int64{}...)
	if err != nil {
		return err
	}
	_, err = w.sess.Run(Feeds{w.step: Scalar(step), w.tag: t, w.value: Scalar(float32(value))}, nil, w.write)
	return err
}

// Flush writes buffered events to disk.
func (w *SummaryWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closedOnce {
		return fmt.Errorf("tfwrap: summary writer is %w", ErrClosed)
	}
	_, err := w.sess.Run(nil, nil, w.flush)
	return err
}

// Close flushes and closes the event file and the session. Idempotent.
func (w *SummaryWriter) Close() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closedOnce {
		return nil
	}
	w.closedOnce = true
	_, err := w.sess.Run(nil, nil, w.closeOp)
	if cerr := w.sess.Close(); err == nil {
		err = cerr
	}
	return err
}
