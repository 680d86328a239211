package serving

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/tfgo-project/gotf/savedmodels"
)

// Isolation says where models run.
type Isolation string

const (
	// IsolationProcess runs each model (or group of models) in a worker
	// process of its own, so that a TensorFlow abort costs that worker,
	// not the server. The default.
	IsolationProcess Isolation = "process"
	// IsolationNone runs models inside the server's process: a little
	// faster, for embedding and benchmarks, but a model that aborts takes
	// the server down with it.
	IsolationNone Isolation = "none"
)

// loader loads versions where they will run.
type loader interface {
	load(group string, o loadOptions, model string) (runner, error)
	// abandon makes loads in progress fail now and later ones refuse.
	abandon()
	close()
}

// inProcess loads versions into this process, with a deadline: a load
// still going past it is reported as failed and closed when it ends.
type inProcess struct {
	timeout time.Duration
	m       *metrics
	log     *slog.Logger
}

func (l *inProcess) load(_ string, o loadOptions, model string) (runner, error) {
	type res struct {
		r   *localRunner
		err error
	}
	ch := make(chan res, 1)
	o.loadTimeout = l.timeout
	go func() {
		r, err := loadLocal(o, model, l.m)
		ch <- res{r, err}
	}()
	t := time.NewTimer(l.timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.r, r.err
	case <-t.C:
		go func() {
			// TensorFlow cancels the restore and init runs at the same
			// deadline, between kernels; one kernel that runs on (a
			// py_func, a giant op, a blocking read) cannot be stopped
			// inside this process.
			select {
			case r := <-ch:
				if r.r != nil {
					r.r.close()
				}
				return
			case <-time.After(inProcessGrace):
			}
			l.log.Warn("an in-process load is still running past its deadline: TensorFlow cannot stop a kernel mid-run, so its thread and memory stay in use until it ends; --isolation=process kills such a load",
				"model", model, "dir", filepath.Base(o.dir), "deadline", l.timeout.String())
			if r := <-ch; r.r != nil {
				r.r.close()
			}
		}()
		return nil, fmt.Errorf("%w: the version did not load within %v", errLoadTimeout, l.timeout)
	}
}

func (l *inProcess) close() {}

// abandon cannot stop a load inside this process; its deadline still
// holds.
func (l *inProcess) abandon() {}

var errLoadTimeout = errors.New("load timed out")

// inProcessGrace is how long past its deadline an in-process load may
// take to notice TensorFlow's cancellation before it is reported as
// running on.
const inProcessGrace = 5 * time.Second

// processes runs every group of models in a worker process of its own.
type processes struct {
	opts        procOptions
	loadTimeout time.Duration
	runTimeout  time.Duration // a reply later than this (plus grace) means a wedged worker
	log         *slog.Logger
	m           *metrics
	rescan      func() // asks the registry to load lost versions again

	mu     sync.Mutex
	groups map[string]*workerGroup
	probes map[*proc]bool // trial processes running now
	closed bool
}

func (ps *processes) group(name string) (*workerGroup, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return nil, errors.New("serving: closed")
	}
	g := ps.groups[name]
	if g == nil {
		g = &workerGroup{name: name, ps: ps, loaded: map[uint64]loadRequest{}, lost: map[uint64]error{}}
		ps.groups[name] = g
	}
	return g, nil
}

// load first loads and warms the version in a throwaway process with a
// deadline; only if that process survives is the version loaded into its
// group's worker.
func (ps *processes) load(group string, o loadOptions, model string) (runner, error) {
	o.warmup = true
	req := loadRequest{opts: o, model: model}
	if err := ps.probe(req); err != nil {
		return nil, err
	}
	g, err := ps.group(group)
	if err != nil {
		return nil, err
	}
	return g.load(req)
}

func (ps *processes) probe(req loadRequest) error {
	opts := ps.opts
	opts.label = "probe:" + req.model
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return errors.New("serving: closed")
	}
	p, err := startProc(opts)
	if err != nil {
		ps.mu.Unlock()
		return err
	}
	ps.probes[p] = true
	ps.mu.Unlock()
	defer func() {
		ps.mu.Lock()
		delete(ps.probes, p)
		ps.mu.Unlock()
		p.stop(time.Second)
	}()
	_, err = p.call(msgLoad, req.body(0), time.Now().Add(ps.loadTimeout))
	switch {
	case errors.Is(err, errWedged):
		return fmt.Errorf("%w: the version did not load (and warm up) within %v in a trial process", errLoadTimeout, ps.loadTimeout)
	case errors.Is(err, ErrWorkerDied):
		return fmt.Errorf("the version crashed its trial process while loading or warming up: %v", err)
	}
	return err
}

// abandon kills the trial processes (a load that would hang does not hold
// up shutdown) and refuses new ones.
func (ps *processes) abandon() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.closed = true
	for p := range ps.probes {
		p.kill()
	}
}

// close stops every worker.
func (ps *processes) close() {
	ps.abandon()
	ps.mu.Lock()
	groups := ps.groups
	ps.mu.Unlock()
	for _, g := range groups {
		g.close()
	}
}

// loadRequest is what a worker needs to load a version again after a
// restart.
type loadRequest struct {
	opts  loadOptions
	model string
}

func (r loadRequest) body(handle uint64) []byte {
	var w wbuf
	w.uv(handle)
	w.str(r.opts.dir)
	w.v(int64(r.opts.batchRows))
	w.v(int64(r.opts.batchWait))
	w.flag(r.opts.warmup)
	w.v(int64(r.opts.timeout))
	w.str(r.model)
	w.str(r.opts.profileDir)
	w.v(int64(r.opts.profileRuns))
	w.flag(r.opts.spin)
	w.v(int64(r.opts.intraOp))
	w.v(int64(r.opts.interOp))
	w.flag(r.opts.bf16)
	return w.b
}

// parseLoad reads what loadRequest.body wrote.
func parseLoad(b []byte) (req loadRequest, handle uint64, err error) {
	r := rbuf{b: b}
	handle = r.uv()
	o := loadOptions{dir: r.str(), batchRows: int(r.v()),
		batchWait: time.Duration(r.v()), warmup: r.uv() == 1, timeout: time.Duration(r.v())}
	name := r.str()
	o.profileDir, o.profileRuns = r.str(), int(r.v())
	o.spin = r.uv() == 1
	intra, inter := r.v(), r.v()
	o.bf16 = r.uv() == 1
	if r.err == nil && (intra < 0 || intra > maxThreads || inter < 0 || inter > maxThreads) {
		r.err = fmt.Errorf("ipc: thread counts %d and %d out of range", intra, inter)
	}
	o.intraOp, o.interOp = int(intra), int(inter)
	return loadRequest{opts: o, model: name}, handle, r.err
}

// workerGroup is one worker process and the versions loaded into it. When
// the process dies, its requests fail with ErrWorkerDied and its versions
// are lost: the registry drops them and loads them again the way it loads
// any version (a trial process first), into a new process started after a
// backoff. So a version that crashes its worker at every load ends as a
// failed version, not as a crash loop.
type workerGroup struct {
	name string
	ps   *processes

	mu        sync.Mutex
	p         *proc // nil while down
	downErr   error
	loaded    map[uint64]loadRequest
	lost      map[uint64]error
	next      uint64
	backoff   time.Duration
	notBefore time.Time // no new process before this (backoff)
	started   time.Time
	closed    bool
	// loading counts loads under way: with them and the loaded versions
	// it keeps the process; a group with neither stops it (a model taken
	// out of the configuration does not leave an idle runtime behind).
	loading int
}

// errIdle is why an idle group's worker is down.
var errIdle = errors.New("no version is loaded")

// stopIfIdle stops the process of a group that has nothing loaded and
// nothing loading; the next load starts another.
func (g *workerGroup) stopIfIdle() {
	g.mu.Lock()
	p := g.p
	if p == nil || g.closed || g.loading > 0 || len(g.loaded) > 0 {
		g.mu.Unlock()
		return
	}
	g.p, g.downErr = nil, errIdle // watch sees it is no longer the group's
	g.mu.Unlock()
	p.stop(5 * time.Second)
}

// errLost: the version's worker died; the registry loads it again.
var errLost = errors.New("the version's worker process died")

// ensure returns the running process, starting one unless the group is
// backing off after a death.
func (g *workerGroup) ensure() (*proc, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, errors.New("serving: closed")
	}
	if g.p != nil {
		return g.p, nil
	}
	if wait := time.Until(g.notBefore); wait > 0 {
		return nil, fmt.Errorf("%w: model group %q's worker restarts in %v after: %v", ErrNotReady, g.name, wait.Round(time.Millisecond), g.downErr)
	}
	opts := g.ps.opts
	opts.label = g.name
	p, err := startProc(opts)
	if err != nil {
		return nil, err
	}
	g.p, g.started = p, time.Now()
	go g.watch(p)
	return p, nil
}

func (g *workerGroup) load(req loadRequest) (runner, error) {
	g.mu.Lock()
	g.loading++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.loading--
		g.mu.Unlock()
		g.stopIfIdle() // a load that failed in a group with nothing else
	}()
	p, err := g.ensure()
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.next++
	h := g.next
	g.mu.Unlock()
	f, err := p.call(msgLoad, req.body(h), time.Now().Add(g.ps.loadTimeout))
	if errors.Is(err, ErrWorkerDied) {
		// The process died (another version's request, or a kill) while
		// loading a version that passed its trial: try again later.
		return nil, fmt.Errorf("%w: %v", ErrNotReady, err)
	}
	if err != nil {
		return nil, err
	}
	var sigs []*savedmodels.Signature
	if err := json.Unmarshal(f.body, &sigs); err != nil {
		return nil, fmt.Errorf("serving: worker sent bad signatures: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.p != p {
		return nil, fmt.Errorf("%w: the worker died while loading", ErrNotReady)
	}
	g.loaded[h] = req
	return &remoteRunner{g: g, h: h, sigs: sigs}, nil
}

// watch waits for p to end; unless the group is closing, its versions are
// lost and the registry is asked to load them again after a backoff.
func (g *workerGroup) watch(p *proc) {
	<-p.done
	g.mu.Lock()
	if g.p != p {
		g.mu.Unlock()
		return
	}
	g.p, g.downErr = nil, p.exitErr
	for h := range g.loaded {
		g.lost[h] = p.exitErr
	}
	g.loaded = map[uint64]loadRequest{}
	if g.closed {
		g.mu.Unlock()
		return
	}
	if time.Since(g.started) > 30*time.Second {
		g.backoff = 0
	}
	g.backoff = min(max(2*g.backoff, 100*time.Millisecond), 10*time.Second)
	g.notBefore = time.Now().Add(g.backoff)
	wait := g.backoff
	g.mu.Unlock()
	g.ps.m.workerExits.WithLabelValues(g.name).Inc()
	g.ps.log.Error("worker died; its versions load again", "group", g.name, "err", p.exitErr, "in", wait)
	if g.ps.rescan != nil {
		time.AfterFunc(wait, g.ps.rescan)
	}
}

// current returns the process serving handle h, or why there is none.
func (g *workerGroup) current(h uint64) (*proc, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err, ok := g.lost[h]; ok {
		return nil, fmt.Errorf("%w (%w): %v", ErrWorkerDied, errLost, err)
	}
	if g.p == nil {
		return nil, fmt.Errorf("%w: the model's worker is down: %v", ErrNotReady, g.downErr)
	}
	return g.p, nil
}

func (g *workerGroup) unload(h uint64) {
	g.mu.Lock()
	delete(g.loaded, h)
	_, lost := g.lost[h]
	delete(g.lost, h)
	p := g.p
	g.mu.Unlock()
	if p != nil && !lost {
		var w wbuf
		w.uv(h)
		p.call(msgUnload, w.b, time.Now().Add(g.ps.loadTimeout))
	}
	g.stopIfIdle()
}

func (g *workerGroup) close() {
	g.mu.Lock()
	g.closed = true
	p := g.p
	g.mu.Unlock()
	if p != nil {
		p.stop(5 * time.Second)
	}
}

// remoteRunner is a version loaded into a worker process.
type remoteRunner struct {
	g    *workerGroup
	h    uint64
	sigs []*savedmodels.Signature
}

func (r *remoteRunner) signatures() []*savedmodels.Signature { return r.sigs }

func (r *remoteRunner) down() error {
	_, err := r.g.current(r.h)
	return err
}

func (r *remoteRunner) predict(ctx context.Context, key string, in map[string]Tensor, filter []string, maxOut int64) (map[string]Tensor, error) {
	p, err := r.g.current(r.h)
	if err != nil {
		return nil, err
	}
	timeout := r.g.ps.runTimeout
	if d, ok := ctx.Deadline(); ok {
		if timeout = time.Until(d); timeout <= 0 {
			return nil, fmt.Errorf("%w: no time left to run the model", errDeadline)
		}
	}
	w := wbuf{ref: true} // large inputs go to the worker where they lie
	w.uv(r.h)
	w.str(key)
	w.tensors(in)
	w.strs(filter)
	w.v(maxOut)
	// The deadline itself, on the wall clock the worker (a child on the
	// same host) shares, so that it ends by the instant the watchdog below
	// counts from however long the request took to reach it; and the time
	// left, which bounds it should the wall clock step back meanwhile.
	deadline := time.Now().Add(timeout)
	w.v(deadline.UnixNano())
	w.v(int64(timeout))
	// TensorFlow cancels the run at the deadline; a worker silent for much
	// longer than that is wedged and is killed.
	f, err := p.callParts(ctx, msgPredict, w.parts(), deadline.Add(5*time.Second))
	if err != nil {
		return nil, err
	}
	rb := rbuf{b: f.body}
	out := rb.tensors()
	if rb.err != nil {
		return nil, fmt.Errorf("serving: worker sent a malformed reply: %w", rb.err)
	}
	return out, nil
}

func (r *remoteRunner) close() error {
	r.g.unload(r.h)
	return nil
}
