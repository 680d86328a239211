package main

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

const modPath = "github.com/tfgo-project/gotf"

// TestOutsideModule walks the README's steps for a user of the module, in
// a fresh module outside this repository: go get from a module proxy made
// of this tree, gotf setup, go build of examples/service, and the service
// run with an empty environment; then gotf bundle, the folder moved, and
// the service run from it with no environment and no cache. Every answer
// is checked against the same SavedModel called in this process. Nothing
// from the clone's .venv or .tf is on any path the user's commands see.
func TestOutsideModule(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the steps are checked on Linux")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	version := "v" + strings.TrimSpace(readFile(t, filepath.Join(root, "VERSION")))
	tmp := t.TempDir()
	proxy := filepath.Join(tmp, "proxy")
	if err := writeProxy(root, proxy, version); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(tmp, "model")
	exportModel(t, model)

	env := userEnv(t, root, tmp, proxy)
	svc := filepath.Join(tmp, "svc")
	if err := os.MkdirAll(svc, 0o755); err != nil {
		t.Fatal(err)
	}
	src := readFile(t, filepath.Join(root, "examples", "service", "main.go"))
	if err := os.WriteFile(filepath.Join(svc, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		start := time.Now()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = svc, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		t.Logf("%s %s: %.1f s", filepath.Base(name), strings.Join(args, " "), time.Since(start).Seconds())
		return string(out)
	}
	gobin := goBin()
	run(gobin, "mod", "init", "example.com/service")
	run(gobin, "get", modPath+"@"+version)
	out := run(gobin, "run", modPath+"/cmd/gotf", "setup")
	if !strings.Contains(out, "ready") {
		t.Errorf("gotf setup said %q", out)
	}
	goenv := run(gobin, "env", "CGO_CFLAGS", "CGO_LDFLAGS")
	for _, bad := range []string{filepath.Join(root, ".venv"), filepath.Join(root, ".tf")} {
		if strings.Contains(goenv, bad) {
			t.Errorf("cgo's flags point into the clone (%s): %s", bad, goenv)
		}
	}
	run(gobin, "build", "-o", "service", ".")
	rp := runpath(t, filepath.Join(svc, "service"))
	if strings.Contains(rp, root) {
		t.Errorf("the service's run path points into the clone: %s", rp)
	}

	// The service was built from the proxy's module, not from the clone.
	info := run(gobin, "version", "-m", "service")
	if !strings.Contains(info, "dep\t"+modPath+"\t"+version+"\t") || strings.Contains(info, "=>") {
		t.Errorf("the service was not built from %s@%s off the proxy:\n%s", modPath, version, info)
	}

	want := predictHere(t, model)
	got, _ := serveAndPredict(t, filepath.Join(svc, "service"), model)
	same(t, "built service", got, want)

	// Ship it: the folder, moved, runs with nothing around it.
	out = run(gobin, "run", modPath+"/cmd/gotf", "bundle", "-strip", "-o", "dist", ".")
	t.Log(strings.TrimSpace(out))
	moved := filepath.Join(tmp, "elsewhere", "app")
	if err := os.MkdirAll(filepath.Dir(moved), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(svc, "dist"), moved); err != nil {
		t.Fatal(err)
	}
	if rp := runpath(t, filepath.Join(moved, "bin", "service")); rp != "$ORIGIN/../lib" {
		t.Errorf("the bundled service's run path is %q, want $ORIGIN/../lib alone", rp)
	}
	got, lib := serveAndPredict(t, filepath.Join(moved, "bin", "service"), model)
	same(t, "bundled service", got, want)
	if wantLib := filepath.Join(moved, "lib", "libtensorflow_cc.so.2"); lib != wantLib {
		t.Errorf("the bundled service ran %s, want the library beside it (%s)", lib, wantLib)
	}
}

// userEnv is this process's environment without anything the clone's set-up
// exports (cgo's flags, the TF and Python paths), with a go env file of its
// own (so setup's go env -w stays in the test) and the module proxy first.
func userEnv(t *testing.T, root, tmp, proxy string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CGO_") || strings.HasPrefix(k, "GOTF_") || strings.HasPrefix(k, "GONO") || k == "GOENV" || k == "GOFLAGS" ||
			k == "GOMODCACHE" || k == "GOPROXY" || k == "GOSUMDB" || k == "GOPRIVATE" || k == "GOINSECURE" || k == "GOWORK" ||
			k == "GOTOOLCHAIN" || k == "LD_LIBRARY_PATH" || k == "TF_CPP_MIN_LOG_LEVEL" {
			continue
		}
		if strings.Contains(v, filepath.Join(root, ".venv")) || strings.Contains(v, filepath.Join(root, ".tf")) {
			t.Logf("leaving out %s: it points into the clone", k)
			continue
		}
		env = append(env, kv)
	}
	// A module cache of its own, so this tree's version never lands in the
	// user's (a second run must see the new tree); the dependencies come
	// from the user's module cache, read as a proxy: nothing is fetched.
	out, err := exec.Command(goBin(), "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	// The cache the clone's make setup filled: the wheel is not fetched
	// again, but setup still checks the install and writes go env.
	if c := os.Getenv("GOTF_CACHE"); c != "" {
		env = append(env, "GOTF_CACHE="+c)
	}
	return append(env, "GOENV="+filepath.Join(tmp, "goenv"), "GOFLAGS=-mod=mod -modcacherw", "GOSUMDB=off", "GOWORK=off", "GOTOOLCHAIN=local",
		"GOMODCACHE="+filepath.Join(tmp, "modcache"), "GOPROXY=file://"+proxy+",file://"+deps+",off")
}

// writeProxy lays out a GOPROXY folder serving this module at version:
// the files git tracks (what a tagged release holds), read from the work
// tree, minus nested modules.
func writeProxy(root, proxy, version string) error {
	out, err := exec.Command("git", "-C", root, "ls-files").Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	var nested []string
	files := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, f := range files {
		if filepath.Base(f) == "go.mod" && f != "go.mod" {
			nested = append(nested, filepath.Dir(f)+"/")
		}
	}
	dir := filepath.Join(proxy, modPath, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for _, f := range files {
		skip := false
		for _, n := range nested {
			skip = skip || strings.HasPrefix(f, n)
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if skip || os.IsNotExist(err) { // deleted in the work tree
			continue
		}
		if err != nil {
			return err
		}
		w, err := zw.Create(modPath + "@" + version + "/" + f)
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return err
	}
	info := fmt.Sprintf(`{"Version":%q,"Time":"2026-12-07T00:00:00Z"}`, version)
	for name, b := range map[string][]byte{"list": []byte(version + "\n"), version + ".info": []byte(info),
		version + ".mod": mod, version + ".zip": zb.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func exportModel(t *testing.T, dir string) {
	m, err := models.NewSequential([]int64{4}, layers.Dense(8, layers.WithActivation(layers.ReLU)), layers.Dense(3, layers.WithActivation(layers.Softmax)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Compile(models.CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.SGD(0.1), Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if err := m.Export(dir); err != nil {
		t.Fatal(err)
	}
}

var rows = [][]float32{{0.1, 0.2, 0.3, 0.4}, {5, -1, 2.5, 0}, {-3, 3, -3, 3}}

func predictHere(t *testing.T, dir string) []float32 {
	m, err := savedmodels.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sig, err := m.Signature(savedmodels.DefaultSignature)
	if err != nil {
		t.Fatal(err)
	}
	var flat []float32
	for _, r := range rows {
		flat = append(flat, r...)
	}
	x, err := tfwrap.NewTensor(flat, int64(len(rows)), 4)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := m.Predict(savedmodels.DefaultSignature, map[string]*tfwrap.Tensor{sig.Inputs[0].Name: x})
	if err != nil {
		t.Fatal(err)
	}
	v, err := outs[sig.Outputs[0].Name].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// serveAndPredict starts bin with an empty environment, posts rows and
// returns the flattened answer and the libtensorflow_cc file the process
// mapped.
func serveAndPredict(t *testing.T, bin, model string) ([]float32, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--model", model, "--addr", addr)
	cmd.Env = []string{} // nothing: no HOME, no cache, no LD_LIBRARY_PATH
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() { cmd.Process.Kill(); <-exited }()
	body, _ := json.Marshal(map[string]any{"rows": rows})
	var resp *http.Response
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		resp, err = http.Post("http://"+addr+"/predict", "application/json", bytes.NewReader(body))
		if err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("%s exited: %v\n%s", bin, cmd.ProcessState, logs.String())
		default:
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("%s did not answer: %v\n%s", bin, err, logs.String())
		}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", bin, resp.StatusCode, raw)
	}
	var ans struct{ Outputs map[string][][]float32 }
	if err := json.Unmarshal(raw, &ans); err != nil || len(ans.Outputs) != 1 {
		t.Fatalf("%s answered %s (%v)", bin, raw, err)
	}
	var flat []float32
	for _, v := range ans.Outputs {
		for _, r := range v {
			flat = append(flat, r...)
		}
	}
	if strings.Contains(logs.String(), "I0000") || strings.Contains(logs.String(), "oneDNN") {
		t.Errorf("%s printed TensorFlow's INFO lines by default:\n%s", bin, logs.String())
	}
	maps, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", cmd.Process.Pid))
	lib := ""
	for _, l := range strings.Split(string(maps), "\n") {
		if f := strings.Fields(l); len(f) >= 6 && strings.HasSuffix(f[5], "/libtensorflow_cc.so.2") {
			lib = f[5]
		}
	}
	return flat, lib
}

func same(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("%s: value %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

// runpath is the DT_RUNPATH (or DT_RPATH) of an ELF binary.
func runpath(t *testing.T, path string) string {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		if v, err := f.DynString(tag); err == nil && len(v) > 0 {
			return strings.Join(v, ":")
		}
	}
	return ""
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
