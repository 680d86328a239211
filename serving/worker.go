package serving

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

// workerEnv marks a process started as a model worker; its socket to the
// front end is file descriptor 3. workerInFlightEnv caps its runs at once.
const (
	workerEnv         = "GOTF_SERVING_WORKER"
	workerInFlightEnv = "GOTF_SERVING_WORKER_MAX_IN_FLIGHT"
	// workerMemEnv is the address-space cap the front end gives the
	// worker (it sets it just after the worker starts).
	workerMemEnv = "GOTF_SERVING_WORKER_MEMORY"
)

// RunWorkerIfChild makes this process a model worker and exits, when a
// Server with process isolation started it as one; otherwise it returns at
// once. Call it first thing in main (and in TestMain of tests that start
// such servers): the front end starts workers by running its own
// executable again.
func RunWorkerIfChild() {
	if os.Getenv(workerEnv) != "1" {
		return
	}
	// A blocking socket read on a thread of its own (see proc).
	f := os.NewFile(3, "gotf-worker-socket")
	if f == nil {
		fmt.Fprintln(os.Stderr, "gotf worker: no socket on fd 3")
		os.Exit(2)
	}
	serveWorker(f)
	os.Exit(0)
}

// worker is the model-running side of the channel.
type worker struct {
	conn   io.Writer
	wmu    sync.Mutex
	bw     *bufio.Writer
	mu     sync.RWMutex
	models map[uint64]*localRunner
	runs   chan struct{} // one token per run in progress
	// mem bounds the Go memory the worker's answers hold at once (their
	// copy out of TensorFlow and their encoding): past it a request gets
	// 429 instead of the worker running out of its address space, which
	// Go cannot survive. nil: no cap.
	mem *memory
}

// workerAnswerShare: a worker's answers may hold at once a third of its
// address-space cap less what TensorFlow reserves unused; the outputs'
// own TensorFlow copies and the collector's slack take the rest.
const workerAnswerShare = 3

// workerMemory is the answer budget of a worker under its RLIMIT_AS.
func workerMemory() *memory {
	var lim unix.Rlimit
	if n, err := strconv.ParseUint(os.Getenv(workerMemEnv), 10, 64); err == nil && n > 0 {
		lim.Cur = n
	} else if unix.Getrlimit(unix.RLIMIT_AS, &lim) != nil || lim.Cur == unix.RLIM_INFINITY {
		return nil
	}
	reserve := uint64(workerReserve + perCPUReserve*runtime.NumCPU())
	use := int64(256 << 20)
	if lim.Cur > reserve {
		use = max(use, int64((lim.Cur-reserve)/workerAnswerShare))
	}
	return &memory{limit: use}
}

// serveWorker answers the front end until the socket closes (the front
// end asked it to stop, or died).
func serveWorker(conn io.ReadWriter) {
	n, err := strconv.Atoi(os.Getenv(workerInFlightEnv))
	if err != nil || n < 1 {
		n = 64
	}
	w := &worker{conn: conn, bw: bufio.NewWriterSize(conn, 64<<10), models: map[uint64]*localRunner{}, runs: make(chan struct{}, n),
		mem: workerMemory()}
	if w.mem != nil && os.Getenv("GOMEMLIMIT") == "" {
		// Keep Go's heap near what the answers hold, not twice it.
		debug.SetMemoryLimit(w.mem.limit + 64<<20)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	for {
		f, err := readFrame(br, 1<<31-1-frameHeader)
		if err != nil {
			return
		}
		switch f.typ {
		case msgLoad:
			go w.load(f)
		case msgUnload:
			go w.unload(f)
		case msgPredict:
			go w.predict(f)
			// The predict runs next on this thread, rather than
			// waiting for another thread to wake and take it; the
			// reader goes back to reading when its turn comes. That
			// saved 40-110 µs a request (go test -bench
			// PredictHandler/process ./serving) and did not cost
			// throughput at concurrency 64 (README).
			runtime.Gosched()
		default:
			w.reply(f.id, msgErr, errBody(fmt.Errorf("unknown message type %d", f.typ)))
		}
	}
}

func (w *worker) reply(id uint64, typ byte, parts ...[]byte) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	writeFrame(w.bw, typ, id, parts...) // large parts go straight to the socket
	w.bw.Flush()
}

func (w *worker) fail(id uint64, err error) { w.reply(id, msgErr, errBody(err)) }

func (w *worker) load(f frame) {
	req, h, err := parseLoad(f.body)
	if err != nil {
		w.fail(f.id, err)
		return
	}
	o, name := req.opts, req.model
	o.mem = w.mem // answers are charged to the worker's budget
	l, err := loadLocal(o, name, newMetrics())
	if err != nil {
		w.fail(f.id, err)
		return
	}
	sigs, err := json.Marshal(l.sigs)
	if err != nil {
		l.close()
		w.fail(f.id, err)
		return
	}
	w.mu.Lock()
	if old := w.models[h]; old != nil {
		go old.close()
	}
	w.models[h] = l
	w.mu.Unlock()
	w.reply(f.id, msgOK, sigs)
}

func (w *worker) unload(f frame) {
	r := rbuf{b: f.body}
	h := r.uv()
	w.mu.Lock()
	l := w.models[h]
	delete(w.models, h)
	w.mu.Unlock()
	if l != nil {
		l.close()
	}
	w.reply(f.id, msgOK, nil)
}

func (w *worker) predict(f frame) {
	r := rbuf{b: f.body}
	h := r.uv()
	key := r.str()
	in := r.tensors()
	filter := r.strs()
	maxOut := r.v()
	deadline := r.v() // Unix nanoseconds; 0: none
	timeout := time.Duration(r.v())
	if r.err != nil {
		w.fail(f.id, fmt.Errorf("%w: %v", savedmodels.ErrBadInput, r.err))
		return
	}
	w.mu.RLock()
	l := w.models[h]
	w.mu.RUnlock()
	if l == nil {
		w.fail(f.id, fmt.Errorf("%w: the worker has no model %d", ErrNotReady, h))
		return
	}
	select {
	case w.runs <- struct{}{}:
		defer func() { <-w.runs }()
	default:
		w.fail(f.id, errOverloaded(cap(w.runs)))
		return
	}
	hd := &hold{} // the answer's copy and its encoding, until sent
	defer hd.release(w.mem)
	ctx, cancel := context.WithValue(context.Background(), holdKey{}, hd), context.CancelFunc(func() {})
	if deadline > 0 {
		// The earlier of the front end's deadline and the time left from
		// now: a wall clock stepped back cannot make a run outlive the
		// front end's watchdog (which counts on its monotonic clock).
		d := time.Unix(0, deadline)
		if timeout > 0 {
			if late := time.Now().Add(timeout); late.Before(d) {
				d = late
			}
		}
		ctx, cancel = context.WithDeadline(ctx, d)
	}
	defer cancel()
	out, err := l.predict(ctx, key, in, filter, maxOut)
	if err != nil {
		w.fail(f.id, err)
		return
	}
	size := int64(64) // what encoding copies: small tensors and names
	for k, t := range out {
		if n := t.byteSize(); n < refMin || t.DType == tfwrap.String {
			size += n
		}
		size += int64(len(k)) + 64
	}
	if err := hd.take(w.mem, size); err != nil {
		w.fail(f.id, fmt.Errorf("encoding the answer of %d bytes: %w", size, err))
		return
	}
	b := wbuf{ref: true} // large outputs go out where they lie
	b.tensors(out)
	w.replyBy(ctx, f.id, b.parts()...)
}

// replyBy sends an answer unless its deadline passed while it waited for
// the socket (other answers, maybe large, going out first): then the
// request gets a deadline error, a few bytes. The front end kills a
// worker that has not answered a few seconds past the deadline, taking it
// for wedged; a worker that queues answers past it must not look so.
func (w *worker) replyBy(ctx context.Context, id uint64, parts ...[]byte) {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if err := ctx.Err(); err != nil {
		writeFrame(w.bw, msgErr, id, errBody(fmt.Errorf("%w: the answer was ready but could not be sent before the deadline", errDeadline)))
	} else {
		writeFrame(w.bw, msgOK, id, parts...)
	}
	w.bw.Flush()
}
