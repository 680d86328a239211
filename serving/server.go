package serving

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/health"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/restjson"
)

// Config configures a Server. The zero value of each field means the
// default given beside it.
type Config struct {
	Models []ModelConfig
	// Isolation says where models run (default IsolationProcess: a worker
	// process per model, or per ModelConfig.Group).
	Isolation Isolation
	// WorkerCommand starts a worker process (default: this executable,
	// which must call RunWorkerIfChild first thing in main).
	WorkerCommand []string
	// WorkerMemoryBytes caps each worker's address space (RLIMIT_AS; 0:
	// no cap beyond the server's own).
	WorkerMemoryBytes uint64
	// LoadTimeout bounds loading and warming up one version (0: 2 min).
	LoadTimeout time.Duration
	// MaxBodyBytes bounds a request body or gRPC message (0: 16 MiB);
	// larger ones get 413 (RESOURCE_EXHAUSTED over gRPC).
	MaxBodyBytes int64
	// MaxInFlight bounds predict requests running at once (0: 64); more
	// get 429.
	MaxInFlight int
	// Timeout is each predict's deadline (0: 30 s); TensorFlow cancels a
	// run past it and the request gets 504.
	Timeout time.Duration
	// MaxElements bounds the elements of one request's inputs (0: 1<<24).
	MaxElements int
	// MaxInputBytes bounds the memory one request's inputs take once
	// decoded (0: 64 MiB).
	MaxInputBytes int64
	// MaxInFlightBytes bounds the memory all requests in flight may hold
	// at once, counted from their declared shapes before decoding (0:
	// 1 GiB); a request that would pass it gets 429.
	MaxInFlightBytes int64
	// MaxResponseBytes bounds the outputs of one response (0: 64 MiB);
	// past it the request gets 413 instead of a giant body.
	MaxResponseBytes int64
	// AllowedOrigins lists the browser origins (scheme://host[:port]) whose
	// cross-site requests may predict; "*" allows every origin.
	AllowedOrigins []string
	// Poll is how often the model folders are rescanned (0: 2 s; <0: never).
	Poll time.Duration
	// BatchRows > 1 turns on server-side batching: concurrent requests for
	// the same version and signature are merged into runs of up to
	// BatchRows rows, each waiting at most BatchWait (0: 1 ms) for company.
	BatchRows int
	BatchWait time.Duration
	Logger    *slog.Logger
}

func (c *Config) defaults() error {
	setDefault(&c.MaxBodyBytes, 16<<20)
	setDefault(&c.MaxInFlight, 64)
	setDefault(&c.Timeout, 30*time.Second)
	setDefault(&c.LoadTimeout, 2*time.Minute)
	setDefault(&c.MaxElements, 1<<24)
	setDefault(&c.MaxInputBytes, 64<<20)
	setDefault(&c.MaxResponseBytes, 64<<20)
	setDefault(&c.MaxInFlightBytes, 1<<30)
	setDefault(&c.BatchWait, time.Millisecond)
	if c.Poll == 0 {
		c.Poll = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Isolation == "" {
		c.Isolation = IsolationProcess
	}
	if c.Isolation != IsolationProcess && c.Isolation != IsolationNone {
		return fmt.Errorf("serving: isolation %q: want %q or %q", c.Isolation, IsolationProcess, IsolationNone)
	}
	if len(c.Models) == 0 {
		return errors.New("serving: no models configured")
	}
	return nil
}

func setDefault[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Server serves the models. It is an http.Handler; Close stops it.
type Server struct {
	cfg      Config
	reg      *registry
	m        *metrics
	log      *slog.Logger
	slots    chan struct{}
	mem      *memory
	mux      *http.ServeMux
	stop     chan struct{}
	stopped  sync.Once
	draining atomic.Bool
	healthMu sync.Mutex
	healths  []*health.Server // gRPC health services to keep up to date
	done     chan struct{}
}

// New loads the models (a version that fails to load is reported, and an
// older one served) and starts watching their folders.
func New(cfg Config) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, m: newMetrics(), log: cfg.Logger, slots: make(chan struct{}, cfg.MaxInFlight),
		mem:  &memory{limit: cfg.MaxInFlightBytes},
		stop: make(chan struct{}), done: make(chan struct{})}
	var ld loader = &inProcess{timeout: cfg.LoadTimeout, m: s.m}
	if cfg.Isolation == IsolationProcess {
		ld = &processes{
			opts: procOptions{command: cfg.WorkerCommand, memLimit: cfg.WorkerMemoryBytes, log: cfg.Logger, maxInFlight: cfg.MaxInFlight,
				maxFrame: int(min(cfg.MaxResponseBytes+cfg.MaxBodyBytes+(1<<20), 1<<31-1-frameHeader))},
			loadTimeout: cfg.LoadTimeout, runTimeout: cfg.Timeout, log: cfg.Logger, m: s.m,
			groups: map[string]*workerGroup{}, probes: map[*proc]bool{},
		}
	}
	var err error
	s.reg, err = newRegistry(cfg.Models, cfg.Logger, s.m, ld, loadOptions{
		batchRows: cfg.BatchRows, batchWait: cfg.BatchWait, warmup: true, timeout: cfg.Timeout})
	if err != nil {
		return nil, err
	}
	if ps, ok := ld.(*processes); ok {
		ps.rescan = func() { go s.Rescan() }
	}
	s.m.declare(cfg.Models)
	s.reg.scan()
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/v1/models/", s.models)
	s.mountKserve(s.mux) // /v2: KServe v2, kserve.go
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
			s.updateHealth()
		}
	}
}

// Rescan looks for new versions now (the watcher also does, every Poll).
func (s *Server) Rescan() {
	s.reg.scan()
	s.updateHealth()
}

// Close stops watching and unloads every model after its requests finish.
// It is idempotent.
func (s *Server) Close() error {
	s.stopped.Do(func() {
		s.beginShutdown()
		close(s.stop)
		s.reg.load.abandon() // a load in progress must not hold up the stop
		<-s.done
		s.reg.close()
	})
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// beginShutdown makes /readyz answer 503 from now on.
func (s *Server) beginShutdown() {
	s.draining.Store(true)
	s.updateHealth()
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if !s.reg.ready() {
		writeError(w, http.StatusServiceUnavailable, "not every model has a loaded version")
		return
	}
	if len(s.slots) == cap(s.slots) {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("all %d request slots are busy", cap(s.slots)))
		return
	}
	w.Write([]byte("ok\n"))
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(body)
}

// fail answers an error, its message scrubbed of file-system paths.
func (s *Server) fail(w http.ResponseWriter, err error) {
	code := codeOf(err)
	if code == 499 {
		return // nobody is listening
	}
	s.log.Debug("request failed", "code", code, "err", err)
	writeError(w, code, s.reg.scrub(err.Error()))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	writeJSON(w, code, b)
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
		s.restPredict(w, r, name, version)
	case action == "predict" || action == "metadata" || action == "":
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here", r.Method))
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown verb %q (want predict)", action))
	}
}

func (s *Server) modelStatus(w http.ResponseWriter, name string, version int64) {
	st, err := s.reg.status(name)
	if err != nil {
		s.fail(w, err)
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
			e.Status.ErrorCode, e.Status.ErrorMessage = "UNKNOWN", s.reg.scrub(v.err.Error())
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

func tensorInfoJSON(t savedmodels.TensorInfo) map[string]any {
	shape := map[string]any{"unknown_rank": t.Shape == nil}
	var dims []map[string]string
	for _, d := range t.Shape {
		dims = append(dims, map[string]string{"size": strconv.FormatInt(d, 10), "name": ""})
	}
	if dims != nil {
		shape["dim"] = dims
	}
	return map[string]any{"dtype": t.DType.Proto().String(), "tensor_shape": shape, "name": t.Name}
}

func (s *Server) metadata(w http.ResponseWriter, name string, version int64) {
	v, release, err := s.reg.acquire(name, version)
	if err != nil {
		s.fail(w, err)
		return
	}
	defer release()
	sigs := map[string]any{}
	for _, sig := range v.run.signatures() {
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

// restPredict is the REST transport of predict: it reads the body (before
// taking a slot, so a slow client holds no slot), decodes it against the
// signature and encodes the result.
func (s *Server) restPredict(w http.ResponseWriter, r *http.Request, name string, version int64) {
	env, err := s.readREST(w, r)
	if err != nil {
		s.count(name, "predict", time.Now(), &err)
		s.fail(w, err)
		return
	}
	var columnar bool
	res, err := s.predict(r.Context(), &predictCall{
		api: "predict", model: name, version: version, signature: env.Signature,
		decode: func(sig *savedmodels.Signature, b *budget) (map[string]Tensor, error) {
			ins, err := inputsOf(sig)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", restjson.ErrBadRequest, err)
			}
			// The JSON decoder checks names, ranks and dimensions as it
			// goes, within the element limit; the body bounds the rest.
			req, err := env.Decode(ins, restjson.Limits{MaxElements: int(b.maxElements), Reserve: b.reserve})
			if err != nil {
				return nil, err
			}
			columnar = req.Columnar
			out := make(map[string]Tensor, len(req.Inputs))
			for _, in := range sig.Inputs {
				a := req.Inputs[in.Name]
				if err := b.admit(sig, in.Name, in.DType, a.Shape); err != nil {
					return nil, err
				}
				if out[in.Name], err = fromArray(a, in.DType); err != nil {
					return nil, fmt.Errorf("%w: input %q: %v", restjson.ErrBadRequest, in.Name, err)
				}
			}
			return out, nil
		},
	})
	if err != nil {
		s.fail(w, err)
		return
	}
	resp, err := encodeREST(res.outputs, columnar)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// readREST checks the request's origin, reads its body within the limit
// and splits the JSON envelope.
func (s *Server) readREST(w http.ResponseWriter, r *http.Request) (*restjson.Envelope, error) {
	if err := s.checkOrigin(r); err != nil {
		return nil, err
	}
	if r.ContentLength > s.cfg.MaxBodyBytes { // refused unread
		return nil, fmt.Errorf("%w: the body is larger than %d bytes", errTooLarge, s.cfg.MaxBodyBytes)
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), r.ContentLength)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fmt.Errorf("%w: the body is larger than %d bytes", errTooLarge, s.cfg.MaxBodyBytes)
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil, fmt.Errorf("%w: the body did not arrive within the read timeout", errReadTimeout)
		}
		return nil, fmt.Errorf("%w: reading the body: %v", restjson.ErrBadRequest, err)
	}
	return restjson.Parse(body)
}

// readBody reads a body as it arrives: memory follows the bytes a client
// has sent, not the length it declared (a silent client declaring 16 MiB
// holds 64 KiB).
func readBody(r io.Reader, declared int64) ([]byte, error) {
	var buf bytes.Buffer
	if declared > 0 {
		buf.Grow(int(min(declared, 64<<10)))
	}
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// encodeREST writes outputs in the request's format.
func encodeREST(out map[string]Tensor, columnar bool) ([]byte, error) {
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

// checkOrigin refuses a browser's cross-site request (CSRF: a page on
// another site posting to a server on the user's network) unless its
// origin is allowed. Clients that are not browsers send neither header.
func (s *Server) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	site := r.Header.Get("Sec-Fetch-Site")
	cross := site == "cross-site" || site == "same-site"
	if origin != "" {
		u, err := url.Parse(origin)
		if err != nil || origin == "null" || !strings.EqualFold(u.Host, r.Host) {
			cross = true
		}
	}
	if !cross {
		return nil
	}
	for _, a := range s.cfg.AllowedOrigins {
		if a == "*" || (origin != "" && strings.EqualFold(a, origin)) {
			return nil
		}
	}
	return fmt.Errorf("%w: cross-site request from origin %q refused (allow it with --allowed_origins)", errForbidden, origin)
}
