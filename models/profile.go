package models

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/profile"
)

// ProfileOptions asks Fit (FitOptions.Profile) or Predict
// (PredictOptions.Profile) to trace some of its steps with TensorFlow's
// per-op timings and write Dir/trace.json (a Chrome trace: open it in
// Perfetto or chrome://tracing) and Dir/ops.txt (op types by kernel time,
// and kernel_share = busy / wall; see package tfwrap/profile). The zero
// value traces nothing and costs nothing.
type ProfileOptions struct {
	// Steps is the number of steps (training batches, or Predict
	// batches) to trace; 0: off. Each traced step is followed by one run
	// untraced and timed (Table.UntracedShare), so they span 2·Steps
	// steps; more than the run has is fine.
	Steps int
	// Warmup is the number of steps run untraced first, so that the
	// trace leaves out one-time costs (the executor's creation, kernel
	// set-up): 0 means 2, negative means none. Fit counts steps across
	// epochs.
	Warmup int
	// Dir is the folder the files go to, made if need be.
	Dir string
	// Table, if set, receives the table once the files are written, for
	// a program that reads the numbers (make bench's kernel_share).
	Table *profile.Table
}

// stepProfiler traces a run's steps as ProfileOptions ask. A nil one runs
// them untraced.
type stepProfiler struct {
	dir         string
	warm, left  int
	askedGraphs bool
	timeNext    bool // the next step runs untraced and is timed
	written     bool
	md          tfwrap.RunMetadata
	p           profile.Profile
	table       *profile.Table
}

// newStepProfiler checks opts and makes their folder; it returns nil when
// opts trace nothing.
func newStepProfiler(what string, opts ProfileOptions) (*stepProfiler, error) {
	if err := checkProfile(what, opts); err != nil || opts.Steps == 0 {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("models: %s: profile: %w", what, err)
	}
	warm := opts.Warmup
	if warm == 0 {
		warm = 2
	}
	return &stepProfiler{dir: opts.Dir, warm: max(warm, 0), left: opts.Steps, table: opts.Table}, nil
}

// checkProfile checks opts in Go, before any TensorFlow call.
func checkProfile(what string, opts ProfileOptions) error {
	if opts.Steps < 0 {
		return fmt.Errorf("models: %s: profile steps %d is negative", what, opts.Steps)
	}
	if opts.Steps > 0 && opts.Dir == "" {
		return fmt.Errorf("models: %s: profiling %d steps needs a Dir for trace.json and ops.txt", what, opts.Steps)
	}
	return nil
}

// run is sess.Run, traced when the step is one to trace. The files are
// written as soon as the step after the last traced one is timed.
func (sp *stepProfiler) run(sess *tfwrap.Session, feeds tfwrap.Feeds, fetches []tfwrap.Output, targets ...*tfwrap.Op) ([]*tfwrap.Tensor, error) {
	return sp.runWith(sess, tfwrap.RunOptions{}, feeds, fetches, targets...)
}

// runWith is run with base's options (Inline) on every step, traced or not.
func (sp *stepProfiler) runWith(sess *tfwrap.Session, base tfwrap.RunOptions, feeds tfwrap.Feeds, fetches []tfwrap.Output, targets ...*tfwrap.Op) ([]*tfwrap.Tensor, error) {
	if sp == nil || sp.written {
		return sess.RunWith(base, feeds, fetches, targets...)
	}
	// The partition graphs name the ops' types; one step's are enough,
	// asked for by the last warm-up step if there is one, so that no
	// traced step pays for serializing the graph.
	if sp.warm > 0 {
		sp.warm--
		if sp.warm > 0 {
			return sess.RunWith(base, feeds, fetches, targets...)
		}
		res, err := sess.RunWith(tfwrap.RunOptions{Inline: base.Inline, PartitionGraphs: true, Metadata: &sp.md}, feeds, fetches, targets...)
		if err == nil {
			sp.p.AddGraphs(&sp.md)
			sp.askedGraphs = true
		}
		return res, err
	}
	// Each traced step is followed by an untraced one, timed: tracing
	// slows a step, and the table compares its kernels with both.
	if sp.timeNext {
		sp.timeNext = false
		start := time.Now()
		res, err := sess.RunWith(base, feeds, fetches, targets...)
		if err != nil {
			return nil, err
		}
		sp.p.AddUntraced(time.Since(start))
		if sp.left == 0 {
			return res, sp.finish()
		}
		return res, nil
	}
	// SoftwareTrace: the executor's own per-op timings. FullTrace gives
	// the same on CPU through TensorFlow's profiler, at a higher cost
	// per step.
	opts := tfwrap.RunOptions{Inline: base.Inline, Trace: tfwrap.SoftwareTrace, PartitionGraphs: !sp.askedGraphs, Metadata: &sp.md}
	sp.askedGraphs = true
	start := time.Now()
	res, err := sess.RunWith(opts, feeds, fetches, targets...)
	wall := time.Since(start)
	if err != nil {
		return nil, err
	}
	if err := sp.p.Add(&sp.md, wall); err != nil {
		return nil, err
	}
	sp.left--
	sp.timeNext = true
	return res, nil
}

// finish writes the files, once, with the steps traced so far (none, if
// the run was shorter than the warm-up).
func (sp *stepProfiler) finish() error {
	if sp == nil || sp.written {
		return nil
	}
	sp.written = true
	if sp.table != nil {
		*sp.table = sp.p.Table()
	}
	if err := sp.p.WriteFiles(sp.dir); err != nil {
		return fmt.Errorf("models: %w", err)
	}
	return nil
}

// finishProfile joins a run's error with the profiler's.
func finishProfile(sp *stepProfiler, err error) error {
	if ferr := sp.finish(); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}
