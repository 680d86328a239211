package imagefolder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"

	"github.com/tfgo-project/gotf/models"
)

// Stream reads a folder batch by batch, as the dataset Keras's
// image_dataset_from_directory returns does when it is iterated: files
// decoded and resized on TensorFlow's threads, a batch or two ahead, and
// only the batches in flight held in memory, so a folder larger than
// memory trains with models.Model.FitStream. It is a models.BatchSource
// (with Len and ResetEpoch); X is float32 (batch, Height, Width, 3), Y
// int32 class ids (batch) or, with Options.Categorical, float32 one-hot
// rows (batch, classes). The last batch of an epoch may be smaller.
//
// Every file's kind, size and header is checked when the stream opens, as
// Load does. A file TensorFlow then cannot decode ends the epoch with an
// error naming the file.
type Stream struct {
	Classes   []string
	Files     []string // in the first epoch's order
	Labels    []int32
	Height    int
	Width     int
	BatchSize int

	opts Options

	mu     sync.Mutex
	p      *pipeline
	order  []int // this epoch's file order (nil: Files' order)
	epoch  int   // the epoch Reset starts next
	given  int   // batches given this epoch
	failed error // the error that ended this epoch
}

// Open lists dir and checks its files as Load does, and returns the
// stream, positioned before its first epoch (Next calls Reset first when
// it is not). BatchSize in opts is the batch (0: 32, Keras's default).
// With Shuffle, the first epoch reads the files in the order Load gives
// them (Keras's, for the same validation split) and every later epoch in
// a new order drawn from Seed and the epoch, so a resumed run repeats the
// same batches; the orders are not Keras's, whose shuffle buffer draws
// from TensorFlow's own generator. Close releases the stream.
func Open(dir string, opts Options) (*Stream, error) {
	if opts.BatchSize < 0 || opts.BatchSize > 1<<20 {
		return nil, fmt.Errorf("imagefolder: batch size %d: want 1 to %d (0: 32)", opts.BatchSize, 1<<20)
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = 32
	}
	files, labels, classes, err := prepare(dir, &opts)
	if err != nil {
		return nil, err
	}
	ncls := 0
	if opts.Categorical {
		ncls = len(classes)
	}
	p, err := newPipeline(opts.Height, opts.Width, opts.BatchSize, opts.CropToAspectRatio, ncls)
	if err != nil {
		return nil, err
	}
	return &Stream{Classes: classes, Files: files, Labels: labels, Height: opts.Height, Width: opts.Width,
		BatchSize: opts.BatchSize, opts: opts, p: p, epoch: 0, given: -1}, nil
}

// Len is the number of batches in an epoch.
func (s *Stream) Len() int { return (len(s.Files) + s.BatchSize - 1) / s.BatchSize }

// Reset starts the next epoch: the first, then the one after the last
// started.
func (s *Stream) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.start(s.epoch)
}

// ResetEpoch starts epoch (from 0), in that epoch's order.
func (s *Stream) ResetEpoch(epoch int) error {
	if epoch < 0 {
		return fmt.Errorf("imagefolder: epoch %d: want 0 or more", epoch)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.start(epoch)
}

// start begins epoch; s.mu is held.
func (s *Stream) start(epoch int) error {
	if s.p == nil {
		return ErrClosed
	}
	files, labels := s.Files, s.Labels
	s.order = nil
	if s.opts.Shuffle && epoch > 0 {
		r := rand.New(rand.NewPCG(uint64(s.opts.Seed), uint64(epoch)))
		s.order = r.Perm(len(s.Files))
		files, labels = make([]string, len(s.order)), make([]int32, len(s.order))
		for i, j := range s.order {
			files[i], labels[i] = s.Files[j], s.Labels[j]
		}
	}
	if err := s.p.start(files, labels); err != nil {
		return fmt.Errorf("imagefolder: starting epoch %d: %w", epoch, err)
	}
	s.epoch, s.given, s.failed = epoch+1, 0, nil
	return nil
}

// Next returns the epoch's next batch, or io.EOF when the epoch is over.
func (s *Stream) Next(ctx context.Context) (models.Batch, error) {
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return models.Batch{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return models.Batch{}, ErrClosed
	}
	if s.given < 0 { // not started: the first epoch
		if err := s.start(s.epoch); err != nil {
			return models.Batch{}, err
		}
	}
	if s.failed != nil {
		return models.Batch{}, s.failed
	}
	if s.given >= s.Len() {
		return models.Batch{}, io.EOF
	}
	x, y, err := s.p.next()
	if err != nil {
		s.failed = s.nameBad(err)
		return models.Batch{}, s.failed
	}
	s.given++
	return models.Batch{X: x, Y: y}, nil
}

// nameBad turns the pipeline's error for the batch being read into the
// error of the file in it that TensorFlow cannot decode.
func (s *Stream) nameBad(err error) error {
	lo := s.given * s.BatchSize
	hi := min(lo+s.BatchSize, len(s.Files))
	files := make([]string, 0, hi-lo)
	for i := lo; i < hi; i++ {
		j := i
		if s.order != nil {
			j = s.order[i]
		}
		files = append(files, s.Files[j])
	}
	if bad := findBad(files, s.opts); bad != nil {
		return fmt.Errorf("batch %d: %w", s.given+1, bad)
	}
	return fmt.Errorf("imagefolder: batch %d: %w", s.given+1, err)
}

// Close releases the stream's TensorFlow session. It is safe to call more
// than once; Next and Reset then return ErrClosed.
func (s *Stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		s.p.close()
		s.p = nil
	}
	return nil
}

// ErrClosed is returned by a Stream's methods after Close.
var ErrClosed = errors.New("imagefolder: the stream is closed")
