package serving

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/tfwrap"
)

// Config configures a Server.
type Config struct {
	Models []ModelConfig
	// MaxBodyBytes bounds a request body (0: 16 MiB); larger ones get 413.
	MaxBodyBytes int64
	// MaxInFlight bounds predict requests running at once (0: 64); more
	// get 429.
	MaxInFlight int
	// Timeout is each predict request's deadline (0: 30 s); past it, 504.
	Timeout time.Duration
	// MaxElements bounds the elements of one request's inputs (0: 1<<24).
	MaxElements int
	// Poll is how often the model folders are rescanned (0: 2 s; <0: never).
	Poll time.Duration
	// BatchRows > 1 turns on server-side batching: concurrent requests for
	// the same version and signature are merged into runs of up to
	// BatchRows rows, each waiting at most BatchWait (0: 1 ms) for company.
	BatchRows int
	BatchWait time.Duration
	Logger    *slog.Logger
}

// Server serves the models. It is an http.Handler; Close stops it.
type Server struct {
	cfg     Config
	reg     *registry
	m       *metrics
	log     *slog.Logger
	slots   chan struct{}
	mux     *http.ServeMux
	stop    chan struct{}
	stopped sync.Once
	done    chan struct{}
}

// New loads the models (a version that fails to load is reported, and an
// older one served) and starts watching their folders.
func New(cfg Config) (*Server, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Poll == 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Models) == 0 {
		return nil, errors.New("serving: no models configured")
	}
	s := &Server{cfg: cfg, m: newMetrics(), log: cfg.Logger, slots: make(chan struct{}, cfg.MaxInFlight),
		stop: make(chan struct{}), done: make(chan struct{})}
	if cfg.BatchWait <= 0 {
		cfg.BatchWait = time.Millisecond
	}
	var err error
	if s.reg, err = newRegistry(cfg.Models, cfg.Logger, s.m); err != nil {
		return nil, err
	}
	s.reg.batchRows, s.reg.batchWait = cfg.BatchRows, cfg.BatchWait
	s.reg.scan()
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/v1/models/", s.models)
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("/readyz", s.readyz)
	s.mux.Handle("/metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	go s.watch()
	return s, nil
}

func (s *Server) watch() {
	defer close(s.done)
	if s.cfg.Poll < 0 {
		return
	}
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.reg.scan()
		}
	}
}

// Rescan looks for new versions now (the watcher also does, every Poll).
func (s *Server) Rescan() { s.reg.scan() }

// Close stops watching and unloads every model after its requests finish.
// It is idempotent.
func (s *Server) Close() error {
	s.stopped.Do(func() {
		close(s.stop)
		<-s.done
		s.reg.close()
	})
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-s.stop:
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	default:
	}
	if !s.reg.ready() {
		writeError(w, http.StatusServiceUnavailable, "not every model has a loaded version")
		return
	}
	w.Write([]byte("ok\n"))
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	writeJSON(w, code, b)
}

// codeOf maps an error to TF Serving's HTTP status.
func codeOf(err error) int {
	switch {
	case errors.Is(err, ErrModelNotFound), errors.Is(err, ErrVersionNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrNotReady):
		return http.StatusServiceUnavailable
	case errors.Is(err, restjson.ErrBadRequest), errors.Is(err, savedmodels.ErrBadInput), errors.Is(err, savedmodels.ErrSignatureNotFound):
		return http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errBusy):
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// route splits /v1/models/NAME[/versions/N][:verb | /metadata].
func route(path string) (name string, version int64, action string, err error) {
	rest := strings.TrimPrefix(path, "/v1/models/")
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest, action = rest[:i], rest[i+1:]
	}
	parts := strings.Split(rest, "/")
	if parts[0] == "" {
		return "", 0, "", errors.New("missing model name")
	}
	name = parts[0]
	parts = parts[1:]
	if len(parts) >= 2 && parts[0] == "versions" {
		v, perr := strconv.ParseInt(parts[1], 10, 64)
		if perr != nil || v <= 0 {
			return "", 0, "", fmt.Errorf("bad version %q", parts[1])
		}
		version, parts = v, parts[2:]
	}
	if len(parts) == 1 && parts[0] == "metadata" && action == "" {
		action = "metadata"
		parts = nil
	}
	if len(parts) != 0 {
		return "", 0, "", fmt.Errorf("unknown path %q", path)
	}
	return name, version, action, nil
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	name, version, action, err := route(r.URL.Path)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	switch {
	case action == "" && r.Method == http.MethodGet:
		s.modelStatus(w, name, version)
	case action == "metadata" && r.Method == http.MethodGet:
		s.metadata(w, name, version)
	case action == "predict" && r.Method == http.MethodPost:
		s.predict(w, r, name, version)
	case action == "predict" || action == "metadata" || action == "":
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here", r.Method))
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown verb %q (want predict)", action))
	}
}

func (s *Server) modelStatus(w http.ResponseWriter, name string, version int64) {
	st, err := s.reg.status(name)
	if err != nil {
		writeError(w, codeOf(err), err.Error())
		return
	}
	type statusJSON struct {
		Version string `json:"version"`
		State   string `json:"state"`
		Status  struct {
			ErrorCode    string `json:"error_code"`
			ErrorMessage string `json:"error_message"`
		} `json:"status"`
	}
	var out []statusJSON
	for _, v := range st {
		if version > 0 && v.n != version {
			continue
		}
		e := statusJSON{Version: strconv.FormatInt(v.n, 10), State: v.state}
		e.Status.ErrorCode = "OK"
		if v.err != nil {
			e.Status.ErrorCode, e.Status.ErrorMessage = "UNKNOWN", v.err.Error()
		}
		out = append(out, e)
	}
	if version > 0 && len(out) == 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("model %q has no version %d", name, version))
		return
	}
	b, _ := json.Marshal(map[string]any{"model_version_status": out})
	writeJSON(w, http.StatusOK, b)
}

var dtypeNames = map[tfwrap.DType]string{
	tfwrap.Float32: "DT_FLOAT", tfwrap.Float64: "DT_DOUBLE", tfwrap.Int32: "DT_INT32", tfwrap.Int64: "DT_INT64",
	tfwrap.Uint8: "DT_UINT8", tfwrap.Bool: "DT_BOOL", tfwrap.String: "DT_STRING",
}

func tensorInfoJSON(t savedmodels.TensorInfo) map[string]any {
	shape := map[string]any{"unknown_rank": t.Shape == nil}
	var dims []map[string]string
	for _, d := range t.Shape {
		dims = append(dims, map[string]string{"size": strconv.FormatInt(d, 10), "name": ""})
	}
	if dims != nil {
		shape["dim"] = dims
	}
	dt := dtypeNames[t.DType]
	if dt == "" {
		dt = "DT_INVALID"
	}
	return map[string]any{"dtype": dt, "tensor_shape": shape, "name": t.Name}
}

func (s *Server) metadata(w http.ResponseWriter, name string, version int64) {
	v, release, err := s.reg.acquire(name, version)
	if err != nil {
		writeError(w, codeOf(err), err.Error())
		return
	}
	defer release()
	sigs := map[string]any{}
	for _, sig := range v.model.Signatures() {
		ins, outs := map[string]any{}, map[string]any{}
		for _, t := range sig.Inputs {
			ins[t.Name] = tensorInfoJSON(t)
		}
		for _, t := range sig.Outputs {
			outs[t.Name] = tensorInfoJSON(t)
		}
		sigs[sig.Key] = map[string]any{"inputs": ins, "outputs": outs, "method_name": sig.Method}
	}
	b, _ := json.Marshal(map[string]any{
		"model_spec": map[string]string{"name": name, "signature_name": "", "version": strconv.FormatInt(v.n, 10)},
		"metadata":   map[string]any{"signature_def": map[string]any{"signature_def": sigs}},
	})
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) predict(w http.ResponseWriter, r *http.Request, name string, version int64) {
	start := time.Now()
	code := http.StatusOK
	defer func() {
		s.m.requests.WithLabelValues(name, "predict", strconv.Itoa(code)).Inc()
		s.m.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}()
	fail := func(err error) {
		code = codeOf(err)
		writeError(w, code, err.Error())
		s.log.Debug("predict failed", "model", name, "code", code, "err", err)
	}
	if !s.takeSlot() {
		fail(errOverloaded(s.cfg.MaxInFlight))
		return
	}
	handedOff := false
	defer func() {
		if !handedOff {
			<-s.slots
		}
	}()
	s.m.inflight.Inc()
	defer s.m.inflight.Dec()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(fmt.Errorf("%w: the body is larger than %d bytes", errTooLarge, s.cfg.MaxBodyBytes))
			return
		}
		fail(fmt.Errorf("%w: reading the body: %v", restjson.ErrBadRequest, err))
		return
	}
	v, release, err := s.reg.acquire(name, version)
	if err != nil {
		fail(err)
		return
	}
	defer func() {
		if !handedOff {
			release()
		}
	}()
	key, req, feeds, err := decodeREST(v, body, s.cfg.MaxElements)
	if err != nil {
		fail(err)
		return
	}
	handedOff = true
	out, err := s.execute(r.Context(), v, key, feeds, func() { release(); <-s.slots })
	if err != nil {
		fail(err)
		return
	}
	resp, err := encodeREST(out, req.Columnar)
	if err != nil {
		fail(err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

var (
	errTooLarge = errors.New("request too large")
	errBusy     = errors.New("overloaded")
)

func errOverloaded(n int) error {
	return fmt.Errorf("%w: too many requests in flight (%d)", errBusy, n)
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

// decodeREST reads a REST body against the version's signature.
func decodeREST(v *version, body []byte, maxElements int) (string, *restjson.Request, map[string]*tfwrap.Tensor, error) {
	env, err := restjson.Parse(body)
	if err != nil {
		return "", nil, nil, err
	}
	key := env.Signature
	if key == "" {
		key = savedmodels.DefaultSignature
	}
	sig, err := v.model.Signature(key)
	if err != nil {
		return "", nil, nil, err
	}
	ins, err := inputsOf(sig)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w: %v", restjson.ErrBadRequest, err)
	}
	req, err := env.Decode(ins, restjson.Limits{MaxElements: maxElements})
	if err != nil {
		return "", nil, nil, err
	}
	feeds := map[string]*tfwrap.Tensor{}
	for _, in := range sig.Inputs {
		if feeds[in.Name], err = toTensor(req.Inputs[in.Name], in.DType); err != nil {
			return "", nil, nil, fmt.Errorf("%w: input %q: %v", restjson.ErrBadRequest, in.Name, err)
		}
	}
	return key, req, feeds, nil
}

// execute runs signature key on feeds within the request's deadline (and
// through the batcher when there is one). finish is called exactly once,
// when TensorFlow is done: at once, or later if the deadline passed first
// (the run cannot be interrupted, so it keeps its slot until then).
func (s *Server) execute(ctx context.Context, v *version, key string, feeds map[string]*tfwrap.Tensor, finish func()) (map[string]*tfwrap.Tensor, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	type result struct {
		out map[string]*tfwrap.Tensor
		err error
	}
	ch := make(chan result, 1)
	go func() {
		if sig, err := v.model.Signature(key); err == nil && v.batch != nil && batchable(sig) {
			out, err := v.batch.predict(key, feeds)
			ch <- result{out, err}
			return
		}
		out, err := v.model.Predict(key, feeds)
		ch <- result{out, err}
	}()
	select {
	case res := <-ch:
		finish()
		return res.out, res.err
	case <-ctx.Done():
		go func() {
			<-ch
			finish()
		}()
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: the model did not answer within %v", context.DeadlineExceeded, s.cfg.Timeout)
	}
}

// encodeREST writes outputs in the request's format.
func encodeREST(out map[string]*tfwrap.Tensor, columnar bool) ([]byte, error) {
	outs := make([]restjson.Output, 0, len(out))
	for _, n := range sortedKeys(out) {
		o, err := toOutput(n, out[n])
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	if columnar {
		return restjson.EncodeColumns(outs)
	}
	b, err := restjson.EncodeRows(outs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", restjson.ErrBadRequest, err)
	}
	return b, nil
}
