// Command stress calls Predict from many goroutines in one process on a
// model Python TensorFlow made, checks every output against Python's and
// samples the process's memory (see internal/stress).
//
//	go run ./cmd/stress --calls 10000000 --force_gc       # correctness
//	go run ./cmd/stress --duration 5m --max_growth 0.15   # flat memory
//
// It exits 1 on a wrong value, or when RSS grew past --max_growth after
// the warm-up.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/tfgo-project/gotf/internal/cpuinfo"
	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/internal/stress"
)

func main() {
	var cfg stress.Config
	flag.IntVar(&cfg.Goroutines, "goroutines", 64, "goroutines calling Predict")
	flag.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to call, unless --calls stops it first")
	flag.Int64Var(&cfg.Calls, "calls", 0, "stop after this many calls (0: --duration alone)")
	flag.BoolVar(&cfg.ForceGC, "force_gc", false, "GOGC=1 and a goroutine calling runtime.GC without pause")
	flag.DurationVar(&cfg.Warmup, "warmup", 10*time.Second, "RSS after this long is the baseline")
	flag.DurationVar(&cfg.Sample, "sample", 10*time.Second, "how often to print calls and RSS")
	maxGrowth := flag.Float64("max_growth", -1, "fail when RSS grows past this fraction of the baseline (0.15: +15%); < 0: do not check")
	dir := flag.String("dir", "", "where the model and Python's outputs are kept (default .cache/stress)")
	flag.Parse()
	if *dir == "" {
		root, err := pyref.Root()
		if err != nil {
			fail(err)
		}
		*dir = filepath.Join(root, ".cache", "stress")
	}
	f, err := stress.Prepare(*dir)
	if err != nil {
		fail(err)
	}
	fmt.Println(cpuinfo.Line())
	bound := fmt.Sprint(cfg.Duration)
	if cfg.Calls > 0 {
		cfg.Duration, bound = 24*time.Hour, fmt.Sprintf("%d calls", cfg.Calls)
	}
	fmt.Printf("stress: %d goroutines calling Predict, force_gc=%v, for %s\n", cfg.Goroutines, cfg.ForceGC, bound)
	cfg.Log = os.Stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := stress.Run(ctx, f, cfg)
	if err != nil {
		fail(err)
	}
	fmt.Println("stress:", r.Summary())
	if err := r.Check(*maxGrowth); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "stress:", err)
	os.Exit(1)
}
