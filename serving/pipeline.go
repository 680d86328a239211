package serving

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
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
)

func errOverloaded(n int) error {
	return fmt.Errorf("%w: too many requests in flight (%d)", errBusy, n)
}

// budget bounds what one request's inputs may hold.
type budget struct {
	maxElements int64
	maxBytes    int64
	elements    int64
	bytes       int64
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
	return nil
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
	key := c.signature
	if key == "" {
		key = savedmodels.DefaultSignature
	}
	sig, err := v.signature(key)
	if err != nil {
		return nil, err
	}
	in, err := c.decode(sig, &budget{maxElements: int64(s.cfg.MaxElements), maxBytes: s.cfg.MaxInputBytes})
	if err != nil {
		return nil, err
	}
	if err := checkInputs(sig, in); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	out, err := v.run.predict(ctx, key, in, c.filter, s.cfg.MaxResponseBytes)
	if err != nil {
		return nil, err
	}
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
	case errors.Is(err, restjson.ErrBadRequest), errors.Is(err, savedmodels.ErrBadInput), errors.Is(err, savedmodels.ErrSignatureNotFound):
		return http.StatusBadRequest
	case errors.Is(err, errDeadline), errors.Is(err, tfwrap.ErrRunTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errBusy), errors.Is(err, tfwrap.ErrOutOfMemory):
		return http.StatusTooManyRequests
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, context.Canceled):
		return 499 // the client went away
	}
	return http.StatusInternalServerError
}

// scrub replaces the model folders in a message with the models' names,
// so that error bodies never show the server's file system.
func (r *registry) scrub(msg string) string {
	for _, s := range r.models {
		for _, p := range []string{s.base, absPath(s.base)} {
			if p != "" && p != "." && p != "/" {
				msg = strings.ReplaceAll(msg, p, s.name)
			}
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
