package serving

import (
	"log/slog"
	"sync"
	"time"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/profile"
)

// maxProfileRuns bounds Config.ProfileRuns: a profile keeps every traced
// run's step stats in memory until it is written.
const maxProfileRuns = 1000

// runProfiler traces a version's first runs after its warm-up, one at a
// time: a request that comes while a traced run is going runs untraced.
// Its methods are safe on a nil *runProfiler, which profiles nothing.
type runProfiler struct {
	dir string

	mu      sync.Mutex
	left    int  // traced runs still to take
	busy    bool // a traced run is going
	graphs  bool // partition graphs were asked for
	written bool
	p       profile.Profile
}

func newRunProfiler(dir string, runs int) *runProfiler {
	return &runProfiler{dir: dir, left: runs}
}

// take returns the metadata a traced run fills, or nil when this run is
// not to be traced.
func (rp *runProfiler) take() *tfwrap.RunMetadata {
	if rp == nil {
		return nil
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.written || rp.busy || rp.left == 0 {
		return nil
	}
	rp.busy = true
	return &tfwrap.RunMetadata{}
}

// wantGraphs says whether the run taken should also return the partition
// graphs (the first one does: they name the fused kernels in the table).
func (rp *runProfiler) wantGraphs() bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return !rp.graphs
}

// done records a traced run that took wall, and writes the files after
// the last one, outside the lock, so the requests that come meanwhile run
// untraced instead of waiting. A failed run is not counted; one whose
// stats cannot be recorded uses up its turn.
func (rp *runProfiler) done(md *tfwrap.RunMetadata, wall time.Duration, err error) {
	rp.mu.Lock()
	rp.busy = false
	if err != nil || rp.written {
		rp.mu.Unlock()
		return
	}
	if !rp.graphs {
		rp.p.AddGraphs(md)
		rp.graphs = true
	}
	if aerr := rp.p.Add(md, wall); aerr != nil {
		slog.Warn("serving: profile: run not recorded", "dir", rp.dir, "err", aerr)
	}
	rp.left--
	last := rp.left == 0
	rp.written = rp.written || last // from here on nothing touches rp.p
	rp.mu.Unlock()
	if last {
		rp.write()
	}
}

// finish writes what was traced, if it was not written yet (the version
// unloads before its runs were all taken).
func (rp *runProfiler) finish() {
	if rp == nil {
		return
	}
	rp.mu.Lock()
	write := !rp.written && rp.p.Len() > 0
	rp.written = true
	rp.mu.Unlock()
	if write {
		rp.write()
	}
}

// write writes the files; rp.written is set, so rp.p no longer changes.
func (rp *runProfiler) write() {
	if rp.p.Len() == 0 {
		return
	}
	if err := rp.p.WriteFiles(rp.dir); err != nil {
		slog.Warn("serving: profile not written", "dir", rp.dir, "err", err)
		return
	}
	t := rp.p.Table()
	slog.Info("serving: profile written", "dir", rp.dir, "runs", rp.p.Len(), "kernel_share", t.KernelShare)
}
