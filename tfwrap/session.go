package tfwrap

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"time"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// ErrClosed is the one sentinel for a closed object (Session, Model, a
// compiled model, a summary writer): every method of one returns an error
// wrapping it, with context. savedmodels.ErrClosed and models.ErrClosed
// are the same value.
var ErrClosed = errors.New("closed")

var errSessionClosed = fmt.Errorf("tfwrap: session is %w", ErrClosed)

// Feeds maps placeholders (or any Output) to the tensors they take in a Run.
type Feeds map[Output]*Tensor

// Session runs a Graph on TensorFlow's runtime and holds the values of its
// variables. It owns C memory: call Close when done. Run is safe for
// concurrent use; Close waits for running calls and is idempotent.
type Session struct {
	mu     sync.RWMutex
	s      *tf.Session
	st     *graphState
	closed bool
}

// SessionOption configures NewSession.
type SessionOption func(*corepb.ConfigProto)

// WithThreads sets TensorFlow's intra-op and inter-op thread pool sizes
// (ConfigProto intra_op_parallelism_threads, inter_op_parallelism_threads;
// 0 lets TensorFlow choose: one thread per core). A negative inter runs
// the ops in the calling thread.
//
// TensorFlow makes both pools once per process, sized by the first
// session that needs them: a later session's sizes are ignored (its
// inter-op size too, unless ConfigProto use_per_session_threads gives it a
// pool of its own). Set the threads on the first session a process makes.
func WithThreads(intra, inter int) SessionOption {
	return func(c *corepb.ConfigProto) {
		if CheckThreads(intra, inter) != nil {
			// NewSession refuses it: TensorFlow would abort the process.
			c.IntraOpParallelismThreads, c.InterOpParallelismThreads = badThreads, badThreads
			return
		}
		c.IntraOpParallelismThreads = int32(intra)
		c.InterOpParallelismThreads = int32(inter)
	}
}

// MaxThreads bounds a thread pool's size (WithThreads): past it a typo
// makes threads by the thousand, and past int32 TensorFlow would read a
// wrapped-around count and abort.
const MaxThreads = 4096

// badThreads marks a ConfigProto whose WithThreads was out of range.
const badThreads = math.MinInt32

// CheckThreads says whether WithThreads(intra, inter) is one TensorFlow
// takes: intra 0 (one per core) to MaxThreads, inter -1 (the caller's
// thread) to MaxThreads.
func CheckThreads(intra, inter int) error {
	if intra < 0 || intra > MaxThreads {
		return fmt.Errorf("tfwrap: intra-op threads %d: want 0 (one per core) to %d", intra, MaxThreads)
	}
	if inter < -1 || inter > MaxThreads {
		return fmt.Errorf("tfwrap: inter-op threads %d: want -1 (the caller's thread), 0 (one per core) or up to %d", inter, MaxThreads)
	}
	return nil
}

// WithThreadSpinning says whether TensorFlow's inter-op pool threads spin
// while they wait for work (ConfigProto experimental
// disable_thread_spinning; TensorFlow spins by default). Spinning saves a
// wake-up when ops arrive back to back but burns a core the caller's own
// goroutines could use: on 2 cores, a server answering 64 concurrent
// clients on loopback gained 23-52% throughput with it off (README,
// "Threads: measured, not assumed"). Like the pool sizes it is set once
// per process, by the first session.
func WithThreadSpinning(on bool) SessionOption {
	return func(c *corepb.ConfigProto) {
		if c.Experimental == nil {
			c.Experimental = &corepb.ConfigProto_Experimental{}
		}
		c.Experimental.DisableThreadSpinning = !on
	}
}

// WithSoftPlacement lets TensorFlow move an op to another device when the
// one it was placed on does not exist (a GPU op on a CPU-only machine).
func WithSoftPlacement(on bool) SessionOption {
	return func(c *corepb.ConfigProto) { c.AllowSoftPlacement = on }
}

// WithRunTimeout bounds every Run of the session: TensorFlow cancels a run
// still going after d and returns DEADLINE_EXCEEDED (ConfigProto's
// operation_timeout_in_ms). 0 means no bound.
func WithRunTimeout(d time.Duration) SessionOption {
	return func(c *corepb.ConfigProto) {
		if d > 0 {
			c.OperationTimeoutInMs = max(1, d.Milliseconds())
		}
	}
}

// WithBFloat16 turns on Grappler's oneDNN bfloat16 auto-mixed-precision
// rewrite (RewriterConfig auto_mixed_precision_onednn_bfloat16): ops on
// its allow list (MatMul, Conv2D, ...) run in bfloat16, with casts put in
// around them; variables, inputs and outputs keep their dtypes. It needs
// oneDNN (OneDNN) and a CPU with AVX512-BF16 or AMX-BF16 to pay off;
// TensorFlow skips the rewrite where oneDNN is off. Results round to
// bfloat16's 8 significant bits where the rewrite applies.
func WithBFloat16(on bool) SessionOption {
	return func(c *corepb.ConfigProto) {
		if c.GraphOptions == nil {
			c.GraphOptions = &corepb.GraphOptions{}
		}
		if c.GraphOptions.RewriteOptions == nil {
			c.GraphOptions.RewriteOptions = &corepb.RewriterConfig{}
		}
		t := corepb.RewriterConfig_OFF
		if on {
			t = corepb.RewriterConfig_ON
		}
		c.GraphOptions.RewriteOptions.AutoMixedPrecisionOnednnBfloat16 = t
	}
}

// SessionConfig serializes the options as the ConfigProto the bindings
// take (tf.SessionOptions.Config), for sessions made outside tfwrap: a
// SavedModel loaded with tf.LoadSavedModel, a tfgo model.
func SessionConfig(opts ...SessionOption) ([]byte, error) {
	cfg := &corepb.ConfigProto{}
	for _, o := range opts {
		o(cfg)
	}
	if cfg.IntraOpParallelismThreads == badThreads {
		return nil, fmt.Errorf("tfwrap: session config: WithThreads out of range (intra-op 0 to %d, inter-op -1 to %d)", MaxThreads, MaxThreads)
	}
	raw, err := proto.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("tfwrap: session config: %w", err)
	}
	return raw, nil
}

// NewSession starts a session on g. It returns the graph's recorded
// building error, if any, instead of a session.
func (g *Graph) NewSession(opts ...SessionOption) (*Session, error) {
	if err := g.Err(); err != nil {
		return nil, err
	}
	if err := CheckVersion(); err != nil {
		return nil, err
	}
	raw, err := SessionConfig(opts...)
	if err != nil {
		return nil, err
	}
	s, err := tf.NewSession(g.st.g, &tf.SessionOptions{Config: raw})
	if err != nil {
		return nil, fmt.Errorf("tfwrap: new session: %w", err)
	}
	sess := &Session{s: s, st: g.st}
	runtime.SetFinalizer(sess, func(s *Session) { _ = s.Close() })
	return sess, nil
}

// Close releases the session's C resources. It waits for Runs in progress,
// is safe to call more than once and from several goroutines; afterwards
// every method returns ErrClosed.
func (s *Session) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	runtime.SetFinalizer(s, nil)
	if err := s.s.Close(); err != nil {
		return fmt.Errorf("tfwrap: close session: %w", err)
	}
	return nil
}

// Closed reports whether Close has been called.
func (s *Session) Closed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// checkOutput reports an invalid or foreign Output; what and i name it in
// the error (i < 0: no index), formatted only when there is one.
func (s *Session) checkOutput(what string, i int, o Output) error {
	if o.Valid() && o.st == s.st {
		return nil
	}
	if i >= 0 {
		what = fmt.Sprintf("%s %d", what, i)
	}
	if !o.Valid() {
		return fmt.Errorf("tfwrap: run: %s is not a valid Output", what)
	}
	return fmt.Errorf("tfwrap: run: %s (%s) belongs to another graph", what, o.Name())
}

// checkFeed validates a tensor against the Output it feeds, in Go, so that
// no kernel ever sees a tensor of the wrong dtype or shape.
func checkFeed(o Output, t *Tensor) error {
	if !t.ok() {
		return fmt.Errorf("tfwrap: feed %s: %w", o.Name(), ErrNilTensor)
	}
	if t.dtype != o.DType() {
		return fmt.Errorf("tfwrap: feed %s: tensor is %v, input wants %v", o.Name(), t.dtype, o.DType())
	}
	if want := o.Shape(); want != nil && !shape.Compatible(want, t.shape) {
		return fmt.Errorf("tfwrap: feed %s: tensor has shape %s, input wants %s",
			o.Name(), shape.String(t.shape), shape.String(want))
	}
	return nil
}

// Run computes fetches given feeds and runs targets for their effects, in
// one step. Feeds are checked against each input's dtype and static shape
// before TensorFlow runs.
func (s *Session) Run(feeds Feeds, fetches []Output, targets ...*Op) ([]*Tensor, error) {
	return s.RunWith(RunOptions{}, feeds, fetches, targets...)
}

// RunWith is Run with options: a timeout after which TensorFlow cancels
// the run, tracing, and the step's RunMetadata (see RunOptions). With the
// zero RunOptions it is Run.
func (s *Session) RunWith(opts RunOptions, feeds Feeds, fetches []Output, targets ...*Op) ([]*Tensor, error) {
	if s == nil {
		return nil, errors.New("tfwrap: run: nil session")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errSessionClosed
	}
	for o, t := range feeds {
		if err := s.checkOutput("feed key", -1, o); err != nil {
			return nil, err
		}
		if err := checkFeed(o, t); err != nil {
			return nil, err
		}
	}
	for i, o := range fetches {
		if err := s.checkOutput("fetch", i, o); err != nil {
			return nil, err
		}
	}
	for i, op := range targets {
		if op == nil || op.op == nil {
			return nil, fmt.Errorf("tfwrap: run: target %d is nil", i)
		}
		if op.st != s.st {
			return nil, fmt.Errorf("tfwrap: run: target %d (%s) belongs to another graph", i, op.Name())
		}
	}
	out, err := s.run(opts, feeds, fetches, targets)
	if err != nil {
		return nil, fmt.Errorf("tfwrap: run: %w", classifyRunError(err))
	}
	return out, nil
}

// Errors a Run may end with, for errors.Is. The bindings do not expose
// TensorFlow's status codes, so they are recognised by TensorFlow's words.
var (
	// ErrRunTimeout: the run outlasted WithRunTimeout and was cancelled.
	ErrRunTimeout = errors.New("tfwrap: the run exceeded its timeout and was cancelled")
	// ErrOutOfMemory: a kernel could not allocate a tensor.
	ErrOutOfMemory = errors.New("tfwrap: out of memory")
)

func classifyRunError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Timed out waiting for notification"):
		return fmt.Errorf("%w: %v", ErrRunTimeout, err)
	case strings.Contains(msg, "OOM when allocating"):
		return fmt.Errorf("%w: %v", ErrOutOfMemory, err)
	}
	return err
}

// Eval computes one Output.
func (s *Session) Eval(o Output, feeds Feeds) (*Tensor, error) {
	res, err := s.Run(feeds, []Output{o})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// InitVariables sets each of vars (all of the graph's variables when none
// are given) to its initial value.
func (s *Session) InitVariables(vars ...*Variable) error {
	if s == nil {
		return errors.New("tfwrap: init variables: nil session")
	}
	if len(vars) == 0 {
		vars = s.st.vars
	}
	feeds := Feeds{}
	var targets []*Op
	for i, v := range vars {
		if !v.ok() {
			return fmt.Errorf("tfwrap: init variables: variable %d (%s) is not valid", i, v.Name())
		}
		if v.st != s.st {
			return fmt.Errorf("tfwrap: init variables: %s belongs to another graph", v.name)
		}
		feeds[Output{st: v.st, out: v.initPH}] = v.init
		targets = append(targets, &Op{st: v.st, op: v.initOp})
	}
	if len(targets) == 0 {
		return nil
	}
	_, err := s.Run(feeds, nil, targets...)
	return err
}

// SetValue assigns t to v; t must have v's dtype and shape.
func (s *Session) SetValue(v *Variable, t *Tensor) error {
	if !v.ok() {
		return fmt.Errorf("tfwrap: set value: variable %s is not valid", v.Name())
	}
	if s == nil || v.st != s.st {
		return fmt.Errorf("tfwrap: set value: variable %s is not in this session's graph", v.name)
	}
	if !t.ok() {
		return fmt.Errorf("tfwrap: set value of %s: %w", v.name, ErrNilTensor)
	}
	if t.dtype != v.dtype || !shape.Compatible(v.shape, t.shape) {
		return fmt.Errorf("tfwrap: set value of %s: tensor is %v%s, variable is %v%s",
			v.name, t.dtype, shape.String(t.shape), v.dtype, shape.String(v.shape))
	}
	_, err := s.Run(Feeds{Output{st: v.st, out: v.initPH}: t}, nil, &Op{st: v.st, op: v.initOp})
	return err
}

// Value returns the current value of v.
func (s *Session) Value(v *Variable) (*Tensor, error) {
	if !v.ok() {
		return nil, fmt.Errorf("tfwrap: value: variable %s is not valid", v.Name())
	}
	return s.Eval(v.read, nil)
}

// Device is a device the session can place ops on.
type Device struct {
	Name        string // e.g. /job:localhost/replica:0/task:0/device:CPU:0
	Type        string // CPU or GPU
	MemoryBytes int64
}

// Devices lists the devices TensorFlow sees in this session.
func (s *Session) Devices() ([]Device, error) {
	if s == nil {
		return nil, errors.New("tfwrap: devices: nil session")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errSessionClosed
	}
	ds, err := s.s.ListDevices()
	if err != nil {
		return nil, fmt.Errorf("tfwrap: list devices: %w", err)
	}
	out := make([]Device, len(ds))
	for i, d := range ds {
		out[i] = Device{Name: d.Name, Type: d.Type, MemoryBytes: d.MemoryLimitBytes}
	}
	return out, nil
}
