// Command serve serves SavedModels over TF Serving's REST and gRPC APIs.
//
//	serve --model_name=mnist --model_base_path=/models/mnist   # one model
//	serve --models_dir=/models                                 # every BASE/NAME/VERSION
//	serve --model_config_file=/models/models.config            # TF Serving's config file
//
// Endpoints: GET /v1/models/NAME[/versions/N | /labels/L][/metadata],
// POST /v1/models/NAME[/versions/N | /labels/L]:predict, :classify and
// :regress, /healthz, /readyz, /metrics; gRPC
// tensorflow.serving.PredictionService (Predict, GetModelMetadata,
// Classify, Regress, MultiInference), tensorflow.serving.ModelService
// (GetModelStatus; HandleReloadConfigRequest with --allow_config_reload),
// grpc.health.v1 and reflection. The Open Inference Protocol (KServe v2,
// tritonclient) on the same ports: GET /v2, /v2/health/{live,ready},
// /v2/models/NAME[/versions/V][/ready], POST
// /v2/models/NAME[/versions/V]/infer; gRPC inference.GRPCInferenceService
// (ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata,
// ModelInfer).
//
// By default each model runs in a worker process of its own, which the
// server restarts if TensorFlow aborts it (--isolation=process);
// --isolation=none runs models inside the server. REST and gRPC listen on
// every interface by default, as TF Serving does; behind a reverse proxy
// on the same machine, bind them to 127.0.0.1.
//
// SIGTERM or SIGINT stops accepting, finishes the requests in flight and
// exits 0; if they are not done within --shutdown_timeout it exits 1.
//
// serve --health_check asks a running server's /healthz on 127.0.0.1 and
// the REST port and exits 0 if it answers 200, else 1: the Docker image's
// HEALTHCHECK, which needs no curl in the image.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	rtdebug "runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tfgo-project/gotf/serving"
)

func main() {
	serving.RunWorkerIfChild() // this executable is also the model worker
	port := flag.Int("port", 8500, "gRPC port (TF Serving's --port); 0 turns gRPC off")
	restPort := flag.Int("rest_api_port", 8501, "REST port (TF Serving's --rest_api_port); 0 turns REST off")
	restHost := flag.String("rest_api_host", "0.0.0.0", "address REST listens on (0.0.0.0: every interface; 127.0.0.1 behind a local proxy)")
	grpcHost := flag.String("grpc_host", "0.0.0.0", "address gRPC listens on")
	name := flag.String("model_name", "", "serve one model under this name...")
	base := flag.String("model_base_path", "", "...from this folder of numbered versions")
	dir := flag.String("models_dir", "", "or serve every subfolder NAME of this folder as a model")
	configFile := flag.String("model_config_file", "", "or serve the models of this TF Serving model config file (a ModelServerConfig in text format: model_config_list with name, base_path, model_version_policy, version_labels)")
	configPoll := flag.Int("model_config_file_poll_wait_seconds", 0, "re-read --model_config_file this often, in seconds, and apply it when it changes (0: read it once)")
	reloadRoot := flag.String("model_config_reload_root", "", "with --allow_config_reload: the folder every reloaded base path must lie in (default: the nearest folder holding the models the server started with)")
	strictReady := flag.Bool("strict_readiness", false, "answer /readyz (and /v2/health/ready, gRPC health) with 503 while any configured model has no loaded version; by default one model that cannot load does not make the server unready for the others")
	allowReload := flag.Bool("allow_config_reload", false, "let gRPC ModelService.HandleReloadConfigRequest replace the served models (any client reaching the gRPC port could)")
	isolation := flag.String("isolation", "process", "where models run: process (a worker process per model, restarted if it dies) or none (inside the server)")
	groups := flag.String("worker_groups", "", "models that share one worker process: 'a,b;c,d' puts a and b in one, c and d in another (default: a process per model)")
	workerMem := flag.String("worker_memory_bytes", "", "address-space cap of each worker process in bytes, or none (default: half the machine's or container's memory, at least 4 GiB, plus 2 GiB and 64 MiB per CPU that TensorFlow reserves unused)")
	loadTimeout := flag.Duration("load_timeout", 2*time.Minute, "deadline to load and warm up one model version")
	spin := flag.Bool("tf_thread_spinning", false, "let TensorFlow's pool threads spin while they wait for work (TensorFlow's default; off leaves the cores to the server)")
	intraOp := flag.Int("tensorflow_intra_op_parallelism", 0, "threads one TensorFlow op may split its work over (0: one per core); 1 makes small requests faster and large ones slower")
	interOp := flag.Int("tensorflow_inter_op_parallelism", 0, "threads TensorFlow runs independent ops on (0: one per core)")
	bf16 := flag.Bool("bfloat16", false, "run the models' matrix ops in bfloat16 (TensorFlow's oneDNN rewrite; needs a CPU with AVX512-BF16 or AMX-BF16): faster, outputs moved by bfloat16's rounding")
	maxBody := flag.Int64("max_body_bytes", 16<<20, "largest request body or gRPC message (413 / RESOURCE_EXHAUSTED past it)")
	maxElements := flag.Int("max_elements", 1<<24, "most elements one request's inputs may hold")
	maxInput := flag.Int64("max_input_bytes", 64<<20, "most memory one request's decoded inputs may take")
	maxResponse := flag.Int64("max_response_bytes", 64<<20, "most bytes of outputs one response may hold (413 past it)")
	maxInFlightBytes := flag.Int64("max_in_flight_bytes", 1<<30, "most memory all requests in flight may hold, counted from their declared shapes (429 past it)")
	inflight := flag.Int("max_in_flight", 64, "predict requests served at once; more get 429")
	timeout := flag.Duration("request_timeout", 30*time.Second, "deadline of each predict; TensorFlow cancels the run past it (504)")
	readTimeout := flag.Duration("read_timeout", 30*time.Second, "deadline to read a whole request, body included")
	writeTimeout := flag.Duration("write_timeout", 30*time.Second, "an answer the client stops reading for this long is dropped and its memory released")
	idleTimeout := flag.Duration("idle_timeout", 60*time.Second, "keep-alive connections idle this long are closed")
	maxConns := flag.Int("max_connections", 0, "open connections per transport (0: from the file-descriptor limit)")
	shutdown := flag.Duration("shutdown_timeout", 0, "deadline to finish requests after SIGTERM (0: request_timeout + 5s); past it exit 1")
	hosts := flag.String("allowed_hosts", "", "comma-separated host names a browser may reach the server by (* for any); IP addresses and localhost always work, and clients that are not browsers are not checked (DNS rebinding protection)")
	origins := flag.String("allowed_origins", "", "comma-separated browser origins allowed to call predict cross-site (* for any)")
	cert := flag.String("ssl_cert_file", "", "PEM certificate: serve REST as HTTPS and gRPC over TLS")
	key := flag.String("ssl_key_file", "", "PEM private key for --ssl_cert_file")
	poll := flag.Duration("poll", 2*time.Second, "how often to look for new versions (negative: never)")
	debug := flag.Bool("debug", false, "log every failed request and the workers' stderr")
	batchRows := flag.Int("batch_rows", 0, "merge concurrent requests into runs of up to this many rows (0 or 1: off)")
	batchWait := flag.Duration("batch_wait", time.Millisecond, "how long a request waits for others to batch with")
	profileDir := flag.String("profile_dir", "", "trace each version's first --profile_runs unbatched predicts after warm-up and write DIR/MODEL/VERSION/trace.json (Perfetto) and ops.txt (op types by kernel time)")
	profileRuns := flag.Int("profile_runs", 20, "predicts to trace per version with --profile_dir (at most 1000)")
	health := flag.Bool("health_check", false, "do not serve: ask the server on 127.0.0.1:--rest_api_port for /healthz and exit 0 if it answers 200, else 1 (a container HEALTHCHECK)")
	flag.Parse()
	if *health {
		if err := healthCheck(*restPort, *cert != ""); err != nil {
			fmt.Fprintln(os.Stderr, "health check:", err)
			os.Exit(1)
		}
		return
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	wmem, err := workerMemory(*workerMem)
	if err != nil {
		log.Error("serve", "err", err)
		os.Exit(2)
	}
	cfg := serving.Config{
		Isolation: serving.Isolation(*isolation), WorkerMemoryBytes: wmem, LoadTimeout: *loadTimeout, ThreadSpinning: *spin, IntraOpThreads: *intraOp, InterOpThreads: *interOp, BFloat16: *bf16, LoadInBackground: true,
		MaxBodyBytes: *maxBody, MaxElements: *maxElements, MaxInputBytes: *maxInput, MaxResponseBytes: *maxResponse, MaxInFlightBytes: *maxInFlightBytes,
		MaxInFlight: *inflight, Timeout: *timeout, Poll: *poll, Logger: log,
		BatchRows: *batchRows, BatchWait: *batchWait, ProfileDir: *profileDir, ProfileRuns: *profileRuns,
		ModelConfigFile: *configFile, ModelConfigPoll: time.Duration(*configPoll) * time.Second, AllowConfigReload: *allowReload, StrictReadiness: *strictReady, ReloadRoot: *reloadRoot,
	}
	// Requests hold at most --max_in_flight_bytes of Go memory together
	// (charged at or above what they keep live), the front end itself
	// about 20 MB. A soft limit of 90% of the budget keeps the heap near
	// what is live (Go's collector would let it grow to twice that, and
	// overshoots a soft limit while it catches up), so the front end's RSS
	// stays within the budget + 10% under attack (go test ./cmd/serve -run
	// HostileWire; 10x in make hostile). GOMEMLIMIT, if set, wins.
	if os.Getenv("GOMEMLIMIT") == "" && *maxInFlightBytes > 0 {
		rtdebug.SetMemoryLimit(*maxInFlightBytes / 10 * 9)
	}
	if *hosts != "" {
		cfg.AllowedHosts = strings.Split(*hosts, ",")
	}
	if *origins != "" {
		cfg.AllowedOrigins = strings.Split(*origins, ",")
	}
	lc := serving.ListenConfig{
		TLSCertFile: *cert, TLSKeyFile: *key, ReadTimeout: *readTimeout, IdleTimeout: *idleTimeout, WriteTimeout: *writeTimeout,
		MaxConnections: *maxConns, ShutdownTimeout: *shutdown,
	}
	if *restPort > 0 {
		lc.RESTAddr = net.JoinHostPort(*restHost, fmt.Sprint(*restPort))
	}
	if *port > 0 {
		lc.GRPCAddr = net.JoinHostPort(*grpcHost, fmt.Sprint(*port))
	}
	if err := run(cfg, lc, *name, *base, *dir, *groups); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}

func run(cfg serving.Config, lc serving.ListenConfig, name, base, dir, groups string) error {
	switch {
	case cfg.ModelConfigFile != "":
		if name != "" || base != "" || dir != "" {
			return errors.New("give --model_config_file, or --model_name and --model_base_path, or --models_dir: only one")
		}
		var err error
		if cfg.Models, _, err = serving.ReadModelConfigFile(cfg.ModelConfigFile); err != nil {
			return err
		}
	case name != "" && base != "":
		cfg.Models = []serving.ModelConfig{{Name: name, BasePath: base}}
	case dir != "":
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			if !serving.ValidModelName(e.Name()) {
				cfg.Logger.Warn("skipping a folder whose name is not a valid model name", "name", fmt.Sprintf("%q", e.Name()))
				continue
			}
			cfg.Models = append(cfg.Models, serving.ModelConfig{Name: e.Name(), BasePath: filepath.Join(dir, e.Name())})
		}
	default:
		return errors.New("give --model_name and --model_base_path, --models_dir, or --model_config_file")
	}
	if err := assignGroups(cfg.Models, groups); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv, err := serving.New(cfg)
	if err != nil {
		return err
	}
	return srv.Serve(ctx, lc)
}

// workerMemory parses --worker_memory_bytes: "" for the default, none, or
// a number of bytes.
func workerMemory(s string) (uint64, error) {
	switch s {
	case "":
		return 0, nil
	case "none":
		return serving.NoWorkerMemoryCap, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n < 1<<30 {
		return 0, fmt.Errorf("--worker_memory_bytes %q: want none or a number of bytes of at least 1 GiB (a worker reserves about 2 GiB of address space it does not use)", s)
	}
	return n, nil
}

// healthCheck asks the REST server on this host's loopback for /healthz.
// Over TLS it skips verification: the certificate names the server's public
// name, not 127.0.0.1, and the probe sends nothing secret.
func healthCheck(port int, useTLS bool) error {
	if port <= 0 {
		return errors.New("REST is off (--rest_api_port=0); nothing to ask")
	}
	scheme := "http"
	client := &http.Client{Timeout: 5 * time.Second}
	if useTLS {
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	resp, err := client.Get(fmt.Sprintf("%s://127.0.0.1:%d/healthz", scheme, port))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz answered %s", resp.Status)
	}
	return nil
}

// assignGroups parses --worker_groups ("a,b;c,d") into the models' groups.
func assignGroups(models []serving.ModelConfig, spec string) error {
	if spec == "" {
		return nil
	}
	index := map[string]int{}
	for i, m := range models {
		index[m.Name] = i
	}
	for g, group := range strings.Split(spec, ";") {
		for _, name := range strings.Split(group, ",") {
			name = strings.TrimSpace(name)
			i, ok := index[name]
			if !ok {
				return fmt.Errorf("--worker_groups names %q, which is not a served model", name)
			}
			if models[i].Group != "" {
				return fmt.Errorf("--worker_groups puts %q in two groups", name)
			}
			models[i].Group = fmt.Sprintf("group:%d", g+1) // ":" is in no model name
		}
	}
	return nil
}
