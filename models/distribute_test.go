package models

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/data/mnist"
	"github.com/tfgo-project/gotf/internal/clustertest"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/cluster"
	"github.com/tfgo-project/gotf/tfwrap/profile"
)

// mnistDigits returns the first n training digits and the first m test
// digits as (784)-feature datasets; make setup leaves them in .cache.
func mnistDigits(t *testing.T, n, m int) (train, test *Dataset) {
	t.Helper()
	tr, te, err := mnist.Load(filepath.Join("..", mnist.DefaultDir))
	if err != nil {
		t.Fatal(err)
	}
	ds := func(s *mnist.Set, k int) *Dataset {
		if k == 0 {
			return nil
		}
		k = min(k, s.Len())
		d, err := ClassDataset(s.Images[:k*mnist.Size], s.Labels[:k], 784)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return ds(tr, n), ds(te, m)
}

func compiledMLP(t *testing.T, opt optimizers.Optimizer, dist *Distribute) *Sequential {
	t.Helper()
	m, err := mnistMLP()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: opt,
		Metrics: []metrics.Metric{metrics.SparseCategoricalAccuracy{}}, Seed: 3, Distribute: dist}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func weightValues(t *testing.T, m *Sequential) [][]float32 {
	t.Helper()
	ws, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]float32, len(ws))
	for i, w := range ws {
		if out[i], err = w.Float32s(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestMirroredMatchesOneProcess: two workers, each computing the gradients
// of half of every batch, end with the weights one process reaches on the
// whole batches, in the same order (the last batch of 2 samples gives each
// worker 1).
//
// With class weights, each replica's weighted mean over its shard, weighed
// by the shard's size, is the weighted mean over the batch. With a ps task
// the weights live there and the result is the same.
func TestMirroredMatchesOneProcess(t *testing.T) {
	train, _ := mnistDigits(t, 250, 0)
	c := clustertest.Loopback(t, 2, 1)
	clustertest.StartAll(t, c, nil)
	workers := cluster.Spec{"worker": c["worker"]}
	for _, tc := range []struct {
		name string
		c    cluster.Spec
		opts FitOptions
	}{
		{"plain", workers, FitOptions{Epochs: 2, BatchSize: 31, Seed: 5, Progress: ProgressSilent}},
		{"class weights", workers, FitOptions{Epochs: 2, BatchSize: 31, Seed: 6, Progress: ProgressSilent, ClassWeight: map[int]float64{0: 3, 1: 0.25, 7: 2}}},
		{"weights on a ps", c, FitOptions{Epochs: 2, BatchSize: 31, Seed: 7, Progress: ProgressSilent}},
	} {
		t.Run(tc.name, func(t *testing.T) { mirroredMatches(t, tc.c, train, tc.opts) })
	}
}

func mirroredMatches(t *testing.T, c cluster.Spec, train *Dataset, opts FitOptions) {

	one := compiledMLP(t, optimizers.Momentum(0.05, 0.9, false), nil)
	two := compiledMLP(t, optimizers.Momentum(0.05, 0.9, false), &Distribute{Cluster: c, Strategy: Mirrored, StepTimeout: 30 * time.Second})
	before := weightValues(t, two)
	for i, w := range weightValues(t, one) {
		for j := range w {
			if w[j] != before[i][j] {
				t.Fatalf("the two models start from different weights (%d, %d)", i, j)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h1, err := one.Fit(ctx, train, opts)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := two.Fit(ctx, train, opts)
	if err != nil {
		t.Fatal(err)
	}
	var maxDiff, moved float64
	after := weightValues(t, two)
	for i, w := range weightValues(t, one) {
		for j := range w {
			maxDiff = math.Max(maxDiff, math.Abs(float64(w[j]-after[i][j])))
			moved = math.Max(moved, math.Abs(float64(after[i][j]-before[i][j])))
		}
	}
	t.Logf("max |one process − two workers| = %.3g; weights moved up to %.3g", maxDiff, moved)
	if maxDiff > 1e-5 {
		t.Fatalf("weights differ by %g, want ≤ 1e-5", maxDiff)
	}
	if moved < 1e-2 {
		t.Fatalf("training moved the weights by only %g", moved)
	}
	// Predict goes through worker 0's session: the same answers.
	p1, err := one.Predict(train.X(), PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := two.Predict(train.X(), PredictOptions{})
	if err != nil {
		t.Fatalf("distributed predict: %v", err)
	}
	v1, _ := p1.Float32s()
	v2, _ := p2.Float32s()
	for i := range v1 {
		if math.Abs(float64(v1[i]-v2[i])) > 1e-5 {
			t.Fatalf("prediction %d: one process %v, two workers %v", i, v1[i], v2[i])
		}
	}
	for e := range h1.Epochs {
		for _, k := range []string{"loss", "accuracy"} {
			a, b := h1.Metrics[k][e], h2.Metrics[k][e]
			if math.Abs(a-b) > 1e-5 {
				t.Errorf("epoch %d %s: one process %v, two workers %v", e+1, k, a, b)
			}
		}
	}
}

func TestDistributeErrors(t *testing.T) {
	free := clustertest.FreePorts(t, 2)
	for _, tc := range []struct {
		name string
		d    *Distribute
		is   error
		want string
	}{
		{"no worker job", &Distribute{Cluster: cluster.Spec{"ps": {free[0]}}}, nil, `no "worker" job`},
		{"other job", &Distribute{Cluster: cluster.Spec{"worker": {free[0]}, "chief": {free[1]}}}, nil, `job "chief"`},
		{"ps strategy without ps", &Distribute{Cluster: cluster.Spec{"worker": {free[0]}}, Strategy: ParameterServer}, nil, "ParameterServer needs"},
		{"bad address", &Distribute{Cluster: cluster.Spec{"worker": {"127.0.0.1"}}}, cluster.ErrInvalid, "missing port"},
		{"duplicate address", &Distribute{Cluster: cluster.Spec{"worker": {free[0], free[0]}}}, cluster.ErrInvalid, "share the address"},
		{"unreachable", &Distribute{Cluster: cluster.Spec{"worker": {free[0], free[1]}}, StepTimeout: 2 * time.Second}, cluster.ErrUnreachable, "/job:worker/task:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := mnistMLP()
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = m.Compile(CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.SGD(0.1), Distribute: tc.d})
			if err == nil {
				m.Close()
				t.Fatal("Compile succeeded")
			}
			if (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile: %v, want %v naming %q", err, tc.is, tc.want)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Fatalf("Compile failed after %v", d)
			}
		})
	}
}

// TestMirroredPlacement: replica 1's forward and backward ops (MatMul and
// its gradients) run on worker 1, its batch is gathered on worker 0 and
// the weights live on worker 0 when there is no ps.
func TestMirroredPlacement(t *testing.T) {
	train, _ := mnistDigits(t, 64, 0)
	c := clustertest.Loopback(t, 2, 0)
	clustertest.StartAll(t, c, nil)
	m := compiledMLP(t, optimizers.SGD(0.1), &Distribute{Cluster: c, StepTimeout: 30 * time.Second})
	if _, err := m.Fit(context.Background(), train, FitOptions{Epochs: 1, BatchSize: 32, Progress: ProgressSilent}); err != nil {
		t.Fatal(err)
	}
	uploadInOrder(t, m, train)
	r := m.c.dist
	count := placement(t, r.sessions[1], tfwrap.Feeds{r.start[1]: tfwrap.Scalar(int32(0)), r.size[1]: tfwrap.Scalar(int32(8))}, r.steps[1])
	t.Logf("MatMul: %v, _FusedMatMul: %v, GatherV2: %v, VarHandleOp: %v", count["MatMul"], count["_FusedMatMul"], count["GatherV2"], count["VarHandleOp"])
	// Forward: 2 matmuls (Grappler fuses them with their bias and
	// activation); backward: 2 for the kernels' gradients and 1 for the
	// hidden layer's input gradient; all on worker 1.
	const w1 = "/job:worker/replica:0/task:1"
	n := count["MatMul"][w1] + count["_FusedMatMul"][w1]
	if n < 5 || len(count["MatMul"]) != 1 || len(count["_FusedMatMul"]) > 1 {
		t.Errorf("matmuls by task: %v and fused %v, want all (≥ 5) on task 1", count["MatMul"], count["_FusedMatMul"])
	}
	if n := count["GatherV2"]["/job:worker/replica:0/task:0"]; n == 0 {
		t.Errorf("GatherV2 by task: %v, want the batch gathered on task 0", count["GatherV2"])
	}
}

// TestParameterServerMNIST: one ps and two workers updating the weights
// asynchronously reach the test accuracy of one process training on the
// same 8,000 digits within half a point.
func TestParameterServerMNIST(t *testing.T) {
	train, test := mnistDigits(t, 8000, 2000)
	c := clustertest.Loopback(t, 2, 1)
	clustertest.StartAll(t, c, nil)
	opts := FitOptions{Epochs: 5, BatchSize: 32, Seed: 1, Progress: ProgressSilent}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	acc := func(d *Distribute) float64 {
		m := compiledMLP(t, optimizers.Adam(1e-3), d)
		start := time.Now()
		if _, err := m.Fit(ctx, train, opts); err != nil {
			t.Fatal(err)
		}
		fit := time.Since(start)
		res, err := m.Evaluate(test, EvaluateOptions{BatchSize: 256})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("distribute %v: test accuracy %.4f, fit %v", d != nil, res["accuracy"], fit.Round(time.Millisecond))
		return res["accuracy"]
	}
	one := acc(nil)
	ps := acc(&Distribute{Cluster: c, Strategy: ParameterServer, StepTimeout: 30 * time.Second})
	if one < 0.9 {
		t.Fatalf("one process reached only %.4f", one)
	}
	if math.Abs(one-ps) > 0.005 {
		t.Fatalf("1 ps + 2 workers: %.4f, one process: %.4f; want within 0.005", ps, one)
	}
}

// TestWorkerKilledThenResume: SIGKILL of worker 1 in the middle of a run
// gives the chief an error naming /job:worker/task:1 within the step
// timeout; with the worker restarted, a new chief restores the last
// checkpoint and finishes, with the weights of an uninterrupted run.
func TestWorkerKilledThenResume(t *testing.T) {
	train, _ := mnistDigits(t, 600, 0)
	c := clustertest.Loopback(t, 2, 0)
	tasks := clustertest.StartAll(t, c, nil)
	const timeout = 10 * time.Second
	dist := &Distribute{Cluster: c, Strategy: Mirrored, StepTimeout: timeout}
	opts := FitOptions{Epochs: 4, BatchSize: 50, Seed: 2, Progress: ProgressSilent}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	mgr := &CheckpointManager{Dir: t.TempDir()}
	m := compiledMLP(t, optimizers.Adam(1e-3), dist)
	var killed time.Time
	saves := CallbackFuncs{
		EpochEnd: func(_ TrainingView, e int, _ Logs) error {
			_, err := mgr.Save(m, e+1)
			return err
		},
		BatchEnd: func(_ TrainingView, b int, _ Logs) error {
			if killed.IsZero() && b == 4 && len(mustLatest(t, mgr)) > 0 && mustEpochs(t, mgr) == 2 {
				tasks["/job:worker/task:1"].Kill() // in epoch 3
				killed = time.Now()
			}
			return nil
		},
	}
	opts.Callbacks = []Callback{saves}
	_, err := m.Fit(ctx, train, opts)
	if err == nil {
		t.Fatal("Fit survived the death of worker 1")
	}
	took := time.Since(killed)
	var te *cluster.TaskError
	if !errors.As(err, &te) || te.Task != "/job:worker/task:1" {
		t.Fatalf("Fit: %v, want a TaskError naming /job:worker/task:1", err)
	}
	if killed.IsZero() || took > timeout+5*time.Second {
		t.Fatalf("the error came %v after the kill, want within the %v step timeout", took, timeout)
	}
	t.Logf("%v after the kill: %.300s", took.Round(time.Millisecond), err)
	m.Close()

	clustertest.Start(t, c, "worker", 1)
	resumed := compiledMLP(t, optimizers.Adam(1e-3), dist)
	done, err := mgr.Restore(resumed)
	if err != nil {
		t.Fatal(err)
	}
	if done != 2 {
		t.Fatalf("the last checkpoint has %d epochs, want 2", done)
	}
	opts.Callbacks, opts.InitialEpoch = nil, done
	if _, err := resumed.Fit(ctx, train, opts); err != nil {
		t.Fatal(err)
	}
	opts.InitialEpoch = 0
	ref := compiledMLP(t, optimizers.Adam(1e-3), nil)
	if _, err := ref.Fit(ctx, train, opts); err != nil {
		t.Fatal(err)
	}
	var maxDiff float64
	got := weightValues(t, resumed)
	for i, w := range weightValues(t, ref) {
		for j := range w {
			maxDiff = math.Max(maxDiff, math.Abs(float64(w[j]-got[i][j])))
		}
	}
	t.Logf("max |uninterrupted one process − resumed two workers| = %.3g", maxDiff)
	if maxDiff > 1e-5 {
		t.Fatalf("the resumed run's weights differ by %g from an uninterrupted one's", maxDiff)
	}
}

func mustLatest(t *testing.T, mgr *CheckpointManager) string {
	p, err := mgr.Latest()
	if err != nil {
		t.Error(err)
	}
	return p
}

// mustEpochs is the number of the latest checkpoint (ckpt-N).
func mustEpochs(t *testing.T, mgr *CheckpointManager) int {
	var n int
	fmt.Sscanf(filepath.Base(mustLatest(t, mgr)), "ckpt-%d", &n)
	return n
}

// uploadInOrder puts d into m's data variables, in order, as Fit does
// before its first step.
func uploadInOrder(t *testing.T, m *Sequential, d *Dataset) {
	t.Helper()
	xs, ys, err := m.c.checkData("training data", d)
	if err != nil {
		t.Fatal(err)
	}
	s := m.c.sess
	for i, x := range xs {
		if err := s.SetValue(m.c.dataX[i], x); err != nil {
			t.Fatal(err)
		}
	}
	for i, y := range ys {
		if err := s.SetValue(m.c.dataY[i], y); err != nil {
			t.Fatal(err)
		}
	}
	n := d.Len()
	perm, _ := tfwrap.NewTensor(epochOrder(n, false, 0, 0))
	w, _ := tfwrap.NewTensor(make([]float32, n), int64(n))
	if err := s.SetValue(m.c.perm, perm); err != nil {
		t.Fatal(err)
	}
	if err := s.SetValue(m.c.dataW, w); err != nil {
		t.Fatal(err)
	}
}

// placement runs targets once and counts the nodes of each op type on
// each task (/job:J/replica:0/task:I) in the partition graphs TF ran.
func placement(t *testing.T, s *tfwrap.Session, feeds tfwrap.Feeds, targets ...*tfwrap.Op) map[string]map[string]int {
	t.Helper()
	md := &tfwrap.RunMetadata{}
	if _, err := s.RunWith(tfwrap.RunOptions{PartitionGraphs: true, Metadata: md}, feeds, nil, targets...); err != nil {
		t.Fatal(err)
	}
	count := map[string]map[string]int{}
	for _, pg := range md.PartitionGraphs {
		for _, n := range pg.Node {
			op := profile.Canonical(n.Op) // the same on oneDNN's kernels
			if count[op] == nil {
				count[op] = map[string]int{}
			}
			dev := n.Device
			if i := strings.Index(dev, "/device:"); i > 0 {
				dev = dev[:i]
			}
			count[op][dev]++
		}
	}
	return count
}

// TestParameterServerPlacement: with a ps task, the weights and the
// optimizer's update live on the ps, worker 1's replica computes on worker
// 1, and the update of one worker's batch runs through that worker's
// session.
func TestParameterServerPlacement(t *testing.T) {
	train, _ := mnistDigits(t, 64, 0)
	c := clustertest.Loopback(t, 2, 1)
	clustertest.StartAll(t, c, nil)
	m := compiledMLP(t, optimizers.Adam(1e-3), &Distribute{Cluster: c, Strategy: ParameterServer, StepTimeout: 30 * time.Second})
	uploadInOrder(t, m, train)
	r := m.c.dist
	step := placement(t, r.sessions[1], tfwrap.Feeds{r.start[1]: tfwrap.Scalar(int32(0)), r.size[1]: tfwrap.Scalar(int32(32))}, r.steps[1])
	samples, _ := tfwrap.NewTensor([]float32{0, 32}, 2)
	update := placement(t, r.sessions[1], tfwrap.Feeds{r.samples: samples}, r.apply)
	const ps, w1 = "/job:ps/replica:0/task:0", "/job:worker/replica:0/task:1"
	t.Logf("replica step: MatMul %v, _FusedMatMul %v, ReadVariableOp %v; update: ResourceApplyAdam %v",
		step["MatMul"], step["_FusedMatMul"], step["ReadVariableOp"], update["ResourceApplyAdam"])
	if step["MatMul"][w1]+step["_FusedMatMul"][w1] < 5 || len(step["MatMul"]) != 1 {
		t.Errorf("matmuls by task: %v, fused %v; want all on worker 1", step["MatMul"], step["_FusedMatMul"])
	}
	if update["ResourceApplyAdam"][ps] != 4 || len(update["ResourceApplyAdam"]) != 1 {
		t.Errorf("ResourceApplyAdam by task: %v, want the 4 weights' updates on the ps", update["ResourceApplyAdam"])
	}
	if step["ReadVariableOp"][ps] < 4 {
		t.Errorf("ReadVariableOp by task: %v, want the 4 weights read on the ps", step["ReadVariableOp"])
	}
}

// TestTwoModelsShareACluster: two distributed models compiled on one
// cluster keep their own weights (each in a container of its own), and
// closing one leaves the other working.
func TestTwoModelsShareACluster(t *testing.T) {
	train, test := mnistDigits(t, 64, 64)
	c := clustertest.Loopback(t, 2, 1)
	clustertest.StartAll(t, c, nil)
	dist := &Distribute{Cluster: c, Strategy: ParameterServer, StepTimeout: 30 * time.Second}
	a := compiledMLP(t, optimizers.SGD(0.1), dist)
	b := compiledMLP(t, optimizers.SGD(0.1), dist)
	before := weightValues(t, b)
	if _, err := a.Fit(context.Background(), train, FitOptions{Epochs: 2, Progress: ProgressSilent}); err != nil {
		t.Fatal(err)
	}
	wa, wb := weightValues(t, a), weightValues(t, b)
	var moved float64 // a starts where b does (same seed)
	for i, w := range wa {
		for j := range w {
			moved = math.Max(moved, math.Abs(float64(w[j]-before[i][j])))
		}
	}
	if moved < 1e-3 {
		t.Fatalf("model a's weights moved by %g only", moved)
	}
	for i, w := range wb {
		for j := range w {
			if w[j] != before[i][j] {
				t.Fatalf("training model a changed model b's weight %d[%d]", i, j)
			}
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := a.GetWeights(); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetWeights after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Evaluate(test, EvaluateOptions{}); err != nil {
		t.Fatalf("model b after model a closed: %v", err)
	}
}

// TestParameterServerWorkerKilled: with asynchronous workers, SIGKILL of
// worker 1 mid-epoch gives an error naming it, not a hang; a new chief
// restores the last checkpoint and finishes on the restarted worker.
func TestParameterServerWorkerKilled(t *testing.T) {
	train, test := mnistDigits(t, 1000, 500)
	c := clustertest.Loopback(t, 2, 1)
	tasks := clustertest.StartAll(t, c, nil)
	const timeout = 10 * time.Second
	dist := &Distribute{Cluster: c, Strategy: ParameterServer, StepTimeout: timeout}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mgr := &CheckpointManager{Dir: t.TempDir()}
	m := compiledMLP(t, optimizers.Adam(1e-3), dist)
	var killed time.Time
	opts := FitOptions{Epochs: 3, BatchSize: 50, Seed: 2, Progress: ProgressSilent, Callbacks: []Callback{CallbackFuncs{
		EpochEnd: func(_ TrainingView, e int, _ Logs) error { _, err := mgr.Save(m, e+1); return err },
		BatchEnd: func(_ TrainingView, b int, _ Logs) error {
			if killed.IsZero() && b == 6 && mustEpochs(t, mgr) == 1 {
				tasks["/job:worker/task:1"].Kill()
				killed = time.Now()
			}
			return nil
		},
	}}}
	_, err := m.Fit(ctx, train, opts)
	var te *cluster.TaskError
	if err == nil || !errors.As(err, &te) || te.Task != "/job:worker/task:1" {
		t.Fatalf("Fit: %v, want a TaskError naming /job:worker/task:1", err)
	}
	if took := time.Since(killed); killed.IsZero() || took > timeout+5*time.Second {
		t.Fatalf("the error came %v after the kill", took)
	}
	t.Logf("%v after the kill: %.200s", time.Since(killed).Round(time.Millisecond), err)
	m.Close()
	clustertest.Start(t, c, "worker", 1)
	resumed := compiledMLP(t, optimizers.Adam(1e-3), dist)
	done, err := mgr.Restore(resumed)
	if err != nil || done != 1 {
		t.Fatalf("restore: %d epochs, %v; want 1", done, err)
	}
	opts.Callbacks, opts.InitialEpoch = nil, done
	hist, err := resumed.Fit(ctx, train, opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := resumed.Evaluate(test, EvaluateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resumed epochs %v, test accuracy %.4f", hist.Epochs, res["accuracy"])
	if len(hist.Epochs) != 2 || res["accuracy"] < 0.8 {
		t.Fatalf("resumed run: epochs %v, accuracy %.4f", hist.Epochs, res["accuracy"])
	}
}

// mnistMLP is course.MLP (which imports this package): 784 → 128 ReLU →
// 10 softmax.
func mnistMLP() (*Sequential, error) {
	return NewSequential([]int64{784},
		layers.Dense(128, layers.WithActivation(layers.ReLU)),
		layers.Dense(10, layers.WithActivation(layers.Softmax)))
}
