package kubernetes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

var (
	buildOnce sync.Once
	serveBin  string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildServe builds cmd/serve once for the whole test binary (the cgo
// flags come from .tf/env.sh, as for every test of this repository).
func buildServe(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "gotf-k8s-"); buildErr != nil {
			return
		}
		serveBin = filepath.Join(binDir, "serve")
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", serveBin, "github.com/tfgo-project/gotf/cmd/serve").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/serve: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return serveBin
}

// serveHelp is the server's --help text (Go's flag usage, exit 0).
func serveHelp(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("serve --help: %v\n%s", err, out)
	}
	return string(out)
}

// checkFlags has the real server parse args: with --help last, Go's flag
// package exits 0 only if every flag before it exists and its value
// parses (flagValues already refused positional arguments, after which
// --help would not be read as a flag).
func checkFlags(bin string, args []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(args, "--help")...).CombinedOutput()
	if err != nil {
		first, _, _ := strings.Cut(string(out), "\n")
		return fmt.Errorf("args: serve rejects them (%v): %s", err, first)
	}
	return nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}

// checkLive starts the real server with the container's args, its mounts
// moved under a temporary folder (the ConfigMap's files written there,
// each model's base path an empty folder: no version to load) and its
// ports moved to free loopback ports. Every probe path must be a route
// the server serves (liveness and startup answering 200, readiness 200 or
// 503: no version is loaded), and SIGTERM must stop it with exit 0
// within --shutdown_timeout.
func checkLive(t *testing.T, bin string, m *manifests, args []string) error {
	t.Helper()
	c, err := m.container()
	if err != nil {
		return err
	}
	root := t.TempDir()
	vols := map[string]corev1.Volume{}
	for _, v := range m.deploy.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	relocate := func(s string) string {
		for _, vm := range c.VolumeMounts {
			if s == vm.MountPath || strings.HasPrefix(s, vm.MountPath+"/") {
				return filepath.Join(root, s)
			}
		}
		return s
	}
	for _, vm := range c.VolumeMounts {
		dir := filepath.Join(root, vm.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if v := vols[vm.Name]; v.ConfigMap != nil && v.ConfigMap.Name == m.cm.Name {
			for key, text := range m.cm.Data {
				text = regexp.MustCompile(`(base_path:\s*")([^"]*)"`).ReplaceAllStringFunc(text, func(s string) string {
					mm := regexp.MustCompile(`(base_path:\s*")([^"]*)"`).FindStringSubmatch(s)
					base := relocate(mm[2])
					os.MkdirAll(base, 0o755)
					return mm[1] + base + `"`
				})
				if err := os.WriteFile(filepath.Join(dir, key), []byte(text), 0o644); err != nil {
					return err
				}
			}
		}
	}
	restPort, err := freePort()
	if err != nil {
		return err
	}
	grpcPort, err := freePort()
	if err != nil {
		return err
	}
	var live []string
	for _, a := range args {
		name, val, _ := strings.Cut(a, "=")
		live = append(live, name+"="+relocate(val))
	}
	live = append(live, "--rest_api_port="+restPort, "--port="+grpcPort, "--rest_api_host=127.0.0.1", "--grpc_host=127.0.0.1")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, live...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	running := true
	defer func() {
		if running {
			cmd.Process.Kill()
			<-exited
		}
	}()

	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, error) {
		resp, err := client.Get("http://127.0.0.1:" + restPort + path)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := get("/"); err == nil {
			break
		}
		select {
		case err := <-exited:
			running = false
			return fmt.Errorf("live: the server exited (%v) with the manifest's args: %s", err, lastLine(stderr.String()))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("live: the server did not listen within 30 s")
		}
	}
	for kind, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			continue // check reports it
		}
		code, err := get(p.HTTPGet.Path)
		ok := code == http.StatusOK || (kind == "readiness" && code == http.StatusServiceUnavailable)
		if err != nil || !ok {
			return fmt.Errorf("live: the %s probe's GET %s answered %d (%v)", kind, p.HTTPGet.Path, code, err)
		}
	}
	drain, _ := time.ParseDuration(flagOr(args, "shutdown_timeout", "35s"))
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-exited:
		running = false
		if err != nil {
			return fmt.Errorf("live: after SIGTERM the server exited %v: %s", err, lastLine(stderr.String()))
		}
	case <-time.After(drain + 5*time.Second):
		return fmt.Errorf("live: the server was still running %s after SIGTERM", drain+5*time.Second)
	}
	return nil
}

func flagOr(args []string, name, def string) string {
	v, err := flagValues(args)
	if err != nil || v[name] == "" {
		return def
	}
	return v[name]
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
