package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/serving"
)

// TestGracefulShutdown runs the real binary: it serves, and on SIGTERM it
// finishes the request in flight and exits 0.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "serve")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	m, err := models.NewSequential([]int64{4}, layers.Dense(64, layers.WithActivation(layers.ReLU)), layers.Dense(3, layers.WithActivation(layers.Softmax)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(models.CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.SGD(0.1)}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Export(filepath.Join(dir, "models", "clf", "1")); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--rest_api_host=127.0.0.1", fmt.Sprintf("--rest_api_port=%d", port), "--port=0", "--models_dir="+filepath.Join(dir, "models"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The image's HEALTHCHECK: 0 while it serves, 1 once it is gone (below).
	if out, err := exec.Command(bin, "--health_check", fmt.Sprintf("--rest_api_port=%d", port)).CombinedOutput(); err != nil {
		t.Fatalf("--health_check on a serving server: %v\n%s", err, out)
	}
	big := `{"instances": [` + strings.Repeat("[1,2,3,4],", 200000) + `[1,2,3,4]]}`
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(base+"/v1/models/clf:predict", "application/json", strings.NewReader(big))
		if err != nil {
			done <- result{0, err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, nil}
	}()
	time.Sleep(50 * time.Millisecond) // let the request reach the server
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.code != 200 {
		t.Fatalf("the request in flight got %d, %v", r.code, r.err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still accepting after shutdown")
	}
	if err := exec.Command(bin, "--health_check", fmt.Sprintf("--rest_api_port=%d", port)).Run(); err == nil {
		t.Fatal("--health_check passed with no server")
	}
}

func TestAssignGroups(t *testing.T) {
	models := []serving.ModelConfig{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "group:1"}}
	if err := assignGroups(models, "a, b;c"); err != nil {
		t.Fatal(err)
	}
	if models[0].Group != models[1].Group || models[0].Group == models[2].Group || models[3].Group != "" {
		t.Fatalf("groups: %+v", models)
	}
	for spec, want := range map[string]string{"a,x": `"x", which is not a served model`, "a;a": "in two groups"} {
		ms := []serving.ModelConfig{{Name: "a"}}
		if err := assignGroups(ms, spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", spec, err, want)
		}
	}
}

func TestWorkerMemoryFlag(t *testing.T) {
	for in, want := range map[string]uint64{"": 0, "none": serving.NoWorkerMemoryCap, "6000000000": 6e9} {
		if got, err := workerMemory(in); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "1000", "-1", "4G", "12abc"} {
		if _, err := workerMemory(in); err == nil || !strings.Contains(err.Error(), "--worker_memory_bytes") {
			t.Errorf("%q: %v, want an error naming the flag", in, err)
		}
	}
}

// TestModelConfigFileFlag runs the binary on a TF Serving model config file
// with a version policy and a label, and on config files it must refuse.
func TestModelConfigFileFlag(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "serve")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	base := filepath.Join(dir, "models", "clf")
	for v := 1; v <= 2; v++ {
		m, err := models.NewSequential([]int64{4}, layers.Dense(3, layers.WithActivation(layers.Softmax)))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Compile(models.CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.SGD(0.1), Seed: uint64(v)}); err != nil {
			t.Fatal(err)
		}
		if err := m.Export(filepath.Join(base, fmt.Sprint(v))); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	config := filepath.Join(dir, "models.config")
	os.WriteFile(config, []byte(fmt.Sprintf(`model_config_list {
  config {
    name: 'clf'
    base_path: '%s'
    model_platform: 'tensorflow'
    model_version_policy { all {} }
    version_labels { key: 'stable' value: 1 }
  }
}`, base)), 0o644)
	port := freePort(t)
	cmd := exec.Command(bin, "--rest_api_host=127.0.0.1", fmt.Sprintf("--rest_api_port=%d", port), "--port=0",
		"--model_config_file="+config, "--model_config_file_poll_wait_seconds=1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, 30*time.Second, "ready", func() bool { return get(url+"/readyz") == 200 })
	if code, body := getBody(url + "/v1/models/clf/labels/stable"); code != 200 || !strings.Contains(body, `"version":"1"`) {
		t.Fatalf("status by label: %d %s", code, body)
	}
	if code, body := getBody(url + "/v1/models/clf/versions/2"); code != 200 || !strings.Contains(body, "AVAILABLE") {
		t.Fatalf("version 2 (policy all): %d %s", code, body)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	for _, c := range []struct{ name, text, want string }{
		{"missing base path", `model_config_list { config { name: 'x' base_path: '/nonexistent' } }`, "not a folder"},
		{"not text format", "{\"model_config_list\": []}", "model config"},
		{"label on no version", fmt.Sprintf(`model_config_list { config { name: 'clf' base_path: '%s' version_labels { key: 'x' value: 9 } } }`, base), "not currently available"},
		{"too big", strings.Repeat("#", 17<<20), "larger than"},
	} {
		os.WriteFile(config, []byte(c.text), 0o644)
		out, err := exec.Command(bin, "--rest_api_port=0", "--port=0", "--isolation=none", "--model_config_file="+config).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: %v, output %s; want an error naming %q", c.name, err, tail(string(out), 400), c.want)
		}
	}
}
