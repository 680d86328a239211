// Package clustertest runs the tasks of a loopback TensorFlow cluster for
// tests and benchmarks: each task is the calling binary itself, re-run as
// a server (Serve) in a process of its own on a free 127.0.0.1 port. A
// test package using it calls MaybeServe from its TestMain; cmd/bench
// uses Serve, FreeAddrs and Launch directly.
package clustertest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/cluster"
)

const envServe = "GOTF_CLUSTERTEST_SERVE" // cluster|job|task

// MaybeServe, called first thing in TestMain, runs a server instead of the
// tests (and exits) when the process was started by Start.
func MaybeServe() {
	if v := os.Getenv(envServe); v != "" {
		os.Exit(Serve(v))
	}
}

// Serve runs one task, spec "cluster|job|task", prints "READY target"
// once it serves, and returns the exit code after SIGTERM or an
// interrupt.
func Serve(spec string) int {
	parts := strings.Split(spec, "|")
	if len(parts) != 3 {
		fmt.Fprintf(os.Stderr, "clustertest: task spec %q: want cluster|job|task\n", spec)
		return 2
	}
	c, err := cluster.Parse(parts[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "clustertest:", err)
		return 2
	}
	task, _ := strconv.Atoi(parts[2])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	srv, err := tfwrap.NewServer(c, parts[1], task)
	if err != nil {
		fmt.Fprintln(os.Stderr, "clustertest:", err)
		return 1
	}
	fmt.Printf("READY %s\n", srv.Target())
	<-sig
	return 0
}

// FreePorts returns n distinct free loopback addresses.
func FreePorts(t testing.TB, n int) []string {
	t.Helper()
	out, err := FreeAddrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FreeAddrs returns n distinct free loopback addresses.
func FreeAddrs(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// Loopback returns a cluster of workers and ps tasks on free ports.
func Loopback(t testing.TB, workers, ps int) cluster.Spec {
	t.Helper()
	addrs := FreePorts(t, workers+ps)
	c := cluster.Spec{"worker": addrs[:workers]}
	if ps > 0 {
		c["ps"] = addrs[workers:]
	}
	return c
}

// Task is a running task process.
type Task struct {
	Cmd  *exec.Cmd
	Name string
}

// Kill ends the task with SIGKILL and waits for it; safe to call twice.
func (p *Task) Kill() {
	if p.Cmd.ProcessState == nil {
		p.Cmd.Process.Kill()
		p.Cmd.Wait()
	}
}

// Start runs task task of job as a process of its own and waits (up to
// 30 s) until it serves. t.Cleanup kills it.
func Start(t testing.TB, c cluster.Spec, job string, task int) *Task {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envServe+"="+c.String()+"|"+job+"|"+strconv.Itoa(task))
	cmd.Stderr = os.Stderr
	p := &Task{Cmd: cmd, Name: cluster.TaskName(job, task)}
	if err := Launch(cmd, p.Name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// StartAll starts every task of c but those of skip (job → indexes).
func StartAll(t testing.TB, c cluster.Spec, skip map[string][]int) map[string]*Task {
	t.Helper()
	out := map[string]*Task{}
	for _, j := range c.Jobs() {
	next:
		for i := range c[j] {
			for _, s := range skip[j] {
				if s == i {
					continue next
				}
			}
			p := Start(t, c, j, i)
			out[p.Name] = p
		}
	}
	return out
}

// Launch starts cmd, a task that runs Serve, and waits up to 30 s for it
// to serve; its later output is drained. On failure the process is
// killed.
func Launch(cmd *exec.Cmd, name string) error {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "READY") {
				ready <- nil
				for sc.Scan() {
				}
				return
			}
		}
		ready <- fmt.Errorf("task %s ended before serving", name)
	}()
	select {
	case err = <-ready:
	case <-time.After(30 * time.Second):
		err = fmt.Errorf("task %s did not start within 30 s", name)
	}
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
	return err
}
