package cluster

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
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
			_, err := Parse(tc.spec)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%q) = %v, want ErrInvalid with %q", tc.spec, err, tc.want)
			}
		})
	}
	c, err := Parse(" worker = 127.0.0.1:2222, 127.0.0.1:2223 ; ps=localhost:2224")
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
		if err := c.CheckTask(tc.job, tc.task); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckTask(%q, %d) = %v, want ErrInvalid", tc.job, tc.task, err)
		}
	}
}

func TestParseTFConfig(t *testing.T) {
	tc, err := ParseTFConfig([]byte(`{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"], "ps": ["127.0.0.1:3"]}, "task": {"type": "worker", "index": 1}, "environment": "cloud", "rpc_layer": "grpc"}`))
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
		`{"cluster": {"worker": ["127.0.0.1:1"]}}`,
		`{"cluster": {"worker": "127.0.0.1:1"}, "task": {"type": "worker", "index": 0}}`,
		`not json`,
	} {
		if _, err := ParseTFConfig([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseTFConfig(%s) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestFromFlags(t *testing.T) {
	c, job, task, err := FromFlags("worker=127.0.0.1:1,127.0.0.1:2", "worker", 1, `{"ignored": true}`)
	if err != nil || job != "worker" || task != 1 || len(c["worker"]) != 2 {
		t.Fatalf("FromFlags with a spec: %v %q %d %v", c, job, task, err)
	}
	c, job, task, err = FromFlags("", "", 0, `{"cluster": {"ps": ["127.0.0.1:3"], "worker": ["127.0.0.1:1"]}, "task": {"type": "ps", "index": 0}}`)
	if err != nil || job != "ps" || task != 0 || c["ps"][0] != "127.0.0.1:3" {
		t.Fatalf("FromFlags with TF_CONFIG: %v %q %d %v", c, job, task, err)
	}
	for _, bad := range [][3]string{{"", "", ""}, {"worker=127.0.0.1:1", "ps", ""}, {"worker=127.0.0.1:1", "worker", "x"}} {
		task := 0
		if bad[2] == "x" {
			task = 5
		}
		if _, _, _, err := FromFlags(bad[0], bad[1], task, ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("FromFlags(%q, %q, %d) = %v, want ErrInvalid", bad[0], bad[1], task, err)
		}
	}
}

// TestDiagnose: a task that does not answer is named, with the run's
// error kept; when all answer, the task TensorFlow's message names.
func TestDiagnose(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := down.Addr().String()
	down.Close()
	run := errors.New("From /job:worker/replica:0/task:0: something")
	c := Spec{"worker": {up.Addr().String(), downAddr}}
	d := c.Diagnose(run, time.Second)
	var te *TaskError
	if !errors.As(d, &te) || te.Task != "/job:worker/task:1" || te.Addr != downAddr || !errors.Is(d, ErrUnreachable) || !errors.Is(d, run) {
		t.Fatalf("Diagnose with task 1 down: %v", d)
	}
	c = Spec{"worker": {up.Addr().String()}}
	d = c.Diagnose(run, time.Second)
	if !errors.As(d, &te) || te.Task != "/job:worker/task:0" || !errors.Is(d, run) {
		t.Fatalf("Diagnose with all up: %v", d)
	}
	if c.Diagnose(nil, time.Second) != nil {
		t.Fatal("Diagnose(nil) is not nil")
	}
	if got := c.TasksIn("/job:worker/replica:0/task:7 and /job:ps/replica:0/task:0"); len(got) != 0 {
		t.Fatalf("TasksIn named tasks outside the spec: %v", got)
	}
}
