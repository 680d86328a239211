package serving

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

// batcher merges concurrent requests for one model version into one
// Session.Run: requests whose inputs have the same per-row shapes are
// stacked along the first axis (up to maxRows rows, waiting at most wait
// for company), run once, and the outputs split back by rows. It serves
// signatures whose inputs and outputs all have a batch axis.
type batcher struct {
	model   *savedmodels.Model
	maxRows int
	wait    time.Duration
	jobs    chan *job
	m       *metrics
	name    string
}

type job struct {
	sig      string
	deadline time.Time // zero: none
	group    string    // signature and per-row input shapes: what may be merged
	feeds    map[string]*tfwrap.Tensor
	rows     int
	done     chan jobResult
}

type jobResult struct {
	out map[string]*tfwrap.Tensor
	err error
}

func newBatcher(name string, model *savedmodels.Model, maxRows int, wait time.Duration, m *metrics) *batcher {
	b := &batcher{model: model, maxRows: maxRows, wait: wait, jobs: make(chan *job, 4*maxRows), m: m, name: name}
	go b.loop()
	return b
}

// stop ends the loop once the queued jobs are done; call it after the
// version's requests have finished.
func (b *batcher) stop() { close(b.jobs) }

// batchable reports whether a signature can be merged: every input and
// output has an unknown leading (batch) dimension.
func batchable(sig *savedmodels.Signature) bool {
	for _, list := range [][]savedmodels.TensorInfo{sig.Inputs, sig.Outputs} {
		for _, t := range list {
			if len(t.Shape) == 0 || t.Shape[0] != -1 || t.DType == tfwrap.String {
				return false // row operations need a batch axis and fixed-size elements
			}
		}
	}
	return true
}

// predict queues a request and waits for its share of a batch.
func (b *batcher) predict(sig string, feeds map[string]*tfwrap.Tensor, timeout time.Duration) (map[string]*tfwrap.Tensor, error) {
	alone := savedmodels.PredictOptions{Timeout: timeout}
	var group strings.Builder
	group.WriteString(sig)
	rows := -1
	for _, name := range sortedKeys(feeds) {
		t := feeds[name]
		s := t.Shape()
		if len(s) == 0 || (rows >= 0 && int(s[0]) != rows) {
			return b.model.PredictWith(sig, feeds, alone) // not row-aligned: run alone
		}
		rows = int(s[0])
		fmt.Fprintf(&group, "|%s:%v%v", name, t.DType(), s[1:])
	}
	j := &job{sig: sig, group: group.String(), feeds: feeds, rows: rows, done: make(chan jobResult, 1)}
	if timeout > 0 {
		j.deadline = time.Now().Add(timeout)
	}
	b.jobs <- j
	r := <-j.done
	return r.out, r.err
}

func (b *batcher) loop() {
	var pending *job
	for {
		first := pending
		pending = nil
		if first == nil {
			var ok bool
			if first, ok = <-b.jobs; !ok {
				return
			}
		}
		batch := []*job{first}
		rows := first.rows
		timer := time.NewTimer(b.wait)
	collect:
		for rows < b.maxRows {
			select {
			case j, ok := <-b.jobs:
				if !ok {
					break collect
				}
				if j.group != first.group || rows+j.rows > b.maxRows {
					pending = j // starts the next batch
					break collect
				}
				batch = append(batch, j)
				rows += j.rows
			case <-timer.C:
				break collect
			}
		}
		timer.Stop()
		b.run(batch)
	}
}

func (b *batcher) run(batch []*job) {
	b.m.batches.WithLabelValues(b.name).Inc()
	b.m.batchRows.WithLabelValues(b.name).Observe(float64(len(batch)))
	// The merged run may take as long as its most patient request.
	var opts savedmodels.PredictOptions
	for _, j := range batch {
		if j.deadline.IsZero() {
			opts.Timeout = 0
			break
		}
		opts.Timeout = max(opts.Timeout, time.Until(j.deadline), time.Millisecond)
	}
	if len(batch) == 1 {
		out, err := b.model.PredictWith(batch[0].sig, batch[0].feeds, opts)
		batch[0].done <- jobResult{out, err}
		return
	}
	feeds := map[string]*tfwrap.Tensor{}
	for name := range batch[0].feeds {
		parts := make([]*tfwrap.Tensor, len(batch))
		for i, j := range batch {
			parts[i] = j.feeds[name]
		}
		t, err := tfwrap.ConcatRows(parts...)
		if err != nil {
			fail(batch, err)
			return
		}
		feeds[name] = t
	}
	out, err := b.model.PredictWith(batch[0].sig, feeds, opts)
	if err != nil {
		fail(batch, err)
		return
	}
	sizes := make([]int, len(batch))
	for i, j := range batch {
		sizes[i] = j.rows
	}
	shares := make([]map[string]*tfwrap.Tensor, len(batch))
	for i := range shares {
		shares[i] = map[string]*tfwrap.Tensor{}
	}
	for name, t := range out {
		parts, err := t.SplitRows(sizes...)
		if err != nil {
			fail(batch, fmt.Errorf("split batched output %q: %w", name, err))
			return
		}
		for i, p := range parts {
			shares[i][name] = p
		}
	}
	for i, j := range batch {
		j.done <- jobResult{shares[i], nil}
	}
}

func fail(batch []*job, err error) {
	for _, j := range batch {
		j.done <- jobResult{nil, err}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
