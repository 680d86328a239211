package models_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/models"
)

// countStep is a step of one's own: it counts, with 3 steps an epoch.
type countStep struct {
	steps, done int
	calls       *[]string
}

func (s *countStep) BeginEpoch(e int) error {
	s.done = 0
	*s.calls = append(*s.calls, fmt.Sprintf("begin %d", e))
	return nil
}

func (s *countStep) Run(ctx context.Context, e, b int) (bool, error) {
	if b == s.steps {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.done++
	*s.calls = append(*s.calls, fmt.Sprintf("step %d.%d", e, b))
	return true, nil
}

func (s *countStep) Logs() (models.Logs, error) { return models.Logs{"done": float64(s.done)}, nil }

// recorder is a hook of every kind that writes down what it sees.
type recorder struct {
	name      string
	calls     *[]string
	add       string // a log it adds at epoch end
	stopAt    int    // stop after this step of epoch 1 (when > 0)
	failEpoch int    // fail at the end of this epoch (when > 0)
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) OnLoopBegin(l *models.LoopRun) error {
	*r.calls = append(*r.calls, fmt.Sprintf("%s loop %d-%d", r.name, l.InitialEpoch, l.Epochs))
	return nil
}

func (r *recorder) OnEpochBegin(_ *models.LoopRun, e int) error {
	*r.calls = append(*r.calls, fmt.Sprintf("%s epoch %d", r.name, e))
	return nil
}

func (r *recorder) OnStepEnd(l *models.LoopRun, b int, logs func() (models.Logs, error)) error {
	lg, err := logs()
	if err != nil {
		return err
	}
	*r.calls = append(*r.calls, fmt.Sprintf("%s after %d done=%v", r.name, b, lg["done"]))
	if r.stopAt > 0 && b+1 == r.stopAt {
		l.Stop()
	}
	return nil
}

func (r *recorder) OnEpochEnd(_ *models.LoopRun, e int, logs models.Logs) error {
	*r.calls = append(*r.calls, fmt.Sprintf("%s end %d %v", r.name, e, logs.Keys()))
	if r.add != "" {
		logs[r.add] = float64(e)
	}
	if r.failEpoch > 0 && e == r.failEpoch {
		return errors.New("boom")
	}
	return nil
}

type loopStopper struct{}

func (loopStopper) Name() string                         { return "stopper" }
func (*loopStopper) OnLoopBegin(r *models.LoopRun) error { r.Stop(); return nil }

// TestLoop: the loop calls the step and the hooks in order, later hooks
// and the history see what earlier ones added to the logs, InitialEpoch
// resumes, Stop ends after the step, and a hook's error names the hook.
func TestLoop(t *testing.T) {
	var calls []string
	a := &recorder{name: "a", calls: &calls, add: "added"}
	b := &recorder{name: "b", calls: &calls}
	h, err := models.Loop{Epochs: 3, InitialEpoch: 1, Steps: 2, Hooks: []models.Hook{a, b}}.Run(context.Background(), &countStep{steps: 2, calls: &calls})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"a loop 1-3", "b loop 1-3",
		"begin 1", "a epoch 1", "b epoch 1",
		"step 1.0", "a after 0 done=1", "b after 0 done=1",
		"step 1.1", "a after 1 done=2", "b after 1 done=2",
		"a end 1 [done]", "b end 1 [added done]",
		"begin 2", "a epoch 2", "b epoch 2",
		"step 2.0", "a after 0 done=1", "b after 0 done=1",
		"step 2.1", "a after 1 done=2", "b after 1 done=2",
		"a end 2 [done]", "b end 2 [added done]",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if fmt.Sprint(h.Epochs, h.Metrics["added"], h.Metrics["done"]) != "[1 2] [1 2] [2 2]" {
		t.Errorf("history %v %v", h.Epochs, h.Metrics)
	}

	calls = nil
	stopper := &recorder{name: "s", calls: &calls, stopAt: 1}
	h, err = models.Loop{Epochs: 5, Hooks: []models.Hook{stopper}}.Run(context.Background(), &countStep{steps: 3, calls: &calls})
	if err != nil || len(h.Epochs) != 1 || h.Metrics["done"][0] != 1 {
		t.Errorf("Stop after the first step: history %v %v, %v", h.Epochs, h.Metrics, err)
	}

	calls = nil
	failing := &recorder{name: "checkpoint", calls: &calls, failEpoch: 1}
	h, err = models.Loop{Epochs: 5, Hooks: []models.Hook{failing}}.Run(context.Background(), &countStep{steps: 1, calls: &calls})
	if err == nil || !strings.Contains(err.Error(), "hook checkpoint: boom") || len(h.Epochs) != 1 {
		t.Errorf("a failing hook: %v, history %v", err, h.Epochs)
	}

	// Stop before any step: from OnLoopBegin, nothing runs.
	calls = nil
	early := &loopStopper{}
	h, err = models.Loop{Epochs: 3, Hooks: []models.Hook{early}}.Run(context.Background(), &countStep{steps: 3, calls: &calls})
	if err != nil || len(h.Epochs) != 0 || len(calls) != 0 {
		t.Errorf("Stop from OnLoopBegin: %v, history %v, calls %v", err, h.Epochs, calls)
	}
	var typedNil *recorder
	if _, err := (models.Loop{Hooks: []models.Hook{typedNil}}).Run(context.Background(), &countStep{steps: 1, calls: &calls}); err == nil {
		t.Error("a typed nil hook: no error")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (models.Loop{}).Run(ctx, &countStep{steps: 1, calls: &calls}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := (models.Loop{}).Run(context.Background(), nil); err == nil {
		t.Error("nil step: no error")
	}
	if _, err := (models.Loop{Hooks: []models.Hook{nil}}).Run(context.Background(), &countStep{steps: 1, calls: &calls}); err == nil {
		t.Error("nil hook: no error")
	}
	if _, err := (models.Loop{Epochs: -1}).Run(context.Background(), &countStep{steps: 1, calls: &calls}); err == nil {
		t.Error("negative epochs: no error")
	}
}

// A step of one's own runs in the same loop as Fit, with Fit's progress
// display as a hook.
func ExampleLoop() {
	var calls []string
	var out bytes.Buffer
	h, err := models.Loop{Epochs: 2, Steps: 3, Hooks: []models.Hook{models.ProgressHook(&out, models.ProgressLines)}}.
		Run(context.Background(), &countStep{steps: 3, calls: &calls})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		fmt.Println(strings.Fields(line)[0]) // the rest holds timings
	}
	fmt.Println(h.Metrics["done"])
	// Output:
	// Epoch
	// 3/3
	// Epoch
	// 3/3
	// [3 3]
}
