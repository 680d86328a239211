package serving

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A version whose init op never ends (issue 23): loading in the
// background, the other models serve at once; in process, TensorFlow
// now cancels it at the load deadline instead of burning a core for
// good, and while it hangs, other models' new versions load at the next
// poll instead of waiting for its deadline.
func TestHungInitInProcess(t *testing.T) {
	gen := hostile(t)
	dir := t.TempDir()
	copyTree(t, filepath.Join(gen, "good"), filepath.Join(dir, "good"))
	copyTree(t, filepath.Join(gen, "hang_init"), filepath.Join(dir, "hang"))
	const deadline = 3 * time.Second
	start := time.Now()
	srv, err := New(Config{Isolation: IsolationNone, LoadTimeout: deadline, Poll: 100 * time.Millisecond, LoadInBackground: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Models: []ModelConfig{{Name: "good", BasePath: filepath.Join(dir, "good")}, {Name: "hang", BasePath: filepath.Join(dir, "hang")}}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	predict := func() (int, map[string]any) {
		return call(t, "POST", hs.URL+"/v1/models/good:predict", `{"instances": [[1, 2, 3, 4]]}`)
	}
	// Loading in the background, the good model serves long before the
	// hung one's deadline, while /readyz waits for it.
	waitUntil(t, deadline, "the good model serving", func() bool { c, _ := predict(); return c == 200 })
	if code, _ := call(t, "GET", hs.URL+"/readyz", ""); code != 503 || time.Since(start) > deadline {
		t.Fatalf("readyz %d after %v, want 503 before the hung load's %v deadline", code, time.Since(start), deadline)
	}
	waitUntil(t, 2*deadline, "ready once the hung load failed", func() bool { c, _ := call(t, "GET", hs.URL+"/readyz", ""); return c == 200 })
	if code, out := call(t, "GET", hs.URL+"/v1/models/hang", ""); code != 200 || !strings.Contains(fmt.Sprint(out), "did not load within") {
		t.Fatalf("hang status: %d %v", code, out)
	}
	// Cancelled, not running on: the process is about idle.
	time.Sleep(500 * time.Millisecond)
	if cpu := cpuOver(t, 2*time.Second); cpu > 0.5 {
		t.Fatalf("the process used %.2f s of CPU in 2 s after the hung init's deadline: still running", cpu)
	}
	// A new hung version, then a new good version: the good one serves
	// within a few polls, long before the hung one's deadline.
	copyTree(t, filepath.Join(gen, "hang_init", "1"), filepath.Join(dir, "hang", "2"))
	time.Sleep(300 * time.Millisecond) // its load has started
	copyTree(t, filepath.Join(gen, "good", "1"), filepath.Join(dir, "good", "2"))
	start = time.Now()
	for {
		_, out := predict()
		if v, _ := out["model_version"].(string); v == "2" || versionOf(t, hs.URL) == 2 {
			break
		}
		if time.Since(start) > deadline-time.Second {
			t.Fatalf("good's version 2 not served %v after it appeared: waiting for the hung load", time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// versionOf is the newest AVAILABLE version of model good.
func versionOf(t *testing.T, url string) int {
	_, out := call(t, "GET", url+"/v1/models/good", "")
	best := 0
	for _, v := range out["model_version_status"].([]any) {
		m := v.(map[string]any)
		if m["state"] == "AVAILABLE" {
			n, _ := strconv.Atoi(m["version"].(string))
			best = max(best, n)
		}
	}
	return best
}

// cpuOver is the CPU seconds this process uses over d.
func cpuOver(t *testing.T, d time.Duration) float64 {
	read := func() float64 {
		b, err := os.ReadFile("/proc/self/stat")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		u, _ := strconv.ParseFloat(f[11], 64) // utime, field 14
		s, _ := strconv.ParseFloat(f[12], 64) // stime, field 15
		return (u + s) / 100                  // clock ticks (USER_HZ 100)
	}
	a := read()
	time.Sleep(d)
	return read() - a
}
