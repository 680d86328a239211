package serving

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/health"

	"github.com/tfgo-project/gotf/internal/cpuinfo"
	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/tfwrap"
)

// Config configures a Server. The zero value of each field means the
// default given beside it.
type Config struct {
	Models []ModelConfig
	// ModelConfigFile, when Models is empty, is read for the models: TF
	// Serving's model config file (see ParseModelConfig).
	ModelConfigFile string
	// ModelConfigPoll > 0 re-reads ModelConfigFile this often and applies
	// it when it changes, as Reload does (TF Serving's
	// --model_config_file_poll_wait_seconds); 0 reads it once.
	ModelConfigPoll time.Duration
	// Isolation says where models run (default IsolationProcess: a worker
	// process per model, or per ModelConfig.Group).
	Isolation Isolation
	// WorkerCommand starts a worker process (default: this executable,
	// which must call RunWorkerIfChild first thing in main).
	WorkerCommand []string
	// WorkerMemoryBytes caps each worker's address space (RLIMIT_AS). 0
	// is the default: half the memory of the container (its cgroup limit)
	// or machine, at least 4 GiB, plus 2 GiB and 64 MiB per CPU that
	// TensorFlow reserves without using. A worker past it fails its
	// allocation, and the request gets 413 or the worker restarts, while
	// the front end and the other models go on. NoWorkerMemoryCap: none.
	WorkerMemoryBytes uint64
	// LoadTimeout bounds loading and warming up one version (0: 2 min).
	LoadTimeout time.Duration
	// ThreadSpinning lets TensorFlow's pool threads spin while they wait
	// for work, as TensorFlow does by default. The server's default (false)
	// stops them: they then leave the cores to the server's own goroutines,
	// which on 2 cores raised concurrency-64 throughput by 23-52% (README,
	// "Threads: measured, not assumed"). Set once per process, by the first
	// model it loads.
	ThreadSpinning bool
	// IntraOpThreads and InterOpThreads size TensorFlow's thread pools
	// (TF Serving's --tensorflow_intra_op_parallelism and
	// --tensorflow_inter_op_parallelism; 0: one thread per core). In a
	// worker process they are its own; in process the first model
	// loaded sets them for all. One intra-op thread makes small requests
	// faster and large ones slower (README, "Threads: measured, not
	// assumed").
	IntraOpThreads, InterOpThreads int
	// BFloat16 runs every model's matrix ops in bfloat16 through
	// TensorFlow's oneDNN rewrite (savedmodels.LoadOptions.BFloat16):
	// on a CPU with AMX-BF16 a batch-64 CNN predict took 1.6 ms against
	// 2.9 (make bench); outputs move by bfloat16's rounding. Where it cannot run, New
	// is an error (cpuinfo.ErrNoBFloat16).
	BFloat16 bool
	// LoadInBackground makes New return before the models are loaded:
	// the server answers /healthz and /metrics at once, and each model as
	// soon as it is loaded, while /readyz says 503 until every model has
	// been tried (its load done or failed, bounded by LoadTimeout) and the
	// labels applied. A configuration that cannot be applied (a label on
	// a version that did not load) then ends Serve with its error. The
	// default loads everything in New, as TF Serving does before it
	// listens.
	LoadInBackground bool
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
	// AllowedHosts lists the host names (without port) a browser may
	// reach the server by; "*" allows any. A request from a browser (one
	// with an Origin or Sec-Fetch-Site header) whose Host is a name not
	// listed is refused with 403, which stops DNS rebinding: a page whose
	// own name an attacker re-points at this server sends that name as
	// Host, and as Origin too, so the Origin check alone lets it through.
	// IP addresses and "localhost" are always allowed, and clients that
	// are not browsers (no such headers) are not checked.
	AllowedHosts []string
	// AllowConfigReload lets gRPC's ModelService.HandleReloadConfigRequest
	// replace the served models; off, it answers PERMISSION_DENIED, since
	// any client reaching the port could unload every model.
	AllowConfigReload bool
	// ReloadRoot confines that reload: every base path a reloaded config
	// names must lie inside this folder (symbolic links resolved), so a
	// client cannot make the server read any folder it can, nor probe
	// paths. Empty: the nearest folder that holds every base path the
	// server started with.
	ReloadRoot string
	// StrictReadiness makes /readyz (and /v2/health/ready, gRPC health)
	// answer 503 while any configured model has no loaded version. By
	// default the server is ready once every model has been tried and at
	// least one serves: one model that cannot load is reported in its
	// status and metrics, and does not make the replica unready for the
	// others (Triton's --strict-readiness=false).
	StrictReadiness bool
	// Poll is how often the model folders are rescanned (0: 2 s; <0: never).
	Poll time.Duration
	// BatchRows > 1 turns on server-side batching: concurrent requests for
	// the same version and signature are merged into runs of up to
	// BatchRows rows, each waiting at most BatchWait (0: 1 ms) for company.
	BatchRows int
	BatchWait time.Duration
	// ProfileDir, when set, traces the first ProfileRuns (0: 20; at most
	// 1000) unbatched predicts of each version after its warm-up, and
	// writes TensorFlow's per-op timings to ProfileDir/MODEL/VERSION/
	// trace.json (Chrome trace, for Perfetto) and ops.txt (op types by
	// kernel time), as models.FitOptions.Profile does for training.
	ProfileDir  string
	ProfileRuns int
	Logger      *slog.Logger
}

// maxThreads bounds a thread pool's size, as everywhere
// (tfwrap.CheckThreads). The server also refuses a negative inter-op
// count, which elsewhere means the caller's thread: a run there cannot
// be cancelled at its deadline.
const maxThreads = tfwrap.MaxThreads

func (c *Config) defaults() error {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
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
	for _, t := range []struct {
		name string
		n    int
	}{{"intra-op", c.IntraOpThreads}, {"inter-op", c.InterOpThreads}} {
		if t.n < 0 || t.n > maxThreads {
			return fmt.Errorf("serving: %s threads %d: want 0 (one per core) to %d", t.name, t.n, maxThreads)
		}
	}
	if c.BFloat16 {
		if err := cpuinfo.BFloat16(); err != nil {
			return fmt.Errorf("serving: %w", err)
		}
	}
	if c.ProfileRuns < 0 || c.ProfileRuns > maxProfileRuns {
		return fmt.Errorf("serving: profile runs %d: want 1 to %d (0: 20)", c.ProfileRuns, maxProfileRuns)
	}
	if c.ProfileDir != "" {
		setDefault(&c.ProfileRuns, 20)
		if err := os.MkdirAll(c.ProfileDir, 0o755); err != nil {
			return fmt.Errorf("serving: profile dir: %w", err)
		}
		abs, err := filepath.Abs(c.ProfileDir) // a worker's working directory may differ
		if err != nil {
			return fmt.Errorf("serving: profile dir: %w", err)
		}
		c.ProfileDir = abs
		if c.BatchRows > 1 {
			c.Logger.Warn("serving: --profile_dir traces unbatched predicts only; with batching on, a batchable signature's runs are not traced", "batch_rows", c.BatchRows)
		}
	}
	if c.Isolation == "" {
		c.Isolation = IsolationProcess
	}
	if c.WorkerMemoryBytes == 0 {
		c.WorkerMemoryBytes = defaultWorkerMemory()
	}
	if c.Isolation != IsolationProcess && c.Isolation != IsolationNone {
		return fmt.Errorf("serving: isolation %q: want %q or %q", c.Isolation, IsolationProcess, IsolationNone)
	}
	if len(c.Models) == 0 && c.ModelConfigFile != "" {
		var err error
		if c.Models, _, err = ReadModelConfigFile(c.ModelConfigFile); err != nil {
			return err
		}
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
	// initDone is closed when the first load of every model is over;
	// startErr then holds a configuration that could not be applied.
	initDone chan struct{}
	startErr chan error
	// groups is each configured model's worker group, kept across reloads.
	groups map[string]string
	// configText is the model config file's content last applied;
	// configBad the last that did not parse.
	configText, configBad []byte
	// reloadRoot is Config.ReloadRoot, absolute, symbolic links resolved.
	reloadRoot string
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
	var ld loader = &inProcess{timeout: cfg.LoadTimeout, m: s.m, log: cfg.Logger}
	if cfg.Isolation == IsolationProcess {
		ld = &processes{
			opts: procOptions{mem: s.mem, command: cfg.WorkerCommand, memLimit: cfg.WorkerMemoryBytes, log: cfg.Logger, maxInFlight: cfg.MaxInFlight,
				maxFrame: int(min(cfg.MaxResponseBytes+cfg.MaxBodyBytes+(1<<20), 1<<31-1-frameHeader))},
			loadTimeout: cfg.LoadTimeout, runTimeout: cfg.Timeout, log: cfg.Logger, m: s.m,
			groups: map[string]*workerGroup{}, probes: map[*proc]bool{},
		}
	}
	var err error
	s.reg, err = newRegistry(cfg.Models, cfg.Logger, s.m, ld, loadOptions{
		batchRows: cfg.BatchRows, batchWait: cfg.BatchWait, warmup: true, timeout: cfg.Timeout, mem: s.mem,
		profileDir: cfg.ProfileDir, profileRuns: cfg.ProfileRuns, spin: cfg.ThreadSpinning,
		intraOp: cfg.IntraOpThreads, interOp: cfg.InterOpThreads, bf16: cfg.BFloat16})
	if err != nil {
		return nil, err
	}
	s.reg.scanned = s.updateHealth
	if ps, ok := ld.(*processes); ok {
		ps.rescan = func() { go s.Rescan() }
	}
	if cfg.AllowConfigReload {
		if s.reloadRoot, err = reloadRoot(cfg.ReloadRoot, cfg.Models); err != nil {
			s.reg.load.abandon()
			s.reg.close()
			return nil, fmt.Errorf("serving: reload root: %w", err)
		}
	}
	s.groups = map[string]string{}
	for _, c := range cfg.Models {
		s.groups[c.Name] = c.Group
	}
	if cfg.ModelConfigFile != "" {
		_, s.configText, _ = ReadModelConfigFile(cfg.ModelConfigFile) // what the first poll compares with
	}
	s.m.declare(cfg.Models)
	s.m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gotf_serving_memory_in_use_bytes",
		Help: "Bytes requests hold of --max_in_flight_bytes: bodies, decoded messages, inputs, answers not yet written.",
	}, func() float64 {
		s.mem.mu.Lock()
		defer s.mem.mu.Unlock()
		return float64(s.mem.used)
	}))
	s.initDone, s.startErr = make(chan struct{}), make(chan error, 1)
	if cfg.LoadInBackground {
		go func() {
			defer close(s.initDone)
			s.reg.scan()
			if err := s.reg.applyLabels(cfg.Models); err != nil {
				s.startErr <- fmt.Errorf("serving: %w", err)
				return
			}
			s.reg.started.Store(true)
			s.updateHealth()
		}()
	} else {
		s.reg.scan()
		if err := s.reg.applyLabels(cfg.Models); err != nil {
			s.reg.load.abandon()
			s.reg.close()
			return nil, fmt.Errorf("serving: %w", err)
		}
		s.reg.started.Store(true)
		close(s.initDone)
	}
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
	var tick, cfgTick <-chan time.Time
	if s.cfg.Poll > 0 {
		t := time.NewTicker(s.cfg.Poll)
		defer t.Stop()
		tick = t.C
	}
	if s.cfg.ModelConfigFile != "" && s.cfg.ModelConfigPoll > 0 {
		ct := time.NewTicker(s.cfg.ModelConfigPoll)
		defer ct.Stop()
		cfgTick = ct.C
	}
	for {
		select {
		case <-s.stop:
			return
		case <-tick:
			s.reg.poll() // each model's scan updates health when done
		case <-cfgTick:
			s.pollConfig()
		}
	}
}

// pollConfig re-reads the model config file and applies it if it changed.
// A file that cannot be read or parsed is logged and the configuration in
// force kept, as TF Serving does.
func (s *Server) pollConfig() {
	cfgs, b, err := ReadModelConfigFile(s.cfg.ModelConfigFile)
	if b != nil && (bytes.Equal(b, s.configText) || (err != nil && bytes.Equal(b, s.configBad))) {
		return // unchanged, or the same broken text already logged
	}
	if err != nil {
		s.configBad = b
	} else {
		err = s.Reload(cfgs)
	}
	if err != nil {
		// Tried again at the next poll: the file may have been half
		// written, or a label may name a version still loading.
		s.log.Error("apply model config file", "path", s.cfg.ModelConfigFile, "err", err)
		return
	}
	s.configText = b
	s.log.Info("applied model config file", "path", s.cfg.ModelConfigFile, "models", len(cfgs))
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
		<-s.initDone // a first load in the background ends within its deadline
		s.reg.close()
	})
	return nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.checkHost(r); err != nil {
		s.fail(w, err)
		return
	}
	h := &hold{}
	defer h.release(s.mem)
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), holdKey{}, h)))
}

// hold is what one request holds of the memory all requests in flight
// share (its body, its model's answer, its encoded reply), given back
// when the request is done. A worker's reader charges it from another
// goroutine; once released it takes nothing more.
type hold struct {
	mu   sync.Mutex
	n    int64
	done bool
}

type holdKey struct{}

func holdOf(ctx context.Context) *hold {
	h, _ := ctx.Value(holdKey{}).(*hold)
	return h
}

var errRequestDone = errors.New("the request is over")

func (h *hold) take(m *memory, n int64) error {
	if h == nil || m == nil {
		return nil
	}
	if err := m.take(n); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		m.give(n)
		return errRequestDone
	}
	h.n += n
	return nil
}

// holdAnswer charges an answer of n bytes to the memory all requests
// share until the request is done: answers that clients are slow to read
// (the write timeout drops them) hold at most that share together.
func (s *Server) holdAnswer(r *http.Request, n int) error {
	if err := holdOf(r.Context()).take(s.mem, int64(n)); err != nil {
		return fmt.Errorf("the answer of %d bytes: %w", n, err)
	}
	return nil
}

func (h *hold) release(m *memory) {
	h.mu.Lock()
	n := h.n
	h.n, h.done = 0, true
	h.mu.Unlock()
	if m != nil && n > 0 {
		m.give(n)
	}
}

// checkHost refuses a browser's request that names the server by a host
// name not in AllowedHosts (see Config.AllowedHosts).
func (s *Server) checkHost(r *http.Request) error {
	if r.Header.Get("Origin") == "" && r.Header.Get("Sec-Fetch-Site") == "" {
		return nil // not a browser
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") {
		return nil
	}
	for _, a := range s.cfg.AllowedHosts {
		if a == "*" || strings.EqualFold(a, host) {
			return nil
		}
	}
	return fmt.Errorf("%w: a browser reached this server by the name %q, which is not among the allowed hosts (allow it with --allowed_hosts)", errForbidden, host)
}

// beginShutdown makes /readyz answer 503 from now on.
func (s *Server) beginShutdown() {
	s.draining.Store(true)
	s.updateHealth()
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := s.serverReady(); err != nil {
		s.fail(w, err)
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

// route splits /v1/models/NAME[/versions/N | /labels/LABEL][:verb | /metadata].
func route(path string) (name string, version int64, label, action string, err error) {
	rest := strings.TrimPrefix(path, "/v1/models/")
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest, action = rest[:i], rest[i+1:]
	}
	parts := strings.Split(rest, "/")
	if parts[0] == "" {
		return "", 0, "", "", errors.New("missing model name")
	}
	name = parts[0]
	parts = parts[1:]
	switch {
	case len(parts) >= 2 && parts[0] == "versions":
		v, perr := strconv.ParseInt(parts[1], 10, 64)
		if perr != nil || v <= 0 {
			return "", 0, "", "", fmt.Errorf("bad version %q", parts[1])
		}
		version, parts = v, parts[2:]
	case len(parts) >= 2 && parts[0] == "labels":
		if !validLabel(parts[1]) {
			return "", 0, "", "", fmt.Errorf("bad version label %q", parts[1])
		}
		label, parts = parts[1], parts[2:]
	}
	if len(parts) == 1 && parts[0] == "metadata" && action == "" {
		action = "metadata"
		parts = nil
	}
	if len(parts) != 0 {
		return "", 0, "", "", fmt.Errorf("unknown path %q", path)
	}
	return name, version, label, action, nil
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	name, version, label, action, err := route(r.URL.Path)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if label != "" {
		// The label names a version now; a request already under way
		// keeps the version it was given.
		if version, err = s.reg.resolve(name, label); err != nil {
			s.fail(w, err)
			return
		}
	}
	switch {
	case action == "" && r.Method == http.MethodGet:
		s.modelStatus(w, name, version)
	case action == "metadata" && r.Method == http.MethodGet:
		s.metadata(w, name, version)
	case action == "predict" && r.Method == http.MethodPost:
		s.restPredict(w, r, name, version)
	case (action == "classify" || action == "regress") && r.Method == http.MethodPost:
		s.restExamples(w, r, name, version, action)
	case action == "predict" || action == "classify" || action == "regress" || action == "metadata" || action == "":
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here", r.Method))
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown verb %q (want predict, classify or regress)", action))
	}
}

// modelStatus answers GET /v1/models/NAME[/versions/N]: TF Serving's
// GetModelStatusResponse as JSON.
func (s *Server) modelStatus(w http.ResponseWriter, name string, version int64) {
	resp, err := s.statusResponse(name, version)
	if err != nil {
		s.fail(w, err)
		return
	}
	// As protojson would print it (TestStatusAndMetadataAsTFServing
	// compares), without its reflection: status is what monitors poll.
	type statusJSON struct {
		Version string `json:"version"`
		State   string `json:"state"`
		Status  struct {
			ErrorCode    string `json:"error_code"`
			ErrorMessage string `json:"error_message"`
		} `json:"status"`
	}
	out := make([]statusJSON, len(resp.ModelVersionStatus))
	for i, v := range resp.ModelVersionStatus {
		out[i].Version, out[i].State = strconv.FormatInt(v.GetVersion(), 10), v.GetState().String()
		out[i].Status.ErrorCode, out[i].Status.ErrorMessage = v.GetStatus().GetErrorCode().String(), v.GetStatus().GetErrorMessage()
	}
	b, _ := json.Marshal(map[string]any{"model_version_status": out})
	writeJSON(w, http.StatusOK, b)
}

// metadata answers GET /v1/models/NAME[/versions/N]/metadata: TF
// Serving's GetModelMetadataResponse as JSON.
func (s *Server) metadata(w http.ResponseWriter, name string, version int64) {
	resp, err := s.metadataResponse(name, version)
	if err == nil {
		var b []byte
		if b, err = jsonOf(resp); err == nil {
			writeJSON(w, http.StatusOK, withDefaults(b))
			return
		}
	}
	s.fail(w, err)
}

// withDefaults adds each signature's "defaults": {} to metadata JSON, as
// TF Serving prints it: the SignatureDef of the TF bindings this module
// builds on predates that field, so protojson cannot print it (a
// signature's default values themselves reach gRPC clients unchanged, as
// the message's unknown fields, but not REST).
func withDefaults(b []byte) []byte {
	var doc map[string]any
	if json.Unmarshal(b, &doc) != nil {
		return b
	}
	md, _ := doc["metadata"].(map[string]any)
	sd, _ := md["signature_def"].(map[string]any)
	defs, _ := sd["signature_def"].(map[string]any)
	for _, d := range defs {
		if d, ok := d.(map[string]any); ok {
			if _, has := d["defaults"]; !has {
				d["defaults"] = map[string]any{}
			}
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return b
	}
	return out
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
			ws := make([]wireInput, 0, len(sig.Inputs))
			for _, in := range sig.Inputs {
				a, dt := req.Inputs[in.Name], in.DType
				ws = append(ws, wireInput{name: in.Name, dt: dt, dims: a.Shape, fill: func() (Tensor, error) {
					t, err := fromArray(a, dt)
					if err != nil {
						return t, fmt.Errorf("%w: input %q: %v", restjson.ErrBadRequest, in.Name, err)
					}
					return t, nil
				}})
			}
			return decodeInputs(sig, b, ws)
		},
	})
	if err != nil {
		s.fail(w, err)
		return
	}
	// The encoder widens each element to 64 bits, then writes at least
	// two bytes of JSON for it: charged before, so that answers being
	// encoded stay within the shared memory too.
	if err := holdOf(r.Context()).take(s.mem, encodeCost(res.outputs)); err != nil {
		s.fail(w, fmt.Errorf("encoding the answer: %w", err))
		return
	}
	resp, err := encodeREST(res.outputs, columnar)
	if err == nil {
		err = s.holdAnswer(r, len(resp))
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// readREST checks the request's origin, reads its body within the limit
// and splits the JSON envelope.
func (s *Server) readREST(w http.ResponseWriter, r *http.Request) (*restjson.Envelope, error) {
	body, err := s.readRESTBody(w, r)
	if err != nil {
		return nil, err
	}
	return restjson.Parse(body)
}

// readRESTBody checks the request's origin and reads its body within the
// limit.
func (s *Server) readRESTBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if err := s.checkOrigin(r); err != nil {
		return nil, err
	}
	if r.ContentLength > s.cfg.MaxBodyBytes { // refused unread
		return nil, fmt.Errorf("%w: the body is larger than %d bytes", errTooLarge, s.cfg.MaxBodyBytes)
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), r.ContentLength, holdOf(r.Context()), s.mem)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.Is(err, errBusy) || errors.Is(err, errTooLarge) {
			return nil, err // the memory all requests share is spent
		}
		if errors.As(err, &tooBig) {
			return nil, fmt.Errorf("%w: the body is larger than %d bytes", errTooLarge, s.cfg.MaxBodyBytes)
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil, fmt.Errorf("%w: the body did not arrive within the read timeout", errReadTimeout)
		}
		return nil, fmt.Errorf("%w: reading the body: %v", restjson.ErrBadRequest, err)
	}
	return body, nil
}

// readBody reads a body as it arrives: memory follows the bytes a client
// has sent, not the length it declared (a silent client declaring 16 MiB
// holds 64 KiB). Every buffer it allocates is first taken from mem, the
// memory all requests in flight share, and held (h) until the request is
// done: so many clients sending large bodies at once get 429, not the
// server's memory. The first 64 KiB in, the buffer grows to the declared
// length at once, else it doubles; what is taken is at most twice the
// body.
func readBody(r io.Reader, declared int64, h *hold, mem *memory) ([]byte, error) {
	size := int64(64 << 10)
	if declared >= 0 {
		size = min(size, declared+1) // +1: EOF is seen without growing
	}
	if err := h.take(mem, size); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			next := 2 * int64(cap(buf))
			if declared >= int64(cap(buf)) {
				next = declared + 1
			}
			if err := h.take(mem, next); err != nil {
				return nil, err
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// encodeREST writes outputs in the request's format.
// encodeCost is the memory encodeREST takes besides its answer: 2 bytes
// per element of JSON grown by doubling, and 8 per element widened for
// the encoder (float32 is read where it lies).
func encodeCost(out map[string]Tensor) int64 {
	var n int64
	for _, t := range out {
		per := int64(10)
		if t.DType == tfwrap.Float32 {
			per = 2
		}
		n += per * max(t.numElements(), 0)
	}
	return n
}

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
