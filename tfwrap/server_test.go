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
)

func TestMain(m *testing.M) {
	clustertest.MaybeServe()
	os.Exit(m.Run())
}

func TestParseClusterErrors(t *testing.T) {
	for _, tc := range []struct{ name, spec, want string }{
		{"empty", "", "no jobs"},
		{"no equals", "worker", "is not job=host:port"},
		{"empty job", "worker=;ps=127.0.0.1:1", `job "worker" has no tasks`},
		{"bad job name", "9w=127.0.0.1:1", "job name"},
		{"no port", "worker=127.0.0.1", "missing port"},
		{"no host", "worker=:2222", "no valid host"},
		{"port zero", "worker=127.0.0.1:0", "port must be"},
		{"port too big", "worker=127.0.0.1:70000", "port must be"},
		{"port not a number", "worker=127.0.0.1:http", "port must be"},
		{"duplicate address", "worker=127.0.0.1:2222;ps=127.0.0.1:2222", "share the address"},
		{"duplicate in job", "worker=127.0.0.1:2222,127.0.0.1:2222", "share the address"},
		{"job twice", "worker=127.0.0.1:1;worker=127.0.0.1:2", "given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tfwrap.ParseCluster(tc.spec)
			if !errors.Is(err, tfwrap.ErrBadCluster) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseCluster(%q) = %v, want ErrBadCluster with %q", tc.spec, err, tc.want)
			}
		})
	}
	c, err := tfwrap.ParseCluster(" worker = 127.0.0.1:2222, 127.0.0.1:2223 ; ps=localhost:2224")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.String(), "ps=localhost:2224;worker=127.0.0.1:2222,127.0.0.1:2223"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		job  string
		task int
	}{{"worker", 2}, {"worker", -1}, {"chief", 0}} {
		if err := c.CheckTask(tc.job, tc.task); !errors.Is(err, tfwrap.ErrBadCluster) {
			t.Errorf("CheckTask(%q, %d) = %v, want ErrBadCluster", tc.job, tc.task, err)
		}
	}
}

func TestParseTFConfig(t *testing.T) {
	tc, err := tfwrap.ParseTFConfig([]byte(`{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"], "ps": ["127.0.0.1:3"]}, "task": {"type": "worker", "index": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if tc.Task.Type != "worker" || tc.Task.Index != 1 || len(tc.Cluster["worker"]) != 2 {
		t.Fatalf("got %+v", tc)
	}
	for _, bad := range []string{
		`{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 1}}`,
		`{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "ps", "index": 0}}`,
		`{"cluster": {}, "task": {"type": "worker", "index": 0}}`,
		`{"cluster": {"worker": ["x"]}, "task": {"type": "worker", "index": 0}}`,
		`{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}, "extra": 1}`,
		`not json`,
	} {
		if _, err := tfwrap.ParseTFConfig([]byte(bad)); !errors.Is(err, tfwrap.ErrBadCluster) {
			t.Errorf("ParseTFConfig(%s) = %v, want ErrBadCluster", bad, err)
		}
	}
}

func TestNewServerErrors(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	free := clustertest.FreePorts(t, 1)[0]
	for _, tc := range []struct {
		name    string
		cluster tfwrap.Cluster
		job     string
		task    int
		is      error
		want    string
	}{
		{"address in use", tfwrap.Cluster{"worker": {held.Addr().String()}}, "worker", 0, tfwrap.ErrAddressInUse, "/job:worker/task:0"},
		{"task out of range", tfwrap.Cluster{"worker": {free}}, "worker", 1, tfwrap.ErrBadCluster, "outside"},
		{"unknown job", tfwrap.Cluster{"worker": {free}}, "ps", 0, tfwrap.ErrBadCluster, `no job "ps"`},
		{"empty job", tfwrap.Cluster{"worker": {free}, "ps": nil}, "worker", 0, tfwrap.ErrBadCluster, "no tasks"},
		{"bad address", tfwrap.Cluster{"worker": {"127.0.0.1:99999"}}, "worker", 0, tfwrap.ErrBadCluster, "port"},
		{"no cluster", nil, "worker", 0, tfwrap.ErrBadCluster, "no jobs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := tfwrap.NewServer(tc.cluster, tc.job, tc.task)
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
	var te *tfwrap.TaskError
	if !errors.As(d, &te) || te.Task != "/job:worker/task:1" || !errors.Is(d, tfwrap.ErrUnreachable) {
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
	var te *tfwrap.TaskError
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
