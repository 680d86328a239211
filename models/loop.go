package models

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
)

// Step is one training step of a Loop, as Keras's train_step: whatever
// one batch of training does (forward, loss, gradients, apply; for a GAN,
// two models' updates). Fit's own step draws the batch from the uploaded
// data and runs the model's compiled update; a step of one's own runs in
// the same Loop, with the same hooks.
type Step interface {
	// BeginEpoch prepares epoch e (from 0): the data's order, the running
	// metrics reset.
	BeginEpoch(e int) error
	// Run runs batch b (from 0) of epoch e, or reports false when the
	// epoch has no batch b. When ctx is done it returns ctx's error.
	Run(ctx context.Context, e, b int) (more bool, err error)
	// Logs returns the epoch's metrics so far ("loss", …). The loop asks
	// only when a hook wants them, and at the end of every epoch.
	Logs() (Logs, error)
}

// Hook is a Loop's hook: a name, for its errors, and any of LoopBeginner,
// EpochBeginner, StepEnder and EpochEnder. Progress, history, validation,
// checkpoints, early stopping, learning-rate schedules and TensorBoard
// are hooks: Fit runs its FitOptions as hooks in a Loop. A hook value
// keeps its state across runs: do not share one between runs at once.
type Hook interface{ Name() string }

// passErrors marks Fit's own hooks, whose errors (a callback's) Loop
// returns as they are, as Fit always has.
type passErrors interface{ passErrors() }

// LoopBeginner is called once before the first epoch.
type LoopBeginner interface {
	OnLoopBegin(r *LoopRun) error
}

// EpochBeginner is called before each epoch's first step.
type EpochBeginner interface {
	OnEpochBegin(r *LoopRun, epoch int) error
}

// StepEnder is called after every step; logs fetches the epoch's running
// metrics (from TensorFlow, for Fit's step), so a hook that does not look
// at them every step costs nothing.
type StepEnder interface {
	OnStepEnd(r *LoopRun, batch int, logs func() (Logs, error)) error
}

// EpochEnder is called after each epoch, in the order of Loop.Hooks, with
// the epoch's logs: a hook may add to them (validation adds val_loss,
// a schedule learning_rate), and those after it, and the history, see
// what it added.
type EpochEnder interface {
	OnEpochEnd(r *LoopRun, epoch int, logs Logs) error
}

// LoopRun is one run of a Loop, as its hooks see it. Its hooks are called
// from the goroutine that called Run, one at a time.
type LoopRun struct {
	// Epochs and InitialEpoch are the Loop's; Steps is its steps per
	// epoch (0 when the step alone knows).
	Epochs, InitialEpoch, Steps int
	// History holds the logs of the epochs done.
	History *History
	stop    bool
}

// Stop ends the run: called from a StepEnder, after the step's hooks (the
// epoch then ends with the steps run); from an EpochEnder, after the
// epoch; from a LoopBeginner or EpochBeginner, before the next step, with
// no epoch recorded.
func (r *LoopRun) Stop() { r.stop = true }

// Loop runs a Step over epochs and calls its hooks around it, in the order
// of Hooks, as GoMLX's train.Loop and the loop inside Keras's fit: every
// epoch it begins the step's epoch, runs steps until the step has no more
// batches, then ends the epoch with the step's logs and adds them to the
// history. The first hook error ends the run and is returned, with the
// hook's name in it (an error fetching the logs, the step's, is returned
// as it is). A Loop is a plain value; each Run makes its own LoopRun.
type Loop struct {
	// Epochs is the number of the last epoch (default 1); the run goes
	// from InitialEpoch+1 to Epochs, as Keras's initial_epoch.
	Epochs, InitialEpoch int
	// Steps is the number of steps an epoch has, for the hooks (the
	// progress bar), or 0 when the step alone knows.
	Steps int
	Hooks []Hook
}

// Run runs the loop over step until its epochs are done, a hook stops it
// or ctx is cancelled (between steps; Run then returns the history so far
// and ctx's error).
func (l Loop) Run(ctx context.Context, step Step) (*History, error) {
	if step == nil {
		return nil, errors.New("models: loop: the step is nil")
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if l.Epochs == 0 {
		l.Epochs = 1
	}
	if l.Epochs < 0 || l.InitialEpoch < 0 || l.Steps < 0 {
		return nil, fmt.Errorf("models: loop: epochs %d, initial epoch %d, steps %d: want non-negative", l.Epochs, l.InitialEpoch, l.Steps)
	}
	r := &LoopRun{Epochs: l.Epochs, InitialEpoch: l.InitialEpoch, Steps: l.Steps, History: &History{}}
	var stepHooks []StepEnder
	var stepNames []Hook
	for i, h := range l.Hooks {
		if isNil(h) {
			return r.History, fmt.Errorf("models: loop: hook %d is nil", i)
		}
		if s, ok := h.(StepEnder); ok {
			stepHooks, stepNames = append(stepHooks, s), append(stepNames, h)
		}
	}
	hookErr := func(h Hook, err error) error {
		if _, pass := h.(passErrors); pass {
			return err
		}
		return fmt.Errorf("models: loop: hook %s: %w", h.Name(), err)
	}
	for _, h := range l.Hooks {
		if b, ok := h.(LoopBeginner); ok {
			if err := b.OnLoopBegin(r); err != nil {
				return r.History, hookErr(h, err)
			}
		}
	}
	for e := l.InitialEpoch; e < l.Epochs && !r.stop; e++ {
		if err := step.BeginEpoch(e); err != nil {
			return r.History, err
		}
		for _, h := range l.Hooks {
			if b, ok := h.(EpochBeginner); ok {
				if err := b.OnEpochBegin(r, e); err != nil {
					return r.History, hookErr(h, err)
				}
			}
		}
		if r.stop {
			break
		}
		for b := 0; ; b++ {
			more, err := step.Run(ctx, e, b)
			if err != nil {
				return r.History, err
			}
			if !more {
				break
			}
			if len(stepHooks) > 0 {
				var logs Logs
				var logsErr error
				fetched := false
				fetch := func() (Logs, error) {
					if !fetched {
						logs, logsErr = step.Logs()
						fetched = true
					}
					return logs, logsErr
				}
				for i, h := range stepHooks {
					if err := h.OnStepEnd(r, b, fetch); err != nil {
						if errors.Is(err, logsErr) && logsErr != nil {
							return r.History, err
						}
						return r.History, hookErr(stepNames[i], err)
					}
				}
			}
			if r.stop {
				break
			}
		}
		logs, err := step.Logs()
		if err != nil {
			return r.History, err
		}
		for _, h := range l.Hooks {
			if ee, ok := h.(EpochEnder); ok {
				if err := ee.OnEpochEnd(r, e, logs); err != nil {
					return r.History, hookErr(h, err)
				}
			}
		}
		r.History.add(e, logs)
		if r.stop {
			break
		}
	}
	return r.History, nil
}

// isNil reports a nil hook, typed or not.
func isNil(h Hook) bool {
	if h == nil {
		return true
	}
	v := reflect.ValueOf(h)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Interface, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// ProgressHook shows a Loop's progress as Fit does (Keras's display: a
// bar on a terminal, one line per epoch otherwise, per mode) on w
// (default os.Stdout).
func ProgressHook(w io.Writer, mode Progress) Hook {
	if w == nil {
		w = os.Stdout
	}
	return &progressHook{w: w, mode: mode}
}

type progressHook struct {
	w    io.Writer
	mode Progress
	bar  *progress
	done int
}

func (p *progressHook) Name() string { return "progress" }

func (p *progressHook) OnLoopBegin(r *LoopRun) error {
	p.bar = newProgress(p.w, p.mode, r.Epochs, r.Steps)
	return nil
}

func (p *progressHook) OnEpochBegin(_ *LoopRun, e int) error {
	p.bar.epochBegin(e)
	p.done = 0
	return nil
}

func (p *progressHook) OnStepEnd(_ *LoopRun, b int, logs func() (Logs, error)) error {
	p.done = b + 1
	if !p.bar.due(b + 1) {
		return nil
	}
	l, err := logs()
	if err != nil {
		return err
	}
	p.bar.update(b+1, l)
	return nil
}

func (p *progressHook) OnEpochEnd(_ *LoopRun, _ int, logs Logs) error {
	p.bar.epochEnd(p.done, logs)
	return nil
}
