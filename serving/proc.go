package serving

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrWorkerDied is the error of a request whose worker process ended
// before answering (HTTP 503, gRPC UNAVAILABLE).
var ErrWorkerDied = errors.New("the model's worker process died")

// procOptions say how to start a worker process.
type procOptions struct {
	command  []string // the executable and its arguments; default: this one
	memLimit uint64   // RLIMIT_AS of the worker in bytes; 0 or NoWorkerMemoryCap: inherited
	maxFrame int      // the largest reply accepted
	// maxInFlight caps the runs a worker does at once (requests whose
	// clients went away keep running there until their deadline).
	maxInFlight int
	log         *slog.Logger
	label       string // names the process in logs
	// mem, when set, is charged for each reply's bytes before they are
	// read, to the hold of the request waiting for it.
	mem *memory
}

// proc is one running worker process and the socket to it. The socket is
// used in blocking mode, each side reading it on a thread of its own: a
// reply wakes its reader straight from the kernel, without a round through
// the runtime's network poller, which costs a noticeable share of a
// sub-millisecond request.
type proc struct {
	cmd  *exec.Cmd
	conn *os.File
	fd   int
	log  *slog.Logger

	wmu sync.Mutex // serialises writes

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]waiter
	mem     *memory // charged for replies, to their requests' holds
	exitErr error   // why it ended, once done is closed

	done     chan struct{}
	stopping atomic.Bool // stop was called: its end is no news
	tailMu   sync.Mutex
	tail     []string // the last lines it wrote to stderr
}

func startProc(o procOptions) (*proc, error) {
	cmdline := o.command
	if len(cmdline) == 0 {
		// /proc/self/exe still names this executable after its file is
		// deleted or replaced (an upgrade in place): workers always run
		// the front end's own code.
		exe := "/proc/self/exe"
		if _, err := os.Stat(exe); err != nil {
			if exe, err = os.Executable(); err != nil {
				return nil, fmt.Errorf("serving: find own executable for a worker: %w", err)
			}
		}
		cmdline = []string{exe}
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("serving: socketpair: %w", err)
	}
	conn, child := os.NewFile(uintptr(fds[0]), "ipc"), os.NewFile(uintptr(fds[1]), "ipc-child")
	defer child.Close()
	cmd := exec.Command(cmdline[0], cmdline[1:]...)
	cmd.Env = append(os.Environ(), workerEnv+"=1", fmt.Sprintf("%s=%d", workerInFlightEnv, max(o.maxInFlight, 1)))
	if lim := o.addressCap(); lim > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", workerMemEnv, lim))
	}
	cmd.ExtraFiles = []*os.File{child}
	// The worker dies with the front end, and a terminal's ^C does not
	// reach it directly: the front end decides when it stops.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("serving: start worker: %w", err)
	}
	p := &proc{cmd: cmd, conn: conn, fd: fds[0], log: o.log.With("worker", o.label, "pid", cmd.Process.Pid),
		pending: map[uint64]waiter{}, mem: o.mem, done: make(chan struct{})}
	if c := o.addressCap(); c > 0 {
		lim := &unix.Rlimit{Cur: c, Max: c}
		if err := unix.Prlimit(cmd.Process.Pid, unix.RLIMIT_AS, lim, nil); err != nil {
			p.log.Warn("cannot cap the worker's memory", "err", err)
		}
	}
	stderrDone := make(chan struct{})
	go p.copyStderr(stderr, stderrDone)
	go p.readLoop(o.maxFrame, stderrDone)
	return p, nil
}

// copyStderr logs what the worker (TensorFlow, mostly) writes to stderr
// and keeps the last lines for the report of its death.
func (p *proc) copyStderr(r io.Reader, done chan struct{}) {
	defer close(done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		p.log.Debug("worker stderr", "line", line)
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "@ ") || strings.HasPrefix(t, "*** ") {
			continue // stack frames: the tail keeps TensorFlow's message
		}
		p.tailMu.Lock()
		p.tail = append(p.tail, line)
		if len(p.tail) > 5 {
			p.tail = p.tail[len(p.tail)-5:]
		}
		p.tailMu.Unlock()
	}
}

// readLoop hands replies to their callers until the socket closes, then
// reaps the process and fails what is still pending.
func (p *proc) readLoop(maxFrame int, stderrDone chan struct{}) {
	br := bufio.NewReaderSize(p.conn, 64<<10)
	var cut waiter // taken out of pending, its reply not read whole
	for {
		var wt waiter
		f, err := readFrameCharged(br, maxFrame, func(id uint64, n int) error {
			p.mu.Lock()
			wt = p.pending[id]
			delete(p.pending, id)
			p.mu.Unlock()
			// A reply's bytes are charged to its request before they are
			// read: past the memory all requests share, they are read
			// away and the request gets the reason instead.
			return wt.h.take(p.mem, int64(n))
		})
		if err != nil {
			// Its reply cut short (the worker died mid-frame), it fails
			// as the pending ones below.
			cut = wt
			break
		}
		if wt.ch != nil {
			wt.ch <- f
			// The caller runs next on this thread, rather than
			// waiting for another to wake and take it (see
			// serveWorker). The reply is already in its buffered
			// channel: nothing waits on the reader meanwhile.
			runtime.Gosched()
		}
	}
	p.conn.Close()
	// The socket closes when the process dies; a process that closed it
	// but lingers is killed.
	t := time.AfterFunc(2*time.Second, func() { p.cmd.Process.Kill() })
	select {
	case <-stderrDone:
	case <-time.After(2 * time.Second):
	}
	err := p.cmd.Wait()
	t.Stop()
	if err == nil {
		err = errors.New("exited")
	}
	p.tailMu.Lock()
	tail := strings.Join(p.tail, " | ")
	p.tailMu.Unlock()
	p.mu.Lock()
	p.exitErr = fmt.Errorf("%w (%v)", ErrWorkerDied, err)
	pending := p.pending
	p.pending = nil
	p.mu.Unlock()
	if p.stopping.Load() {
		p.log.Debug("worker process stopped", "status", err.Error())
	} else {
		p.log.Warn("worker process ended", "status", err.Error(), "stderr_tail", tail)
	}
	for _, wt := range pending {
		close(wt.ch)
	}
	if cut.ch != nil {
		close(cut.ch)
	}
	close(p.done)
}

// addressCap is the RLIMIT_AS a worker gets, 0 for none: the configured
// cap, within the server's own hard limit (which a worker inherits and
// only a privileged process may raise).
func (o procOptions) addressCap() uint64 {
	if o.memLimit == 0 || o.memLimit == NoWorkerMemoryCap {
		return 0
	}
	var own unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_AS, &own) == nil && own.Max < o.memLimit {
		return own.Max
	}
	return o.memLimit
}

// waiter is a request waiting for its reply, with the hold its reply's
// bytes are charged to (nil: not charged).
type waiter struct {
	ch chan frame
	h  *hold
}

// call sends one request and waits for its reply until deadline; past it
// the worker is taken to be wedged and is killed.
func (p *proc) call(typ byte, body []byte, deadline time.Time) (frame, error) {
	return p.callCtx(context.Background(), typ, body, deadline)
}

// callCtx is call that stops waiting, with context.Canceled, when ctx is
// cancelled (the client went away): the worker finishes the run on its
// own, within its deadline and its own cap on runs at once.
func (p *proc) callCtx(ctx context.Context, typ byte, body []byte, deadline time.Time) (frame, error) {
	return p.callParts(ctx, typ, [][]byte{body}, deadline)
}

// callParts is callCtx with the body in parts, written in turn.
func (p *proc) callParts(ctx context.Context, typ byte, parts [][]byte, deadline time.Time) (frame, error) {
	ch := make(chan frame, 1)
	p.mu.Lock()
	if p.pending == nil {
		err := p.exitErr
		p.mu.Unlock()
		return frame{}, err
	}
	p.nextID++
	id := p.nextID
	p.pending[id] = waiter{ch: ch, h: holdOf(ctx)}
	p.mu.Unlock()
	// Past the deadline the worker is wedged: killing it ends a blocked
	// write and fails the wait below.
	var wedged atomic.Bool
	watchdog := time.AfterFunc(time.Until(deadline), func() {
		wedged.Store(true)
		p.log.Error("worker did not answer in time; killing it", "deadline", deadline.Format(time.RFC3339Nano))
		p.kill()
	})
	defer watchdog.Stop()
	p.wmu.Lock()
	var err error
	if len(parts) == 1 && len(parts[0]) < 64<<10 {
		_, err = p.conn.Write(appendFrame(nil, typ, id, parts[0])) // one write
	} else {
		err = writeFrame(p.conn, typ, id, parts...)
	}
	p.wmu.Unlock()
	if err != nil {
		p.kill()
	}
	var f frame
	var ok bool
	select {
	case f, ok = <-ch:
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.Canceled) {
			f, ok = <-ch // a deadline: TensorFlow ends the run; wait for it
			break
		}
		p.mu.Lock()
		delete(p.pending, id)
		p.mu.Unlock()
		return frame{}, ctx.Err()
	}
	switch {
	case wedged.Load():
		return frame{}, errWedged
	case !ok:
		return frame{}, p.exitErr
	case f.typ == msgErr:
		return f, parseErr(f.body)
	}
	return f, nil
}

var errWedged = fmt.Errorf("%w: the worker did not answer in time and was killed", errDeadline)

// kill ends the process at once.
func (p *proc) kill() { p.cmd.Process.Kill() }

// stop shuts the socket for writing (the worker exits when it reads the
// end) and kills the worker if it has not gone within grace.
func (p *proc) stop(grace time.Duration) {
	p.stopping.Store(true)
	syscall.Shutdown(p.fd, syscall.SHUT_WR)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
		<-p.done
	}
}
