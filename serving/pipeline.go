package serving

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// Both transports decode into a predictCall and encode its result; what
// lies between (admission, validation against the signature, execution,
// release, and the classification of errors into HTTP and gRPC codes) is
// written once, here.

// predictCall is one predict request, transport-neutral.
type predictCall struct {
	api       string // the metrics' api label: "predict" (REST) or "grpc_predict"
	model     string
	version   int64 // 0: the served one
	signature string
	filter    []string
	// decode materialises the inputs once the signature is known. Before
	// allocating an input's elements it must pass the input's declared
	// dtype and shape to budget.admit.
	decode func(sig *savedmodels.Signature, b *budget) (map[string]Tensor, error)
}

// predictResult is what a predict returns.
type predictResult struct {
	version   int64
	signature string
	outputs   map[string]Tensor
}

var (
	errTooLarge = errors.New("request too large")
	errBusy     = errors.New("overloaded")
	errDeadline = context.DeadlineExceeded
	// errForbidden: a cross-site browser request.
	errForbidden = errors.New("forbidden")
	// errReadTimeout: the client did not send its request in time.
	errReadTimeout = errors.New("request timeout")
)

func errOverloaded(n int) error {
	return fmt.Errorf("%w: too many requests in flight (%d)", errBusy, n)
}

// budget bounds what one request's inputs may hold, and takes the memory
// they will use from the server's share for all requests in flight.
type budget struct {
	maxElements int64
	maxBytes    int64
	elements    int64
	bytes       int64
	mem         *memory
	held        int64
}

// copies is how many times a request's input bytes are held at once in
// the front end (decoded, encoded for the worker, framed) or in process
// (decoded, and TensorFlow's copy).
const copies = 3

// reserve takes n bytes from the share of all requests; when it is spent
// the request gets 429 rather than the server running out of memory.
func (b *budget) reserve(n int64) error {
	if b.mem == nil {
		return nil
	}
	if err := b.mem.take(n); err != nil {
		return err
	}
	b.held += n
	return nil
}

// release gives back what the request reserved.
func (b *budget) release() {
	if b.mem != nil {
		b.mem.give(b.held)
		b.held = 0
	}
}

// payload counts the bytes of an input's strings (known once they are
// counted, before they are copied: a broadcast string_val repeats its one
// value), against the request's limit and the share.
func (b *budget) payload(name string, n int64) error {
	b.bytes += n
	if b.bytes > b.maxBytes {
		return fmt.Errorf("%w: the request's inputs take %d bytes, more than the limit of %d (input %q)", errTooLarge, b.bytes, b.maxBytes, name)
	}
	return b.reserve(copies * n)
}

// memory is the bytes all requests in flight may hold at once.
type memory struct {
	mu          sync.Mutex
	used, limit int64
}

func (m *memory) take(n int64) error {
	if n > m.limit {
		return fmt.Errorf("%w: the request needs %d bytes, more than the server allows all requests in flight together (--max_in_flight_bytes %d)", errTooLarge, n, m.limit)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used+n > m.limit {
		return fmt.Errorf("%w: requests in flight hold %d of the %d bytes allowed (--max_in_flight_bytes); this one needs %d more", errBusy, m.used, m.limit, n)
	}
	m.used += n
	return nil
}

func (m *memory) give(n int64) {
	m.mu.Lock()
	m.used -= n
	m.mu.Unlock()
}

// admit checks one input's declared dtype and shape against the signature
// and the request's limits, before a single element is allocated.
func (b *budget) admit(sig *savedmodels.Signature, name string, dt tfwrap.DType, dims []int64) error {
	if err := sig.CheckInput(name, savedmodels.Spec{DType: dt, Shape: dims}); err != nil {
		return err
	}
	n, err := shape.NumElements(dims)
	if err != nil {
		return fmt.Errorf("%w: input %q: %v", savedmodels.ErrBadInput, name, err)
	}
	size := n * int64(dt.ByteSize())
	if dt == tfwrap.String {
		size = n * 16
	}
	b.elements += n
	b.bytes += size
	if b.elements > b.maxElements {
		return fmt.Errorf("%w: the request holds %d elements, more than the limit of %d", errTooLarge, b.elements, b.maxElements)
	}
	if b.bytes > b.maxBytes {
		return fmt.Errorf("%w: the request's inputs take %d bytes, more than the limit of %d", errTooLarge, b.bytes, b.maxBytes)
	}
	return b.reserve(copies * size)
}

// checkInputs checks the whole set of inputs: every one present and of
// the right dtype and shape, and one batch size across inputs whose
// signature gives them all a batch (leading -1) dimension.
func checkInputs(sig *savedmodels.Signature, in map[string]Tensor) error {
	specs := make(map[string]savedmodels.Spec, len(in))
	for name, t := range in {
		specs[name] = savedmodels.Spec{DType: t.DType, Shape: t.Shape}
	}
	if err := sig.Check(specs); err != nil {
		return err
	}
	if len(sig.Inputs) < 2 {
		return nil
	}
	for _, i := range sig.Inputs {
		if len(i.Shape) == 0 || i.Shape[0] != -1 {
			return nil
		}
	}
	first := sig.Inputs[0].Name
	for _, i := range sig.Inputs[1:] {
		if a, b := in[first].Shape[0], in[i.Name].Shape[0]; a != b {
			return fmt.Errorf("%w: inputs %q and %q have batch sizes %d and %d; all inputs need the same", savedmodels.ErrBadInput, first, i.Name, a, b)
		}
	}
	return nil
}

// predict runs one call through admission, validation and execution.
func (s *Server) predict(ctx context.Context, c *predictCall) (res *predictResult, err error) {
	defer s.count(c.model, c.api, time.Now(), &err)
	if !s.takeSlot() {
		return nil, errOverloaded(s.cfg.MaxInFlight)
	}
	defer func() { <-s.slots }()
	s.m.inflight.Inc()
	defer s.m.inflight.Dec()
	v, release, err := s.reg.acquire(c.model, c.version)
	if err != nil {
		return nil, err
	}
	defer release()
	start, rows := time.Now(), int64(1)
	defer func() { v.stats.record(start, rows, err) }()
	key := signatureKey(c.signature)
	sig, err := v.signature(key)
	if err != nil {
		return nil, err
	}
	b := &budget{maxElements: int64(s.cfg.MaxElements), maxBytes: s.cfg.MaxInputBytes, mem: s.mem}
	defer b.release()
	t0 := time.Now()
	in, err := c.decode(sig, b)
	if err != nil {
		return nil, err
	}
	v.stats.inputN.Add(1)
	v.stats.inputNs.Add(uint64(time.Since(t0).Nanoseconds()))
	if err := checkInputs(sig, in); err != nil {
		return nil, err
	}
	rows = rowsOf(in)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	t1 := time.Now()
	out, err := v.run.predict(ctx, key, in, c.filter, s.cfg.MaxResponseBytes)
	if err != nil {
		return nil, err
	}
	v.stats.inferN.Add(1)
	v.stats.inferNs.Add(uint64(time.Since(t1).Nanoseconds()))
	return &predictResult{version: v.n, signature: key, outputs: out}, nil
}

// count records a finished request in the metrics; a transport calls it
// for requests that fail before reaching predict.
func (s *Server) count(model, api string, start time.Time, err *error) {
	label := s.reg.label(model)
	s.m.requests.WithLabelValues(label, api, strconv.Itoa(codeOf(*err))).Inc()
	s.m.latency.WithLabelValues(label).Observe(time.Since(start).Seconds())
}

// takeSlot claims one of the MaxInFlight slots, or reports that none is free.
func (s *Server) takeSlot() bool {
	select {
	case s.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// signatureKey is the signature a request names, or the default one
// (serving_default) when it names none: decided here for every API
// (predict, classify, regress, multi-inference, KServe, warm-up replay).
func signatureKey(name string) string {
	if name == "" {
		return savedmodels.DefaultSignature
	}
	return name
}

// codeOf maps an error to TF Serving's HTTP status; gRPC codes follow
// from it (grpcStatus).
func codeOf(err error) int {
	var re *remoteError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &re):
		return re.code
	case errors.Is(err, ErrModelNotFound), errors.Is(err, ErrVersionNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrNotReady), errors.Is(err, ErrWorkerDied):
		return http.StatusServiceUnavailable
	case errors.Is(err, errTooLarge), errors.Is(err, restjson.ErrTooLarge),
		// TensorFlow could not allocate what this request needs: retrying
		// it as it is will not help, so 413 (RESOURCE_EXHAUSTED), not 429.
		errors.Is(err, tfwrap.ErrOutOfMemory):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, restjson.ErrBadRequest), errors.Is(err, savedmodels.ErrBadInput), errors.Is(err, savedmodels.ErrSignatureNotFound):
		return http.StatusBadRequest
	case errors.Is(err, errDeadline), errors.Is(err, tfwrap.ErrRunTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, errBusy):
		return http.StatusTooManyRequests
	case errors.Is(err, errPrecondition):
		return http.StatusPreconditionFailed
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, errReadTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, context.Canceled):
		return 499 // the client went away
	}
	return http.StatusInternalServerError
}

// scrub replaces the model folders in a message with the models' names,
// so that error bodies never show the server's file system.
func (r *registry) scrub(msg string) string {
	for _, s := range r.all() {
		// Absolute first, then as the loader joins it (cleaned: a base
		// path such as ./models/m is read as models/m/1), then as given.
		for _, p := range []string{absPath(s.base), filepath.Clean(s.base), s.base} {
			if p == "" || p == "." || p == "/" {
				continue
			}
			q := strconv.Quote(p) // as %q prints it
			msg = strings.ReplaceAll(msg, q[1:len(q)-1], s.name)
			msg = strings.ReplaceAll(msg, p, s.name)
		}
	}
	return msg
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return ""
	}
	return a
}
