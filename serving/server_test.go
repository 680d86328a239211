package serving

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// export writes a small classifier (4 inputs → 3 softmax outputs) with the
// given seed as BASE/VERSION and returns it, still open.
func export(t testing.TB, base string, version int, seed uint64) *models.Sequential {
	t.Helper()
	m, err := models.NewSequential([]int64{4}, layers.Dense(8, layers.WithActivation(layers.ReLU)), layers.Dense(3, layers.WithActivation(layers.Softmax)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(models.CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.SGD(0.1), Seed: seed}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Export(filepath.Join(base, fmt.Sprint(version))); err != nil {
		t.Fatal(err)
	}
	return m
}

func start(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	cfg.Poll = -1
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return srv, hs
}

func call(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil && resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d, body is not JSON: %s", method, url, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func predictions(t *testing.T, m *models.Sequential, rows [][]float32) []float64 {
	t.Helper()
	var flat []float32
	for _, r := range rows {
		flat = append(flat, r...)
	}
	x, _ := tfwrap.NewTensor(flat, int64(len(rows)), 4)
	p, err := m.Predict(x, models.PredictOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := p.Float64sAny()
	return v
}

func flatten(v any) []float64 {
	switch x := v.(type) {
	case float64:
		return []float64{x}
	case []any:
		var out []float64
		for _, e := range x {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return nil
}

func same(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-6 {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestRESTAPI(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	m1 := export(t, base, 1, 1)
	_, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, MaxBodyBytes: 4096})
	u := hs.URL + "/v1/models/clf"
	rows := [][]float32{{1, 2, 3, 4}, {-1, 0.5, 0, 2}}

	code, st := call(t, "GET", u, "")
	if code != 200 || !strings.Contains(fmt.Sprint(st), "AVAILABLE") {
		t.Fatalf("status: %d %v", code, st)
	}
	code, md := call(t, "GET", u+"/versions/1/metadata", "")
	if code != 200 || !strings.Contains(fmt.Sprint(md), "DT_FLOAT") || !strings.Contains(fmt.Sprint(md), "serving_default") {
		t.Fatalf("metadata: %d %v", code, md)
	}
	code, out := call(t, "POST", u+":predict", `{"instances": [[1,2,3,4], [-1,0.5,0,2]]}`)
	if code != 200 {
		t.Fatalf("predict: %d %v", code, out)
	}
	same(t, "row predictions", flatten(out["predictions"]), predictions(t, m1, rows))
	code, out = call(t, "POST", u+"/versions/1:predict", `{"signature_name": "serving_default", "inputs": {"inputs": [[1,2,3,4], [-1,0.5,0,2]]}}`)
	if code != 200 {
		t.Fatalf("columnar: %d %v", code, out)
	}
	same(t, "columnar outputs", flatten(out["outputs"]), predictions(t, m1, rows))

	for _, c := range []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"unknown model", "POST", "/v1/models/nope:predict", `{"instances": [[1,2,3,4]]}`, 404, "model not found"},
		{"unknown version", "POST", "/v1/models/clf/versions/7:predict", `{"instances": [[1,2,3,4]]}`, 404, "no loaded version 7"},
		{"bad version", "GET", "/v1/models/clf/versions/x", "", 404, "bad version"},
		{"unknown verb", "POST", "/v1/models/clf:explain", `{}`, 404, "unknown verb"},
		{"wrong method", "GET", "/v1/models/clf:predict", "", 405, "not allowed"},
		{"not json", "POST", "/v1/models/clf:predict", `{"instances": [1,2`, 400, "not a JSON object"},
		{"wrong width", "POST", "/v1/models/clf:predict", `{"instances": [[1,2,3]]}`, 400, "dimension 1 is 3"},
		{"ragged", "POST", "/v1/models/clf:predict", `{"instances": [[1,2,3,4],[1,2]]}`, 400, "ragged"},
		{"non-numeric", "POST", "/v1/models/clf:predict", `{"instances": [[1,2,"x",4]]}`, 400, "wants numbers"},
		{"misspelt input", "POST", "/v1/models/clf:predict", `{"inputs": {"input": [[1,2,3,4]]}}`, 400, `unknown input "input"`},
		{"unknown signature", "POST", "/v1/models/clf:predict", `{"signature_name": "x", "instances": [[1,2,3,4]]}`, 400, "signature not found"},
		{"empty batch", "POST", "/v1/models/clf:predict", `{"instances": []}`, 400, "empty"},
		{"too large", "POST", "/v1/models/clf:predict", `{"instances": [` + strings.Repeat("[1,2,3,4],", 500) + `[1,2,3,4]]}`, 413, "larger than 4096"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := call(t, c.method, hs.URL+c.path, c.body)
			if code != c.code || !strings.Contains(fmt.Sprint(out["error"]), c.want) {
				t.Fatalf("got %d %v, want %d %q", code, out, c.code, c.want)
			}
		})
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		resp, err := http.Get(hs.URL + path)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("%s: %v %v", path, resp.StatusCode, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if path == "/metrics" && !bytes.Contains(body, []byte(`gotf_serving_requests_total{api="predict",code="413",model="clf"} 1`)) {
			t.Fatalf("metrics lack the 413:\n%s", body)
		}
	}
}

func TestOverloadAndDeadline(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 1)
	srv, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, MaxInFlight: 1})
	srv.slots <- struct{}{} // one request in flight
	code, out := call(t, "POST", hs.URL+"/v1/models/clf:predict", `{"instances": [[1,2,3,4]]}`)
	if code != 429 {
		t.Fatalf("got %d %v, want 429", code, out)
	}
	<-srv.slots

	// A graph still running at the deadline is cancelled by TensorFlow:
	// 504 at about the deadline, and the slot is free again.
	gen := t.TempDir()
	if err := pyref.Script("make_hostile_models.py", gen); err != nil {
		t.Fatal(err)
	}
	for _, iso := range []Isolation{IsolationProcess, IsolationNone} {
		t.Run(string(iso), func(t *testing.T) {
			srv2, hs2 := start(t, Config{Models: []ModelConfig{{Name: "runaway", BasePath: filepath.Join(gen, "runaway")}},
				Timeout: 300 * time.Millisecond, Isolation: iso})
			begin := time.Now()
			code, out := call(t, "POST", hs2.URL+"/v1/models/runaway:predict", `{"inputs": 3}`)
			if code != 504 || time.Since(begin) > 5*time.Second {
				t.Fatalf("got %d %v after %v, want 504 after about 300 ms", code, out, time.Since(begin))
			}
			if len(srv2.slots) != 0 {
				t.Fatal("the timed-out request kept its slot")
			}
		})
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

// TestHotReload: a new version is served once loaded, a corrupt one is
// reported while the old keeps serving, and requests in flight during the
// switch all succeed.
func TestHotReload(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	m1 := export(t, base, 1, 1)
	staging := filepath.Join(t.TempDir(), "staging")
	m2 := export(t, staging, 2, 2)
	srv, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}})
	rows := [][]float32{{1, 2, 3, 4}}
	body := `{"instances": [[1,2,3,4]]}`
	u := hs.URL + "/v1/models/clf:predict"

	done := hammer(u, body, 4)
	copyTree(t, filepath.Join(staging, "2"), filepath.Join(base, "2"))
	srv.Rescan()
	_, out := call(t, "POST", u, body)
	same(t, "version 2", flatten(out["predictions"]), predictions(t, m2, rows))

	// A corrupt version 3: reported, and version 2 keeps serving.
	copyTree(t, filepath.Join(staging, "2"), filepath.Join(base, "3"))
	pb := filepath.Join(base, "3", "saved_model.pb")
	raw, _ := os.ReadFile(pb)
	os.WriteFile(pb, raw[:len(raw)/4], 0o644)
	srv.Rescan()
	if _, failures := done(); failures != 0 {
		t.Fatalf("%d requests failed during the reloads", failures)
	}
	_, out = call(t, "POST", u, body)
	same(t, "still version 2", flatten(out["predictions"]), predictions(t, m2, rows))
	code, st := call(t, "GET", hs.URL+"/v1/models/clf", "")
	s := fmt.Sprint(st)
	if code != 200 || !strings.Contains(s, "version:3") || !strings.Contains(s, "END") || !strings.Contains(s, "version:2") {
		t.Fatalf("status after a corrupt version: %v", st)
	}
	_ = m1
	if code, _ := call(t, "POST", hs.URL+"/v1/models/clf/versions/1:predict", body); code != 404 {
		t.Fatalf("version 1 still served: %d", code)
	}
}

// hammer posts body to url from n goroutines until the returned function
// is called; that function waits for them and says how many answers were
// 200 and how many were not (or failed).
func hammer(url, body string, n int) (done func() (served, failed int64)) {
	stop := make(chan struct{})
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(url, "application/json", strings.NewReader(body))
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	return func() (int64, int64) {
		close(stop)
		wg.Wait()
		return ok.Load(), bad.Load()
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{}, {Models: []ModelConfig{{Name: "a"}}}, {Models: []ModelConfig{{Name: "a", BasePath: "/nonexistent"}}}} {
		if _, err := New(cfg); err == nil {
			t.Fatalf("%+v accepted", cfg)
		}
	}
	// A model folder with no versions yet: not ready, 503.
	srv, hs := start(t, Config{Models: []ModelConfig{{Name: "empty", BasePath: t.TempDir()}}})
	_ = srv
	if code, out := call(t, "POST", hs.URL+"/v1/models/empty:predict", `{"instances": [[1]]}`); code != 503 {
		t.Fatalf("got %d %v", code, out)
	}
	if resp, _ := http.Get(hs.URL + "/readyz"); resp.StatusCode != 503 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
	_ = context.Background
}

// TestBatching merges concurrent requests into fewer runs and gives each
// request exactly the answer it gets alone.
func TestBatching(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	m := export(t, base, 1, 3)
	// In process: the batcher's metrics are the server's own.
	_, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, Isolation: IsolationNone, BatchRows: 8, BatchWait: 50 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rows := [][]float32{{float32(i), 1, -float32(i), 0.5}}
			body := fmt.Sprintf(`{"instances": [[%g, 1, %g, 0.5]]}`, float32(i), -float32(i))
			if i%4 == 0 { // some requests carry two rows
				rows = append(rows, []float32{0, 0, 1, 1})
				body = fmt.Sprintf(`{"instances": [[%g, 1, %g, 0.5], [0, 0, 1, 1]]}`, float32(i), -float32(i))
			}
			resp, err := http.Post(hs.URL+"/v1/models/clf:predict", "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var out map[string]any
			json.NewDecoder(resp.Body).Decode(&out)
			got, want := flatten(out["predictions"]), predictions(t, m, rows)
			if resp.StatusCode != 200 || len(got) != len(want) {
				errs <- fmt.Errorf("request %d: %d %v", i, resp.StatusCode, out)
				return
			}
			for k := range got {
				if math.Abs(got[k]-want[k]) > 1e-6 {
					errs <- fmt.Errorf("request %d: got %v, want %v", i, got, want)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var runs float64
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, `gotf_serving_batches_total{model="clf"}`) {
			fmt.Sscanf(strings.Fields(line)[1], "%g", &runs)
		}
	}
	if runs == 0 || runs >= 16 {
		t.Fatalf("%v runs for 16 requests: nothing was merged", runs)
	}
	t.Logf("16 requests in %v runs", runs)
}

// TestReadinessPerModel: one model with no version (an empty folder) and
// one whose only version cannot load do not make the server unready while
// another model serves; --strict_readiness asks for every model.
func TestReadinessPerModel(t *testing.T) {
	good := t.TempDir()
	export(t, good, 1, 1)
	broken := t.TempDir()
	if err := os.MkdirAll(filepath.Join(broken, "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, "1", "saved_model.pb"), []byte("not a SavedModel"), 0o644); err != nil {
		t.Fatal(err)
	}
	models := []ModelConfig{{Name: "good", BasePath: good}, {Name: "empty", BasePath: t.TempDir()}, {Name: "broken", BasePath: broken}}
	for _, strict := range []bool{false, true} {
		_, hs := start(t, Config{Models: models, StrictReadiness: strict})
		want := 200
		if strict {
			want = 503
		}
		for _, path := range []string{"/readyz", "/v2/health/ready"} {
			resp, err := http.Get(hs.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want || strict && !strings.Contains(string(raw), "has no loaded version") {
				t.Errorf("strict %v: %s answered %d %s, want %d", strict, path, resp.StatusCode, raw, want)
			}
		}
		if code, out := call(t, "POST", hs.URL+"/v1/models/good:predict", `{"instances": [[1, 2, 3, 4]]}`); code != 200 {
			t.Errorf("strict %v: the good model answered %d %v", strict, code, out)
		}
		code, st := call(t, "GET", hs.URL+"/v1/models/broken", "")
		if code != 200 || !strings.Contains(fmt.Sprint(st), "END") {
			t.Errorf("strict %v: the broken model's status is %d %v, want its version in state END", strict, code, st)
		}
	}
}
