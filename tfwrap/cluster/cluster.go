// Package cluster describes the tasks of a distributed TensorFlow
// cluster: a Spec of jobs and task addresses, parsed from a flag or
// TF_CONFIG and validated in Go before TensorFlow sees it, the names ops
// are placed by (/job:worker/task:1), and the probes that name a dead
// task after a failed run. It needs no libtensorflow; tfwrap.NewServer
// starts a task of a Spec.
package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Spec describes the tasks of a distributed TensorFlow cluster: each
// job's name (such as "worker" or "ps") maps to the host:port addresses of
// its tasks, in task order, as tf.train.ClusterSpec and TF_CONFIG's
// "cluster" do. The zero value is an empty cluster, which Validate refuses.
// A Spec is a plain value: read-only use is safe from several
// goroutines.
type Spec map[string][]string

// ErrInvalid is wrapped by every error about a cluster description:
// no jobs, an empty job, an invalid job name or address, an address used
// twice, a task outside its job.
var ErrInvalid = errors.New("cluster: invalid spec")

// jobName is the job names TensorFlow accepts (DeviceNameUtils).
var jobName = regexp.MustCompile(`^[a-zA-Z][_a-zA-Z0-9]*$`)

// Parse reads a cluster written as jobs separated by ";", each
// "name=addr,addr,…" with the addresses of its tasks in task order:
//
//	worker=127.0.0.1:2222,127.0.0.1:2223;ps=127.0.0.1:2224
//
// Spaces around the parts are ignored. The result is validated.
func Parse(spec string) (Spec, error) {
	c := Spec{}
	for part := range strings.SplitSeq(spec, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, addrs, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return nil, fmt.Errorf("%w: %q is not job=host:port,…", ErrInvalid, part)
		}
		if _, dup := c[name]; dup {
			return nil, fmt.Errorf("%w: job %q is given twice", ErrInvalid, name)
		}
		var tasks []string
		for a := range strings.SplitSeq(addrs, ",") {
			if a = strings.TrimSpace(a); a != "" {
				tasks = append(tasks, a)
			}
		}
		c[name] = tasks
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// TFConfig is what the TF_CONFIG environment variable holds, as
// TensorFlow's distribution strategies read it:
//
//	{"cluster": {"worker": ["host:port", …], "ps": […]},
//	 "task": {"type": "worker", "index": 0}}
type TFConfig struct {
	Cluster Spec `json:"cluster"`
	Task    struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	} `json:"task"`
}

// ParseTFConfig decodes and validates a TF_CONFIG value: the cluster, and
// this process's task in it.
func ParseTFConfig(raw []byte) (TFConfig, error) {
	var tc TFConfig
	if len(raw) > 1<<20 {
		return tc, fmt.Errorf("%w: TF_CONFIG is %d bytes, more than 1 MiB", ErrInvalid, len(raw))
	}
	// Fields TensorFlow knows and this does not need ("environment",
	// "rpc_layer") are ignored, as other readers of TF_CONFIG do.
	if err := json.Unmarshal(raw, &tc); err != nil {
		return tc, fmt.Errorf("%w: TF_CONFIG: %v", ErrInvalid, err)
	}
	if err := tc.Cluster.Validate(); err != nil {
		return tc, err
	}
	if err := tc.Cluster.CheckTask(tc.Task.Type, tc.Task.Index); err != nil {
		return tc, err
	}
	return tc, nil
}

// Validate checks the cluster in Go, before TensorFlow sees it: at least
// one job; valid job names; no empty job; every address host:port with a
// non-empty host and a port in 1…65535; no address used by two tasks.
func (c Spec) Validate() error {
	if len(c) == 0 {
		return fmt.Errorf("%w: no jobs", ErrInvalid)
	}
	seen := map[string]string{}
	for _, job := range c.Jobs() {
		if !jobName.MatchString(job) {
			return fmt.Errorf("%w: job name %q (want a letter, then letters, digits or _)", ErrInvalid, job)
		}
		if len(c[job]) == 0 {
			return fmt.Errorf("%w: job %q has no tasks", ErrInvalid, job)
		}
		for i, addr := range c[job] {
			task := TaskName(job, i)
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return fmt.Errorf("%w: task %s: address %q: %v", ErrInvalid, task, addr, err)
			}
			if host == "" || strings.ContainsAny(host, " /") {
				return fmt.Errorf("%w: task %s: address %q has no valid host", ErrInvalid, task, addr)
			}
			p, err := strconv.Atoi(port)
			if err != nil || p < 1 || p > 65535 {
				return fmt.Errorf("%w: task %s: address %q: port must be a number in 1…65535", ErrInvalid, task, addr)
			}
			key := strings.ToLower(host) + ":" + strconv.Itoa(p)
			if other, dup := seen[key]; dup {
				return fmt.Errorf("%w: tasks %s and %s share the address %s", ErrInvalid, other, task, addr)
			}
			seen[key] = task
		}
	}
	return nil
}

// CheckTask reports whether job has a task index in c.
func (c Spec) CheckTask(job string, task int) error {
	tasks, ok := c[job]
	if !ok {
		return fmt.Errorf("%w: no job %q (jobs: %s)", ErrInvalid, job, strings.Join(c.Jobs(), ", "))
	}
	if task < 0 || task >= len(tasks) {
		return fmt.Errorf("%w: task index %d is outside job %q's %d tasks", ErrInvalid, task, job, len(tasks))
	}
	return nil
}

// Jobs returns the job names, sorted.
func (c Spec) Jobs() []string {
	out := make([]string, 0, len(c))
	for j := range c {
		out = append(out, j)
	}
	sort.Strings(out)
	return out
}

// String writes c in Parse's syntax, jobs sorted.
func (c Spec) String() string {
	parts := make([]string, 0, len(c))
	for _, j := range c.Jobs() {
		parts = append(parts, j+"="+strings.Join(c[j], ","))
	}
	return strings.Join(parts, ";")
}

// Target returns the session target of a task, "grpc://host:port": a
// session with this target runs its graphs through that task's master.
func (c Spec) Target(job string, task int) (string, error) {
	if err := c.CheckTask(job, task); err != nil {
		return "", err
	}
	return "grpc://" + c[job][task], nil
}

// TaskName is the short device prefix of a task, "/job:worker/task:1", as
// ops are placed on it (tfwrap's OnDevice) and as errors name it.
func TaskName(job string, task int) string {
	return fmt.Sprintf("/job:%s/task:%d", job, task)
}

// TaskError is an error about one task of a cluster: unreachable, its
// address in use, or dead in the middle of a run.
type TaskError struct {
	Task string // e.g. /job:worker/task:1
	Addr string // host:port
	Err  error
}

// Error names the task and its address, then the cause.
func (e *TaskError) Error() string {
	return fmt.Sprintf("task %s (%s): %v", e.Task, e.Addr, e.Err)
}

// Unwrap returns the cause, for errors.Is (ErrUnreachable, …).
func (e *TaskError) Unwrap() error { return e.Err }

// ErrUnreachable is wrapped by the TaskError of a task that does not
// accept connections within the probe's timeout.
var ErrUnreachable = errors.New("unreachable")

// Probe connects to every task (TCP, each within timeout, all at once) and
// returns the TaskErrors of those that do not answer, in job and task
// order, joined; nil when all answer. It tells which task is down after a
// distributed run fails, or before a session waits on a dead one.
func (c Spec) Probe(timeout time.Duration) error {
	type probe struct {
		task, addr string
		err        error
	}
	var ps []*probe
	for _, j := range c.Jobs() {
		for i, a := range c[j] {
			ps = append(ps, &probe{task: TaskName(j, i), addr: a})
		}
	}
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() {
			conn, err := net.DialTimeout("tcp", p.addr, timeout)
			if err != nil {
				p.err = err
				return
			}
			conn.Close()
		})
	}
	wg.Wait()
	var errs []error
	for _, p := range ps {
		if p.err != nil {
			errs = append(errs, &TaskError{Task: p.task, Addr: p.addr, Err: fmt.Errorf("%w: %v", ErrUnreachable, p.err)})
		}
	}
	return errors.Join(errs...)
}

var taskRE = regexp.MustCompile(`/job:([a-zA-Z][_a-zA-Z0-9]*)/replica:\d+/task:(\d+)`)

// TasksIn returns the tasks of c a TensorFlow error message names, in the
// order it names them, each once, as TaskName writes them.
func (c Spec) TasksIn(msg string) []string {
	var out []string
	for _, m := range taskRE.FindAllStringSubmatch(msg, -1) {
		i, err := strconv.Atoi(m[2])
		if err != nil || c.CheckTask(m[1], i) != nil {
			continue
		}
		if t := TaskName(m[1], i); !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// FromFlags is how commands choose their task: the cluster spec
// (Parse's syntax) with job and task when spec is given, otherwise
// tfConfig, a TF_CONFIG value, as TensorFlow reads it. Both validated.
func FromFlags(spec, job string, task int, tfConfig string) (Spec, string, int, error) {
	if spec == "" {
		if tfConfig == "" {
			return nil, "", 0, fmt.Errorf("%w: give --cluster, --job and --task, or TF_CONFIG", ErrInvalid)
		}
		tc, err := ParseTFConfig([]byte(tfConfig))
		if err != nil {
			return nil, "", 0, err
		}
		return tc.Cluster, tc.Task.Type, tc.Task.Index, nil
	}
	c, err := Parse(spec)
	if err != nil {
		return nil, "", 0, err
	}
	if err := c.CheckTask(job, task); err != nil {
		return nil, "", 0, err
	}
	return c, job, task, nil
}

// Diagnose names the task behind a failed distributed run: it probes the
// cluster (each task within timeout) and returns err joined after the
// TaskErrors of the tasks that do not answer; when all answer but
// TensorFlow's message names tasks, err wrapped in a TaskError of the
// first. nil stays nil.
func (c Spec) Diagnose(err error, timeout time.Duration) error {
	if err == nil {
		return nil
	}
	if perr := c.Probe(timeout); perr != nil {
		return fmt.Errorf("%w; the run failed with: %w", perr, err)
	}
	if ts := c.TasksIn(err.Error()); len(ts) > 0 {
		var job string
		var i int
		fmt.Sscanf(strings.ReplaceAll(strings.TrimPrefix(ts[0], "/job:"), "/task:", " "), "%s %d", &job, &i)
		return &TaskError{Task: ts[0], Addr: c[job][i], Err: err}
	}
	return err
}
