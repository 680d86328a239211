package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/internal/clustertest"
)

// TestTrainAcrossProcesses runs the commands as a user would: a ps task
// (tfserver, from --cluster), worker 1 (train, from TF_CONFIG) and the
// chief (train --cluster … --task 0), all on loopback; the chief prints
// its RESULT line and saves the training state, and SIGTERM ends the two
// serving tasks cleanly.
func TestTrainAcrossProcesses(t *testing.T) {
	train, server := buildBoth(t)
	addrs := clustertest.FreePorts(t, 3)
	spec := fmt.Sprintf("worker=%s,%s;ps=%s", addrs[0], addrs[1], addrs[2])
	tfConfig := fmt.Sprintf(`{"cluster": {"worker": [%q, %q], "ps": [%q]}, "task": {"type": "worker", "index": 1}}`, addrs[0], addrs[1], addrs[2])
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	serve := func(want string, cmd *exec.Cmd) *exec.Cmd {
		t.Helper()
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), want) {
				go io.Copy(io.Discard, out)
				return cmd
			}
		}
		t.Fatalf("%s did not print %q", cmd.Path, want)
		return nil
	}
	ps := serve("TFSERVER task=/job:ps/task:0", exec.CommandContext(ctx, server, "--bind_all_interfaces", "--cluster", spec, "--job", "ps", "--task", "0"))
	w1cmd := exec.CommandContext(ctx, train, "--bind_all_interfaces")
	w1cmd.Env = append(os.Environ(), "TF_CONFIG="+tfConfig)
	w1 := serve("serving /job:worker/task:1", w1cmd)

	out := filepath.Join(t.TempDir(), "out")
	chief := exec.CommandContext(ctx, train, "--bind_all_interfaces", "--cluster", spec, "--job", "worker", "--task", "0", "--strategy", "ps",
		"--model", "perceptron", "--epochs", "2", "--quiet", "--step-timeout", "30s",
		"--data", filepath.Join("..", "..", ".cache", "mnist"), "--out", out)
	res, err := chief.CombinedOutput()
	if err != nil {
		t.Fatalf("chief: %v\n%s", err, res)
	}
	if !strings.Contains(string(res), "RESULT model=perceptron test_accuracy=0.") || !strings.Contains(string(res), "epochs=2") {
		t.Fatalf("chief printed no RESULT line of 2 epochs:\n%s", res)
	}
	if _, err := os.Stat(filepath.Join(out, "perceptron", "train_state", "ckpt-2.index")); err != nil {
		t.Fatalf("no training state after epoch 2: %v", err)
	}
	for _, c := range []*exec.Cmd{ps, w1} {
		c.Process.Signal(syscall.SIGTERM)
		if err := c.Wait(); err != nil {
			t.Errorf("%s after SIGTERM: %v", c.Path, err)
		}
	}
}

// Without --bind_all_interfaces neither command starts a TensorFlow
// server: TensorFlow binds every interface whatever the spec says.
func TestClusterNeedsExposureAck(t *testing.T) {
	train, server := buildBoth(t)
	spec := "worker=127.0.0.1:1,127.0.0.1:2"
	for _, args := range [][]string{
		{server, "--cluster", spec, "--job", "worker", "--task", "1"},
		{train, "--cluster", spec, "--job", "worker", "--task", "1"},
	} {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "listens on every network interface") || !strings.Contains(string(out), "--bind_all_interfaces") {
			t.Errorf("%s: %v\n%s", filepath.Base(args[0]), err, out)
		}
	}
}

// buildBoth builds train and tfserver into a temporary folder.
func buildBoth(t *testing.T) (train, server string) {
	t.Helper()
	dir := t.TempDir()
	train, server = filepath.Join(dir, "train"), filepath.Join(dir, "tfserver")
	for bin, pkg := range map[string]string{train: ".", server: "../tfserver"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return train, server
}
