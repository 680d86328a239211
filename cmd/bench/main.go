// Command bench compares this project's training and inference speed with
// Keras's on the same machine, the same TensorFlow build, the same
// architectures, batch sizes and data, in one run (make bench). Go runs
// first, then Python, never both at once. One line per case:
//
//	BENCH case=fit_mlp_b32 unit=samples/s go=41000 keras=9000 ratio=4.56
//
// For training, ratio = go/keras samples per second; for latency, ratio =
// keras/go microseconds per call. Higher is better for Go either way.
//
// After its timed run, each Go case traces a few steps (models'
// ProfileOptions) and its line ends with kernel_share and overhead_us:
// kernel_share is the busy time of a traced step (the union of its
// kernels' intervals, so ops running at once on both cores count once)
// over the wall time of an untraced one, how close the step is to
// TensorFlow's own kernel time (1.0: at the floor); overhead_us is that
// wall minus that busy time, per step: what is not kernels (Go, the C
// API, TF's executor, idle cores between ops).
//
// images_jpeg_96 times an input pipeline (images.go): decoding, resizing
// and batching 3,000 JPEGs, against Keras's image_dataset_from_directory.
//
// The dist cases (--cases dist_mlp_b128, run alone) time Mirrored Fit over
// 1 and 2 worker processes on loopback beside one process:
//
//	BENCH case=dist_mlp_b128 unit=samples/s local=… workers1=… workers2=… overhead_us_workers1=… overhead_us_workers2=…
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tfgo-project/gotf/data/mnist"
	"github.com/tfgo-project/gotf/internal/clustertest"
	"github.com/tfgo-project/gotf/internal/cpuinfo"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/course"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/profile"
)

// The thread pools both sides use (0: TensorFlow's default).
var intraOp, interOp int

var fitCases = []string{"fit_mlp_b32", "fit_mlp_b128", "fit_cnn_b64", "fit_resnet_b64", "fit_lstm_b64", "fit_cnn_b64_bf16"}
var latencyCases = []string{"predict_cnn_b1", "predict_cnn_b64", "predict_mlp_b1", "predict_cnn_b64_bf16"}

// bf16 says whether a case runs in mixed_bfloat16 (a _bf16 suffix: Go's
// CompileOptions.Precision, Keras's global policy).
func bf16(c string) bool { return strings.HasSuffix(c, "_bf16") }

// distCases train across loopback clusters (dist.go): run only when
// --cases names them.
var distCases = []string{"dist_mlp_b128"}

func main() {
	epochs := flag.Int("epochs", 3, "timed epochs per training case (after one warm-up epoch)")
	repeats := flag.Int("repeats", 300, "timed calls per latency case")
	data := flag.String("data", mnist.DefaultDir, "MNIST folder")
	python := flag.String("python", ".venv/bin/python", "Python with TensorFlow ('': Go only, no ratios)")
	cases := flag.String("cases", "", "comma-separated cases to run, e.g. fit_resnet_b64,fit_lstm_b64 (default: all but the dist cases, which run only when named, alone: dist_mlp_b128)")
	flag.IntVar(&intraOp, "intra_op", 0, "TensorFlow's intra-op threads, on both sides (0: TensorFlow's default)")
	flag.IntVar(&interOp, "inter_op", 0, "TensorFlow's inter-op threads, on both sides (0: TensorFlow's default; -1: run ops in the caller's thread)")
	serve := flag.String("serve-task", "", "internal: serve one task of a loopback cluster (cluster|job|task) for a dist case")
	flag.Parse()
	if *serve != "" {
		os.Exit(clustertest.Serve(*serve))
	}
	if err := tfwrap.CheckThreads(intraOp, interOp); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if dist := distOnly(*cases); len(dist) > 0 {
		if err := runDist(dist, *epochs, *data); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	images := *cases == "" || strings.Contains(","+*cases+",", ","+imageCase+",")
	if *cases != "" {
		var err error
		if fitCases, latencyCases, err = only(*cases); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
	}
	if len(fitCases)+len(latencyCases) > 0 {
		if err := run(*epochs, *repeats, *data, *python); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if images {
		if err := runImages(*python); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

// only keeps the cases listed in list (comma-separated).
func only(list string) (fit, latency []string, err error) {
	known := map[string]bool{}
	for _, c := range append(append([]string{}, fitCases...), latencyCases...) {
		known[c] = true
	}
	for _, c := range strings.Split(list, ",") {
		c = strings.TrimSpace(c)
		switch {
		case c == imageCase:
		case !known[c]:
			return nil, nil, fmt.Errorf("unknown case %q (want some of %s, %s)", c, strings.Join(fitCases, ", "), strings.Join(latencyCases, ", "))
		case strings.HasPrefix(c, "fit"):
			fit = append(fit, c)
		default:
			latency = append(latency, c)
		}
	}
	return fit, latency, nil
}

func build(name string, precision string) (*models.Model, []int64, error) {
	var m *models.Model
	var err error
	shape := []int64{784}
	switch name {
	case "cnn":
		m, err = course.CNN()
		shape = []int64{28, 28, 1}
	case "resnet":
		m, err = course.ResNet()
		shape = []int64{28, 28, 1}
	case "lstm":
		m, err = course.RowLSTM()
		shape = []int64{28, 28}
	default:
		m, err = course.MLP()
	}
	if err != nil {
		return nil, nil, err
	}
	err = m.Compile(models.CompileOptions{
		Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.Adam(1e-3),
		Metrics: []metrics.Metric{metrics.SparseCategoricalAccuracy{}}, Seed: 1,
		IntraOpThreads: intraOp, InterOpThreads: interOp, Precision: precision,
	})
	return m, shape, err
}

func parse(c string) (kind, model string, batch int) {
	p := strings.Split(c, "_")
	fmt.Sscanf(p[2], "b%d", &batch)
	return p[0], p[1], batch
}

func run(epochs, repeats int, data, python string) error {
	train, _, err := mnist.Load(data)
	if err != nil {
		return err
	}
	info, err := tfwrap.Check(tfwrap.WithThreads(intraOp, interOp)) // the pools every case then gets
	if err != nil {
		return err
	}
	fmt.Printf("# %s\n", cpuinfo.Line())
	fmt.Printf("# libtensorflow %s, %d training digits, %d timed epochs, %d timed calls\n", info.Version, train.Len(), epochs, repeats)
	threads := func(n int) string {
		if n == 0 {
			return "default"
		}
		return fmt.Sprint(n)
	}
	fmt.Printf("# TF threads: intra-op %s, inter-op %s (default: sized from the %d cores), Keras the same\n", threads(intraOp), threads(interOp), runtime.NumCPU())
	goRes := map[string]float64{}
	shares := map[string]profile.Table{}
	profDir, err := os.MkdirTemp("", "bench-profile")
	if err != nil {
		return err
	}
	defer os.RemoveAll(profDir)
	// bfloat16 cases run only where bfloat16 can pay off; elsewhere their
	// lines say why, on both sides.
	noBF16 := cpuinfo.BFloat16()
	skip := func(c string) bool { return bf16(c) && noBF16 != nil }
	for _, c := range append(append([]string{}, fitCases...), latencyCases...) {
		if skip(c) {
			continue
		}
		_, name, batch := parse(c)
		precision := ""
		if bf16(c) {
			precision = models.MixedBFloat16
		}
		m, shape, err := build(name, precision)
		if err != nil {
			return err
		}
		x, err := tfwrap.NewTensor(train.Images, append([]int64{int64(train.Len())}, shape...)...)
		if err != nil {
			return err
		}
		if strings.HasPrefix(c, "fit") {
			y, _ := tfwrap.NewTensor(train.Labels)
			d, err := models.NewDataset(x, y)
			if err != nil {
				return err
			}
			opts := models.FitOptions{Epochs: 1, BatchSize: batch, Seed: 1, Progress: models.ProgressSilent, Output: io.Discard}
			if _, err := m.Fit(context.Background(), d, opts); err != nil { // warm-up
				return err
			}
			opts.Epochs = epochs
			start := time.Now()
			if _, err := m.Fit(context.Background(), d, opts); err != nil {
				return err
			}
			goRes[c] = float64(train.Len()*epochs) / time.Since(start).Seconds()
			// The profile: a few steps, on as many samples as they need.
			const steps = profileSteps
			xs, err := x.SliceRows(0, min(train.Len(), (2*steps+4)*batch))
			if err != nil {
				return err
			}
			ys, _ := y.SliceRows(0, int(xs.Shape()[0]))
			ds, err := models.NewDataset(xs, ys)
			if err != nil {
				return err
			}
			var tab profile.Table
			opts.Epochs = 1
			opts.Profile = models.ProfileOptions{Steps: steps, Dir: filepath.Join(profDir, c), Table: &tab}
			if _, err := m.Fit(context.Background(), ds, opts); err != nil {
				return err
			}
			shares[c] = tab
		} else {
			xb, err := x.SliceRows(0, batch)
			if err != nil {
				return err
			}
			call := func() error { _, err := m.Predict(xb, models.PredictOptions{BatchSize: batch}); return err }
			for i := 0; i < 10; i++ {
				if err := call(); err != nil {
					return err
				}
			}
			start := time.Now()
			for i := 0; i < repeats; i++ {
				if err := call(); err != nil {
					return err
				}
			}
			goRes[c] = float64(time.Since(start).Microseconds()) / float64(repeats)
			// Each profiled call runs two batches: one traced, then one
			// untraced and timed.
			x2, err := x.SliceRows(0, 2*batch)
			if err != nil {
				return err
			}
			var tab profile.Table
			po := models.PredictOptions{BatchSize: batch, Profile: models.ProfileOptions{Steps: 1, Warmup: -1, Dir: filepath.Join(profDir, c), Table: &tab}}
			for i := 0; i < 20; i++ {
				if _, err := m.Predict(x2, po); err != nil {
					return err
				}
				acc := shares[c]
				merge(&acc, tab)
				shares[c] = acc
			}
		}
		m.Close()
	}

	unsupported := func(c string) bool {
		if skip(c) {
			fmt.Printf("BENCH case=%s unsupported=%q (Go refuses mixed_bfloat16 here rather than run float32 under its name or emulate bfloat16; Keras would run it, slowly)\n", c, noBF16.Error())
		}
		return skip(c)
	}
	if python == "" {
		for _, c := range fitCases {
			if !unsupported(c) {
				fmt.Printf("BENCH case=%s unit=samples/s go=%.0f %s\n", c, goRes[c], floor(shares[c]))
			}
		}
		for _, c := range latencyCases {
			if !unsupported(c) {
				fmt.Printf("BENCH case=%s unit=us/call go=%.0f %s\n", c, goRes[c], floor(shares[c]))
			}
		}
		bf16Ratios(goRes, nil)
		return nil
	}
	var pyCases []string
	for _, c := range fitCases {
		if !skip(c) {
			pyCases = append(pyCases, c)
		}
	}
	for _, c := range latencyCases {
		if !skip(c) {
			pyCases = append(pyCases, c, strings.Replace(c, "predict", "tffunction", 1))
		}
	}
	abs, _ := filepath.Abs(data)
	body, _ := json.Marshal(map[string]any{"data": abs, "epochs": epochs, "repeats": repeats, "cases": pyCases, "profile_steps": profileSteps,
		"intra_op": intraOp, "inter_op": interOp})
	cmd := exec.Command(python, "scripts/bench_keras.py")
	cmd.Stdin = bytes.NewReader(body)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("keras side: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(out, &raw); err != nil {
		return fmt.Errorf("keras side: %w: %s", err, out)
	}
	py := map[string]float64{}
	var pyProf map[string]kerasProfile
	for k, v := range raw {
		var err error
		if k == "profile" {
			err = json.Unmarshal(v, &pyProf)
		} else {
			var f float64
			err = json.Unmarshal(v, &f)
			py[k] = f
		}
		if err != nil {
			return fmt.Errorf("keras side: %s: %w", k, err)
		}
	}
	for _, c := range fitCases {
		if !unsupported(c) {
			fmt.Printf("BENCH case=%s unit=samples/s go=%.0f keras=%.0f ratio=%.2f %s\n", c, goRes[c], py[c], goRes[c]/py[c], floor(shares[c]))
		}
	}
	for _, c := range fitCases {
		if p, ok := pyProf[c]; ok {
			_, _, batch := parse(c)
			attribute(c, batch, goRes[c], py[c], shares[c], p)
		}
	}
	for _, c := range latencyCases {
		if unsupported(c) {
			continue
		}
		tfc := strings.Replace(c, "predict", "tffunction", 1)
		fmt.Printf("BENCH case=%s unit=us/call go=%.0f keras=%.0f ratio=%.2f %s\n", c, goRes[c], py[c], py[c]/goRes[c], floor(shares[c]))
		fmt.Printf("BENCH case=%s unit=us/call go=%.0f keras=%.0f ratio=%.2f\n", strings.Replace(c, "predict", "predict_vs_tf_function", 1), goRes[c], py[tfc], py[tfc]/goRes[c])
	}
	bf16Ratios(goRes, py)
	return nil
}

// bf16Ratios prints issue 26's bfloat16 goals from one run: Go's mixed
// CNN training over its float32 (>= 1.5) and over Keras's mixed_bfloat16
// (>= 1.1), and Go's batch-64 predict in bfloat16 over float32 (>= 1.5).
// Cases that did not run print nothing.
func bf16Ratios(goRes, py map[string]float64) {
	goal := func(name string, v, limit float64) {
		verdict := "met"
		if v < limit {
			verdict = "MISSED"
		}
		fmt.Printf("BENCH ratio %s=%.2f goal >= %.2f %s\n", name, v, limit, verdict)
	}
	if v, ok := goRes["fit_cnn_b64_bf16"]; ok && goRes["fit_cnn_b64"] > 0 {
		goal("fit_cnn_b64_bf16_over_go_float32", v/goRes["fit_cnn_b64"], 1.5)
		if k := py["fit_cnn_b64_bf16"]; k > 0 {
			goal("fit_cnn_b64_bf16_over_keras_mixed_bfloat16", v/k, 1.1)
		}
	}
	if v, ok := goRes["predict_cnn_b64_bf16"]; ok && v > 0 && goRes["predict_cnn_b64"] > 0 {
		goal("predict_cnn_b64_bf16_speedup_over_go_float32", goRes["predict_cnn_b64"]/v, 1.5)
	}
}

// floor prints a case's distance from TensorFlow's kernel time.
func floor(t profile.Table) string {
	if t.Steps == 0 || t.UntracedSteps == 0 {
		return "kernel_share=? overhead_us=?"
	}
	busy := float64(t.Busy.Microseconds()) / float64(t.Steps)
	wall := float64(t.Untraced.Microseconds()) / float64(t.UntracedSteps)
	return fmt.Sprintf("kernel_share=%.2f overhead_us=%.0f", busy/wall, wall-busy)
}

// merge adds one profile table's sums to another's.
func merge(acc *profile.Table, t profile.Table) {
	acc.Steps += t.Steps
	acc.Busy += t.Busy
	acc.Kernel += t.Kernel
	acc.Wall += t.Wall
	acc.Untraced += t.Untraced
	acc.UntracedSteps += t.UntracedSteps
}
