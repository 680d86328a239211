// Command train trains one of the course's models (perceptron, mlp, cnn,
// resnet: a small residual CNN, lstm: an LSTM reading the rows) on MNIST
// from Go, with a Keras-like progress display, and writes learning
// curves (PNG), TensorBoard logs and the best weights to --out. Its last
// line is machine-readable:
//
//	RESULT model=cnn test_accuracy=0.9876 epochs=20 seconds=31.2
//
// With --cluster (or the TF_CONFIG environment variable) it trains across
// the tasks of a TensorFlow cluster (models.Distribute): worker 0 is the
// chief, which serves its task, trains, and saves the training state after
// every epoch to OUT/MODEL/train_state (--resume continues from it); every
// other task only serves until SIGTERM, as cmd/tfserver does:
//
//	train --bind_all_interfaces --cluster 'worker=127.0.0.1:2222,127.0.0.1:2223' --job worker --task 1 &
//	train --bind_all_interfaces --cluster 'worker=127.0.0.1:2222,127.0.0.1:2223' --job worker --task 0 --model mlp
//
// --bind_all_interfaces is required with a cluster: TensorFlow's server
// listens on every interface and runs any graph a client sends.
//
// --strategy mirrored (synchronous, the default) or ps (asynchronous through
// the cluster's one ps task).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tfgo-project/gotf/data/mnist"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/callbacks"
	"github.com/tfgo-project/gotf/models/course"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/models/plot"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/cluster"
)

type config struct {
	model, optimizer, out, data string
	export                      string
	epochs, batch, patience     int
	profile                     int
	lr, valSplit, clipNorm      float64
	schedule                    string
	seed                        uint64
	quiet                       bool
	// Distributed training.
	cluster, job, strategy string
	exposed                bool // --bind_all_interfaces
	task                   int
	stepTimeout            time.Duration
	resume                 bool
	precision              string
}

// defaults per model: epochs, batch size, and the per mille of the 8,000
// training digits held out for validation. The MLP trains on all 8,000 by
// default: with 800 held out it tests at about 94.9% instead of 95.5%.
var defaults = map[string][3]int{"perceptron": {10, 32, 0}, "mlp": {20, 32, 0}, "cnn": {25, 64, 100},
	"resnet": {12, 64, 100}, "lstm": {20, 64, 100}}

// recipe is a model's default learning rate, schedule and gradient
// clipping: the residual CNN and the LSTM train with the rate decaying to
// 0 along a cosine over the run, the LSTM at a higher rate with its
// gradients clipped to a norm of 1. scripts/keras_reference.py uses the
// same.
type recipe struct {
	lr       float64
	schedule string
	clipNorm float64
}

var recipes = map[string]recipe{"resnet": {1e-3, "cosine", 0}, "lstm": {2e-3, "cosine", 1}}

func main() {
	var c config
	flag.StringVar(&c.model, "model", "cnn", "model to train: perceptron, mlp, cnn, resnet or lstm")
	flag.IntVar(&c.epochs, "epochs", -1, "epochs (default: 10 perceptron, 20 mlp, 25 cnn, 12 resnet, 20 lstm)")
	flag.IntVar(&c.batch, "batch-size", -1, "batch size (default: 32, 64 for cnn, resnet and lstm)")
	flag.StringVar(&c.optimizer, "optimizer", "adam", "optimizer: sgd, momentum, nesterov, adam or rmsprop")
	flag.Float64Var(&c.lr, "lr", -1, "learning rate (default: 1e-3, 2e-3 for lstm)")
	flag.StringVar(&c.schedule, "schedule", "", "learning rate schedule: constant, or cosine (decay to 0 over the run) (default: cosine for resnet and lstm, constant otherwise)")
	flag.Float64Var(&c.clipNorm, "clipnorm", -1, "clip each gradient to this L2 norm, 0: off (default: 1 for lstm, 0 otherwise)")
	flag.Uint64Var(&c.seed, "seed", 1, "seed for weights, dropout and shuffling")
	flag.Float64Var(&c.valSplit, "validation-split", -1, "fraction of the 8,000 training digits held out for validation (default: 0.1 for cnn, 0 otherwise)")
	flag.IntVar(&c.patience, "patience", 0, "stop after this many epochs without val_loss improving, keeping the best weights (0: off)")
	flag.StringVar(&c.out, "out", "out", "folder for curves.png, TensorBoard logs and checkpoints")
	flag.StringVar(&c.data, "data", mnist.DefaultDir, "folder with train.bin and test.bin (made by make setup)")
	flag.BoolVar(&c.quiet, "quiet", false, "print only the RESULT line")
	flag.IntVar(&c.profile, "profile", 0, "trace this many training steps (after 2 warm-up steps) and write trace.json (Perfetto, chrome://tracing) and ops.txt (op types by kernel time) to OUT/MODEL/profile (0: off)")
	flag.StringVar(&c.export, "export", "", "also write the trained model as a SavedModel in this (new) folder, e.g. models/mnist/1")
	flag.StringVar(&c.cluster, "cluster", "", "train across a TensorFlow cluster: job=host:port,…;job=…, e.g. worker=127.0.0.1:2222,127.0.0.1:2223;ps=127.0.0.1:2224 (default: TF_CONFIG, if set)")
	flag.StringVar(&c.job, "job", "worker", "with --cluster: this process's job (worker or ps)")
	flag.IntVar(&c.task, "task", 0, "with --cluster: this process's task index (worker 0 trains, the others serve)")
	flag.BoolVar(&c.exposed, "bind_all_interfaces", false, "with --cluster: required, acknowledging that this task's TensorFlow server listens on every interface and runs any graph a client sends")
	flag.StringVar(&c.strategy, "strategy", "mirrored", "with --cluster: mirrored (synchronous) or ps (asynchronous, weights on the ps task)")
	flag.DurationVar(&c.stepTimeout, "step-timeout", time.Minute, "with --cluster: bound on each step on the cluster; a dead task fails the run within it")
	flag.StringVar(&c.precision, "precision", "float32", "float32, or mixed_bfloat16 (Keras's policy: matrix ops in bfloat16 through TensorFlow's oneDNN rewrite; needs a CPU with AVX512-BF16 or AMX-BF16)")
	flag.BoolVar(&c.resume, "resume", false, "continue from the training state in OUT/MODEL/train_state, if any")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: train [flags]\n\nTrains a model on MNIST (8,000 digits, 2,000 held out for the test) with TensorFlow from Go.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

// optimizer makes the named optimizer; with the cosine schedule, the rate
// decays from lr to 0 over steps updates.
func optimizer(name string, lr float64, schedule string, steps int64, clipNorm float64) (optimizers.Optimizer, error) {
	var opts []optimizers.Option
	switch schedule {
	case "constant":
	case "cosine":
		opts = append(opts, optimizers.WithSchedule(optimizers.CosineDecay(lr, steps, 0)))
	default:
		return nil, fmt.Errorf("unknown schedule %q (want constant or cosine)", schedule)
	}
	if clipNorm > 0 {
		opts = append(opts, optimizers.ClipNorm(clipNorm))
	}
	switch name {
	case "sgd":
		return optimizers.SGD(lr, opts...), nil
	case "momentum":
		return optimizers.Momentum(lr, 0.9, false, opts...), nil
	case "nesterov":
		return optimizers.Momentum(lr, 0.9, true, opts...), nil
	case "adam":
		return optimizers.Adam(lr, opts...), nil
	case "rmsprop":
		return optimizers.RMSprop(lr, opts...), nil
	}
	return nil, fmt.Errorf("unknown optimizer %q (want sgd, momentum, nesterov, adam or rmsprop)", name)
}

func build(name string) (*models.Sequential, []int64, error) {
	switch name {
	case "perceptron":
		m, err := course.Classifier(784, 10)
		return m, []int64{784}, err
	case "mlp":
		m, err := course.MLP()
		return m, []int64{784}, err
	case "cnn":
		m, err := course.CNN()
		return m, []int64{28, 28, 1}, err
	case "resnet":
		m, err := course.ResNet()
		return m, []int64{28, 28, 1}, err
	case "lstm": // 28 steps (the rows) of 28 features
		m, err := course.RowLSTM()
		return m, []int64{28, 28}, err
	}
	return nil, nil, fmt.Errorf("unknown model %q (want perceptron, mlp, cnn, resnet or lstm)", name)
}

func run(ctx context.Context, c config) error {
	d, ok := defaults[c.model]
	if !ok {
		_, _, err := build(c.model)
		return err
	}
	if c.epochs == -1 {
		c.epochs = d[0]
	}
	if c.batch == -1 {
		c.batch = d[1]
	}
	if c.valSplit < 0 {
		c.valSplit = float64(d[2]) / 1000
	}
	r, ok := recipes[c.model]
	if !ok {
		r = recipe{1e-3, "constant", 0}
	}
	if c.lr < 0 {
		c.lr = r.lr
	}
	if c.schedule == "" {
		c.schedule = r.schedule
	}
	if c.clipNorm < 0 {
		c.clipNorm = r.clipNorm
	}
	if c.epochs < 1 || c.batch < 1 {
		return fmt.Errorf("--epochs and --batch-size must be positive, got %d and %d", c.epochs, c.batch)
	}
	if c.profile < 0 {
		return fmt.Errorf("--profile must not be negative, got %d", c.profile)
	}
	if c.precision != "float32" && c.precision != "" && (c.cluster != "" || os.Getenv("TF_CONFIG") != "") {
		return fmt.Errorf("--precision %s trains in this process only, not across a cluster", c.precision)
	}
	dist, err := distribution(ctx, c)
	if err != nil || (dist == nil && (c.cluster != "" || os.Getenv("TF_CONFIG") != "")) {
		return err // a serving task ends here
	}
	info, err := tfwrap.Check()
	if err != nil {
		return err
	}
	trainSet, testSet, err := mnist.Load(c.data)
	if err != nil {
		return err
	}
	// Fit trains on the first int(n·(1-split)) digits, in batches.
	nTrain := int(float64(trainSet.Len()) * (1 - c.valSplit))
	steps := int64(c.epochs) * int64((nTrain+c.batch-1)/c.batch)
	opt, err := optimizer(c.optimizer, c.lr, c.schedule, steps, c.clipNorm)
	if err != nil {
		return err
	}
	m, shape, err := build(c.model)
	if err != nil {
		return err
	}
	train, err := dataset(trainSet, shape...)
	if err != nil {
		return err
	}
	test, err := dataset(testSet, shape...)
	if err != nil {
		return err
	}
	out := filepath.Join(c.out, c.model)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	logf := func(format string, args ...any) {
		if !c.quiet {
			fmt.Printf(format, args...)
		}
	}
	logf("libtensorflow %s on %s\n", info.Version, info.Devices[0].Name)
	logf("%s", m.Summary())
	if err := m.Compile(models.CompileOptions{
		Loss:       losses.SparseCategoricalCrossentropy{},
		Optimizer:  opt,
		Metrics:    []metrics.Metric{metrics.SparseCategoricalAccuracy{}},
		Seed:       c.seed,
		Distribute: dist,
		Precision:  c.precision,
	}); err != nil {
		return err
	}
	defer m.Close()
	initial := 0
	state := &models.CheckpointManager{Dir: filepath.Join(out, "train_state"), MaxToKeep: 2}
	if c.resume {
		initial, err = state.Restore(m)
		if errors.Is(err, models.ErrNoCheckpoint) {
			initial, err = 0, nil
		}
		if err != nil {
			return err
		}
		if initial >= c.epochs {
			return fmt.Errorf("--resume: the training state has %d epochs done, --epochs is %d", initial, c.epochs)
		}
		logf("resuming after epoch %d from %s\n", initial, state.Dir)
	}

	// With validation, keep the weights of the best epoch; without, the last.
	ckpt := &callbacks.ModelCheckpoint{Path: filepath.Join(out, "checkpoints", "best"), SaveBestOnly: true}
	if c.valSplit == 0 {
		ckpt = &callbacks.ModelCheckpoint{Path: filepath.Join(out, "checkpoints", "last")}
	}
	tb := &callbacks.TensorBoard{LogDir: filepath.Join(out, "logs")}
	cbs := []models.Callback{ckpt, tb}
	if dist != nil || c.resume {
		cbs = append(cbs, models.CallbackFuncs{EpochEnd: func(_ models.TrainingView, e int, _ models.Logs) error {
			_, err := state.Save(m, e+1)
			return err
		}})
	}
	if c.patience > 0 && c.valSplit > 0 {
		cbs = append(cbs, &callbacks.EarlyStopping{Patience: c.patience, RestoreBestWeights: true})
	}
	progress := models.ProgressAuto
	if c.quiet {
		progress = models.ProgressSilent
	}
	logf("training on %d digits (%.0f%% held out for validation), testing on %d\n", train.Len(), 100*c.valSplit, test.Len())
	var prof models.ProfileOptions
	if c.profile > 0 {
		prof = models.ProfileOptions{Steps: c.profile, Dir: filepath.Join(out, "profile")}
	}
	start := time.Now()
	hist, err := m.Fit(ctx, train, models.FitOptions{
		Epochs: c.epochs, BatchSize: c.batch, Seed: c.seed, ValidationSplit: c.valSplit,
		Callbacks: cbs, Progress: progress, Profile: prof, InitialEpoch: initial,
	})
	secs := time.Since(start).Seconds()
	if errors.Is(err, context.Canceled) {
		logf("\ninterrupted after %d epochs\n", len(hist.Epochs))
	} else if err != nil {
		return err
	}
	if len(hist.Epochs) > 0 {
		png := filepath.Join(out, "curves.png")
		if err := plot.LearningCurves(hist, strings.ToUpper(c.model), png); err != nil {
			return err
		}
		logf("learning curves: %s\nTensorBoard: tensorboard --logdir %s\n", png, tb.LogDir)
	}
	if c.profile > 0 {
		if err := printProfile(prof.Dir, 12, logf); err != nil {
			return err
		}
	}
	res, err := m.Evaluate(test, models.EvaluateOptions{BatchSize: 256})
	if err != nil {
		return err
	}
	if c.export != "" {
		if err := m.Export(c.export); err != nil {
			return err
		}
		logf("exported the model as a SavedModel to %s\n", c.export)
	}
	fmt.Printf("RESULT model=%s test_accuracy=%.4f test_loss=%.4f epochs=%d seconds=%.1f\n",
		c.model, res["accuracy"], res["loss"], len(hist.Epochs), secs)
	return nil
}

// printProfile prints the first lines of the op table Fit wrote to dir.
func printProfile(dir string, lines int, logf func(string, ...any)) error {
	raw, err := os.ReadFile(filepath.Join(dir, "ops.txt"))
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	ls := strings.SplitAfter(string(raw), "\n")
	logf("profile (%s, trace.json for Perfetto):\n%s", dir, strings.Join(ls[:min(lines, len(ls))], ""))
	return nil
}

// dataset turns MNIST digits into a models.Dataset of the per-sample
// shape given ({784}, {28, 28, 1} or {28, 28}).
func dataset(s *mnist.Set, perSample ...int64) (*models.Dataset, error) {
	if s == nil || s.Len() == 0 {
		return nil, fmt.Errorf("no MNIST digits")
	}
	return models.ClassDataset(s.Images, s.Labels, perSample...)
}

// distribution reads the cluster flags (or TF_CONFIG) and starts this
// process's task. Worker 0 gets the Distribute to train with; every other
// task serves until ctx ends and gets nil. Without a cluster: nil, nil.
func distribution(ctx context.Context, c config) (*models.Distribute, error) {
	if c.cluster == "" && os.Getenv("TF_CONFIG") == "" {
		return nil, nil
	}
	spec, job, task, err := cluster.FromFlags(c.cluster, c.job, c.task, os.Getenv("TF_CONFIG"))
	if err != nil {
		return nil, err
	}
	if err := cluster.CheckExposure(c.exposed); err != nil {
		return nil, err
	}
	d := &models.Distribute{Cluster: spec, StepTimeout: c.stepTimeout}
	switch c.strategy {
	case "mirrored":
	case "ps":
		d.Strategy = models.ParameterServer
	default:
		return nil, fmt.Errorf("unknown --strategy %q (want mirrored or ps)", c.strategy)
	}
	srv, err := tfwrap.NewServer(spec, job, task, tfwrap.WithRunTimeout(c.stepTimeout))
	if err != nil {
		return nil, err
	}
	if job == "worker" && task == 0 {
		return d, nil
	}
	fmt.Printf("serving %s at %s until SIGTERM\n", srv.Task(), srv.Target())
	<-ctx.Done()
	return nil, nil
}
