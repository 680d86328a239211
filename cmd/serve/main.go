// Command serve serves SavedModels over TF Serving's REST API.
//
//	serve --model_name=mnist --model_base_path=/models/mnist   # one model
//	serve --models_dir=/models                                 # every BASE/NAME/VERSION
//
// Endpoints: GET /v1/models/NAME[/versions/N][/metadata],
// POST /v1/models/NAME[/versions/N]:predict, /healthz, /readyz, /metrics.
// SIGTERM or SIGINT stops accepting, finishes the requests in flight and
// exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tfgo-project/gotf/serving"
)

func main() {
	port := flag.Int("port", 8501, "REST port (TF Serving's --rest_api_port)")
	grpcPort := flag.Int("grpc_port", 8500, "gRPC PredictionService port (TF Serving's --port); 0 turns it off")
	host := flag.String("host", "0.0.0.0", "address to listen on")
	name := flag.String("model_name", "", "serve one model under this name...")
	base := flag.String("model_base_path", "", "...from this folder of numbered versions")
	dir := flag.String("models_dir", "", "or serve every subfolder NAME of this folder as a model")
	maxBody := flag.Int64("max_body_bytes", 16<<20, "largest request body")
	inflight := flag.Int("max_in_flight", 64, "predict requests served at once; more get 429")
	timeout := flag.Duration("request_timeout", 30*time.Second, "deadline of each predict request (504 past it)")
	poll := flag.Duration("poll", 2*time.Second, "how often to look for new versions (negative: never)")
	debug := flag.Bool("debug", false, "log every failed request")
	batchRows := flag.Int("batch_rows", 0, "merge concurrent requests into runs of up to this many rows (0 or 1: off)")
	batchWait := flag.Duration("batch_wait", time.Millisecond, "how long a request waits for others to batch with")
	flag.Parse()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(log, *host, *port, *grpcPort, *name, *base, *dir, serving.Config{
		MaxBodyBytes: *maxBody, MaxInFlight: *inflight, Timeout: *timeout, Poll: *poll, Logger: log,
		BatchRows: *batchRows, BatchWait: *batchWait,
	}); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, host string, port, grpcPort int, name, base, dir string, cfg serving.Config) error {
	switch {
	case name != "" && base != "":
		cfg.Models = []serving.ModelConfig{{Name: name, BasePath: base}}
	case dir != "":
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.IsDir() {
				cfg.Models = append(cfg.Models, serving.ModelConfig{Name: e.Name(), BasePath: filepath.Join(dir, e.Name())})
			}
		}
	default:
		return errors.New("give --model_name and --model_base_path, or --models_dir")
	}
	srv, err := serving.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", host, port))
	if err != nil {
		srv.Close()
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("serving REST", "addr", ln.Addr().String(), "models", len(cfg.Models))
	var gs interface{ GracefulStop() }
	if grpcPort > 0 {
		gln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", host, grpcPort))
		if err != nil {
			hs.Close()
			srv.Close()
			return err
		}
		g := srv.NewGRPCServer()
		gs = g
		go func() { errc <- g.Serve(gln) }()
		log.Info("serving gRPC", "addr", gln.Addr().String())
	}
	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout+5*time.Second)
	defer cancel()
	err = hs.Shutdown(sctx)
	if gs != nil {
		gs.GracefulStop()
	}
	srv.Close()
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
