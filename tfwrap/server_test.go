package tfwrap_test

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/internal/clustertest"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/cluster"
)

func TestMain(m *testing.M) {
	clustertest.MaybeServe()
	os.Exit(m.Run())
}

func TestNewServerErrors(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	free := clustertest.FreePorts(t, 1)[0]
	for _, tc := range []struct {
		name string
		spec cluster.Spec
		job  string
		task int
		is   error
		want string
	}{
		{"address in use", cluster.Spec{"worker": {held.Addr().String()}}, "worker", 0, tfwrap.ErrAddressInUse, "/job:worker/task:0"},
		{"task out of range", cluster.Spec{"worker": {free}}, "worker", 1, cluster.ErrInvalid, "outside"},
		{"unknown job", cluster.Spec{"worker": {free}}, "ps", 0, cluster.ErrInvalid, `no job "ps"`},
		{"empty job", cluster.Spec{"worker": {free}, "ps": nil}, "worker", 0, cluster.ErrInvalid, "no tasks"},
		{"bad address", cluster.Spec{"worker": {"127.0.0.1:99999"}}, "worker", 0, cluster.ErrInvalid, "port"},
		{"no cluster", nil, "worker", 0, cluster.ErrInvalid, "no jobs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := tfwrap.NewServer(tc.spec, tc.job, tc.task)
			if err == nil {
				srv.Close()
				t.Fatal("NewServer succeeded")
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewServer: %v, want %v naming %q", err, tc.is, tc.want)
			}
		})
	}
}

// TestInProcessServer: a one-task cluster in this process runs a graph
// through its own master; Close cannot stop it (TF 2.21) and says so once.
func TestInProcessServer(t *testing.T) {
	c := clustertest.Loopback(t, 1, 0)
	srv, err := tfwrap.NewServer(c, "worker", 0, tfwrap.WithRunTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.Target(), "grpc://") || srv.Task() != "/job:worker/task:0" {
		t.Fatalf("target %q, task %q", srv.Target(), srv.Task())
	}
	g := tfwrap.NewGraph()
	w := g.OnDevice("/job:worker/task:0")
	y := w.Mul(w.Scalar(3, tfwrap.Float32), w.Scalar(4, tfwrap.Float32))
	s, err := g.NewSessionOn(srv.Target(), tfwrap.WithRunTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Eval(y, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Float32s(); v[0] != 12 {
		t.Fatalf("3·4 = %v", v)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); !errors.Is(err, tfwrap.ErrServerRunning) {
		t.Fatalf("Close of a started server = %v, want ErrServerRunning", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	// A second server on the same task's port is refused, not a crash.
	if _, err := tfwrap.NewServer(c, "worker", 0); !errors.Is(err, tfwrap.ErrAddressInUse) {
		t.Fatalf("second server on the port: %v, want ErrAddressInUse", err)
	}
	for _, bad := range []string{"localhost:1", "grpc://", "grpc://host", "grpc://h:0", "http://h:1"} {
		if _, err := g.NewSessionOn(bad); err == nil {
			t.Errorf("NewSessionOn(%q) succeeded", bad)
		}
	}
}

// TestUnreachableTask: a graph placed on a task that never started fails
// within the run timeout, and Diagnose names the task.
func TestUnreachableTask(t *testing.T) {
	c := clustertest.Loopback(t, 2, 0)
	clustertest.Start(t, c, "worker", 0) // worker 1 never starts
	g := tfwrap.NewGraph()
	w1 := g.OnDevice("/job:worker/task:1")
	y := w1.Mul(w1.Scalar(3, tfwrap.Float32), w1.Scalar(4, tfwrap.Float32))
	target, _ := c.Target("worker", 0)
	s, err := g.NewSessionOn(target, tfwrap.WithRunTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = s.Eval(y, nil)
	took := time.Since(start)
	if err == nil {
		t.Fatal("a run on an unreachable task succeeded")
	}
	if took > 20*time.Second {
		t.Fatalf("the run failed after %v, want within the 3 s timeout (and slack)", took)
	}
	d := c.Diagnose(err, time.Second)
	var te *cluster.TaskError
	if !errors.As(d, &te) || te.Task != "/job:worker/task:1" || !errors.Is(d, cluster.ErrUnreachable) {
		t.Fatalf("Diagnose: %v, want a TaskError for /job:worker/task:1", d)
	}
	t.Logf("after %v: %v", took.Round(time.Millisecond), d)
}

// TestTaskDiesMidRun: a worker killed (SIGKILL) between steps makes the
// next step fail within the timeout, naming the task.
func TestTaskDiesMidRun(t *testing.T) {
	c := clustertest.Loopback(t, 2, 1)
	tasks := clustertest.StartAll(t, c, nil)
	g := tfwrap.NewGraph()
	ps := g.OnDevice("/job:ps/task:0")
	v := ps.Variable("v", tfwrap.Scalar(float32(0)))
	w1 := g.OnDevice("/job:worker/task:1")
	inc := v.AssignAdd(w1, w1.Mul(w1.Scalar(1, tfwrap.Float32), w1.Scalar(1, tfwrap.Float32)))
	target, _ := c.Target("worker", 0)
	s, err := g.NewSessionOn(target, tfwrap.WithRunTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.InitVariables(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Run(nil, nil, inc); err != nil {
			t.Fatal(err)
		}
	}
	tasks["/job:worker/task:1"].Kill()
	start := time.Now()
	_, err = s.Run(nil, nil, inc)
	took := time.Since(start)
	if err == nil {
		t.Fatal("a step on a killed worker succeeded")
	}
	if took > 20*time.Second {
		t.Fatalf("the step failed after %v", took)
	}
	d := c.Diagnose(err, time.Second)
	var te *cluster.TaskError
	if !errors.As(d, &te) || te.Task != "/job:worker/task:1" {
		t.Fatalf("Diagnose: %v, want a TaskError for /job:worker/task:1", d)
	}
	// The variable on the ps survived: 3 increments.
	got, err := s.Value(v)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := got.Float32s(); f[0] != 3 {
		t.Fatalf("v = %v, want 3", f)
	}
	t.Logf("after %v: %v", took.Round(time.Millisecond), d)
}

// TestContainers: variables of one name in two containers on one task are
// two variables (and a third in the default container); destroying one
// frees it and leaves the others.
func TestContainers(t *testing.T) {
	c := clustertest.Loopback(t, 1, 0)
	clustertest.Start(t, c, "worker", 0)
	target, _ := c.Target("worker", 0)
	type model struct {
		s       *tfwrap.Session
		v       *tfwrap.Variable
		destroy *tfwrap.Op
	}
	open := func(container string, v float32) model {
		t.Helper()
		g := tfwrap.NewGraph().OnDevice("/job:worker/task:0")
		if container != "" {
			g = g.WithContainer(container)
		}
		x := g.Variable("v", tfwrap.Scalar(v))
		destroy := x.Destroy(g)
		s, err := g.NewSessionOn(target, tfwrap.WithRunTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.InitVariables(); err != nil {
			t.Fatal(err)
		}
		return model{s, x, destroy}
	}
	value := func(m model) (float32, error) {
		got, err := m.s.Value(m.v)
		if err != nil {
			return 0, err
		}
		f, err := got.Float32s()
		return f[0], err
	}
	a, b, d := open("model_a", 1), open("model_b", 2), open("", 3)
	for i, m := range []model{a, b, d} {
		if got, err := value(m); err != nil || got != float32(i+1) {
			t.Fatalf("model %d before the destroy: %v, %v", i, got, err)
		}
	}
	if _, err := a.s.Run(nil, nil, a.destroy); err != nil {
		t.Fatal(err)
	}
	if got, err := value(a); err == nil {
		t.Fatalf("model_a's variable survived Destroy: %v", got)
	}
	if got, err := value(b); err != nil || got != 2 {
		t.Fatalf("model_b's variable after model_a's destroy: %v, %v", got, err)
	}
	if got, err := value(d); err != nil || got != 3 {
		t.Fatalf("the default container's variable after model_a's destroy: %v, %v", got, err)
	}
	if err := tfwrap.NewGraph().WithContainer("a b").Err(); err == nil {
		t.Fatal("a container name with a space was accepted")
	}
}
