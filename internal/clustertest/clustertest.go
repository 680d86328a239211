// Package clustertest runs the tasks of a loopback TensorFlow cluster for
// tests: each task is the test binary itself, re-run as a server in a
// process of its own on a free 127.0.0.1 port, killed when the test ends.
// A test package using it calls MaybeServe from its TestMain.
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
		os.Exit(serve(v))
	}
}

func serve(v string) int {
	parts := strings.Split(v, "|")
	if len(parts) != 3 {
		fmt.Fprintln(os.Stderr, "clustertest: bad", envServe)
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
	var ls []net.Listener
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
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
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Task{Cmd: cmd, Name: cluster.TaskName(job, task)}
	t.Cleanup(p.Kill)
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
		ready <- fmt.Errorf("task %s ended before serving", p.Name)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("task %s did not start within 30 s", p.Name)
	}
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
