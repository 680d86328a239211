package serving

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
)

// threeVersions exports versions 1, 2 and 3 of a model (different weights)
// into base and returns them by number.
func threeVersions(t *testing.T, base string) map[int64]*models.Sequential {
	t.Helper()
	out := map[int64]*models.Sequential{}
	for v := int64(1); v <= 3; v++ {
		out[v] = export(t, base, int(v), uint64(10+v))
	}
	return out
}

func TestParseModelConfig(t *testing.T) {
	// TF Serving's documented example (serving_config.md), quotes and all.
	text := `
model_config_list {
  config {
    name: 'my_first_model'
    base_path: '/tmp/my_first_model/'
    model_platform: 'tensorflow'
    model_version_policy { specific { versions: 42 versions: 43 } }
    version_labels { key: 'stable' value: 42 }
    version_labels { key: 'canary' value: 43 }
  }
  config {
    name: 'my_second_model'
    base_path: '/tmp/my_second_model/'
    model_version_policy { latest { num_versions: 2 } }
  }
  config { name: 'third' base_path: '/tmp/third' model_version_policy { all {} } }
  config { name: 'fourth' base_path: '/tmp/fourth' }
}`
	cfgs, err := ParseModelConfig([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 4 {
		t.Fatalf("%d configs", len(cfgs))
	}
	first := cfgs[0]
	if first.Name != "my_first_model" || first.BasePath != "/tmp/my_first_model/" || !slices.Equal(first.Policy.Specific, []int64{42, 43}) ||
		first.Labels["stable"] != 42 || first.Labels["canary"] != 43 {
		t.Fatalf("first: %+v", first)
	}
	if cfgs[1].Policy.Latest != 2 || !cfgs[2].Policy.All || cfgs[3].Policy.String() != "latest 1" {
		t.Fatalf("policies: %v %v %v", cfgs[1].Policy, cfgs[2].Policy, cfgs[3].Policy)
	}
	dir := t.TempDir()
	for _, c := range []struct{ name, text, want string }{
		{"syntax", `model_config_list { config { name: 'a' `, "model config"},
		{"unknown field", `model_config_list { config { name: 'a' base_pth: '/x' } }`, "base_pth"},
		{"custom config", `custom_model_config { type_url: 'x' }`, "custom_model_config"},
		{"no list", ``, "no model_config_list"},
		{"platform", `model_config_list { config { name: 'a' base_path: '/x' model_platform: 'pytorch' } }`, "pytorch"},
	} {
		if _, err := ParseModelConfig([]byte(c.text)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %q", c.name, err, c.want)
		}
	}
	for _, c := range []struct {
		name string
		cfg  ModelConfig
		want string
	}{
		{"specific zero", ModelConfig{Name: "a", BasePath: dir, Policy: VersionPolicy{Specific: []int64{0}}}, "positive"},
		{"specific empty", ModelConfig{Name: "a", BasePath: dir, Policy: VersionPolicy{Specific: []int64{}}}, "lists no versions"},
		{"two policies", ModelConfig{Name: "a", BasePath: dir, Policy: VersionPolicy{All: true, Latest: 2}}, "not 2"},
		{"pin and policy", ModelConfig{Name: "a", BasePath: dir, Version: 1, Policy: VersionPolicy{All: true}}, "not both"},
		{"bad label", ModelConfig{Name: "a", BasePath: dir, Labels: map[string]int64{"a/b": 1}}, "version label"},
		{"label version", ModelConfig{Name: "a", BasePath: dir, Labels: map[string]int64{"ok": -1}}, "positive"},
	} {
		if err := checkConfigs([]ModelConfig{c.cfg}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %q", c.name, err, c.want)
		}
	}
}

// TestVersionPolicies serves three versions under each policy and checks
// which versions answer, each with its own weights.
func TestVersionPolicies(t *testing.T) {
	base := filepath.Join(t.TempDir(), "m")
	ms := threeVersions(t, base)
	rows := [][]float32{{1, 2, 3, 4}}
	body := `{"instances": [[1, 2, 3, 4]]}`
	for _, c := range []struct {
		policy VersionPolicy
		served []int64
	}{
		{VersionPolicy{}, []int64{3}},
		{VersionPolicy{Latest: 2}, []int64{3, 2}},
		{VersionPolicy{All: true}, []int64{3, 2, 1}},
		{VersionPolicy{Specific: []int64{1, 3, 7}}, []int64{3, 1}},
	} {
		t.Run(c.policy.String(), func(t *testing.T) {
			_, hs := start(t, Config{Models: []ModelConfig{{Name: "m", BasePath: base, Policy: c.policy}}, Isolation: IsolationNone})
			code, st := call(t, "GET", hs.URL+"/v1/models/m", "")
			if code != 200 {
				t.Fatalf("status %d %v", code, st)
			}
			var got []int64
			for _, e := range st["model_version_status"].([]any) {
				e := e.(map[string]any)
				if e["state"] != "AVAILABLE" {
					t.Fatalf("status %v", st)
				}
				var n int64
				fmt.Sscan(e["version"].(string), &n)
				got = append(got, n)
			}
			if !slices.Equal(got, c.served) {
				t.Fatalf("served %v, want %v", got, c.served)
			}
			for v := int64(1); v <= 3; v++ {
				code, out := call(t, "POST", fmt.Sprintf("%s/v1/models/m/versions/%d:predict", hs.URL, v), body)
				if !slices.Contains(c.served, v) {
					if code != 404 {
						t.Fatalf("version %d is not served, got %d %v", v, code, out)
					}
					continue
				}
				if code != 200 {
					t.Fatalf("version %d: %d %v", v, code, out)
				}
				same(t, fmt.Sprint("version ", v), flatten(out["predictions"]), predictions(t, ms[v], rows))
			}
			// No version named: the newest served.
			_, out := call(t, "POST", hs.URL+"/v1/models/m:predict", body)
			same(t, "newest", flatten(out["predictions"]), predictions(t, ms[c.served[0]], rows))
		})
	}
}

// TestVersionLabels routes REST requests by label and refuses labels that
// name versions not loaded, as TF Serving does.
func TestVersionLabels(t *testing.T) {
	base := filepath.Join(t.TempDir(), "m")
	ms := threeVersions(t, base)
	rows := [][]float32{{1, 2, 3, 4}}
	body := `{"instances": [[1, 2, 3, 4]]}`
	srv, hs := start(t, Config{Models: []ModelConfig{{Name: "m", BasePath: base,
		Policy: VersionPolicy{Specific: []int64{1, 3}}, Labels: map[string]int64{"stable": 1, "canary": 3}}}, Isolation: IsolationNone})
	for label, v := range map[string]int64{"stable": 1, "canary": 3} {
		code, out := call(t, "POST", hs.URL+"/v1/models/m/labels/"+label+":predict", body)
		if code != 200 {
			t.Fatalf("%s: %d %v", label, code, out)
		}
		same(t, label, flatten(out["predictions"]), predictions(t, ms[v], rows))
		_, st := call(t, "GET", hs.URL+"/v1/models/m/labels/"+label, "")
		if vs := st["model_version_status"].([]any); len(vs) != 1 || vs[0].(map[string]any)["version"] != fmt.Sprint(v) {
			t.Fatalf("%s status: %v", label, st)
		}
		_, md := call(t, "GET", hs.URL+"/v1/models/m/labels/"+label+"/metadata", "")
		if md["model_spec"].(map[string]any)["version"] != fmt.Sprint(v) {
			t.Fatalf("%s metadata: %v", label, md)
		}
	}
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/v1/models/m/labels/nope:predict", 400, "Unrecognized servable version label: nope"},
		{"/v1/models/m/labels/a.b:predict", 404, "bad version label"},
		{"/v1/models/m/labels/:predict", 404, "bad version label"},
		{"/v1/models/other/labels/stable:predict", 404, "model not found"},
	} {
		code, out := call(t, "POST", hs.URL+c.path, body)
		if code != c.code || !strings.Contains(fmt.Sprint(out["error"]), c.want) {
			t.Errorf("%s: %d %v, want %d %q", c.path, code, out, c.code, c.want)
		}
	}
	// A reload that points a label at a version not loaded is refused and
	// leaves the labels as they were.
	err := srv.Reload([]ModelConfig{{Name: "m", BasePath: base, Policy: VersionPolicy{Specific: []int64{1, 3}}, Labels: map[string]int64{"stable": 2}}})
	if err == nil || !strings.Contains(err.Error(), "not currently available") || codeOf(err) != 412 {
		t.Fatalf("label on an unloaded version: %v", err)
	}
	if code, _ := call(t, "POST", hs.URL+"/v1/models/m/labels/stable:predict", body); code != 200 {
		t.Fatalf("stable after a refused reload: %d", code)
	}
	// At start-up, a label on a version that does not load is an error.
	_, err = New(Config{Models: []ModelConfig{{Name: "m", BasePath: base, Labels: map[string]int64{"old": 1}}},
		Isolation: IsolationNone, Poll: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), `label "old" to version 1`) {
		t.Fatalf("start-up label on an unserved version: %v", err)
	}
}

// TestModelConfigFilePoll changes the config file under a running server
// (process isolation, as cmd/serve runs): models come and go, policies and
// labels follow, and a broken file leaves the configuration in force.
func TestModelConfigFilePoll(t *testing.T) {
	dir := t.TempDir()
	baseA, baseB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	msA := threeVersions(t, baseA)
	export(t, baseB, 1, 99)
	file := filepath.Join(dir, "models.config")
	write := func(text string) {
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf(`model_config_list { config { name: "a" base_path: %q } }`, baseA))
	srv, err := New(Config{ModelConfigFile: file, ModelConfigPoll: 50 * time.Millisecond, Poll: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	versions := func(model string) []string {
		code, st := call(t, "GET", hs.URL+"/v1/models/"+model, "")
		if code != 200 {
			return nil
		}
		var out []string
		for _, e := range st["model_version_status"].([]any) {
			if e := e.(map[string]any); e["state"] == "AVAILABLE" {
				out = append(out, e["version"].(string))
			}
		}
		return out
	}
	if v := versions("a"); !slices.Equal(v, []string{"3"}) {
		t.Fatalf("a serves %v", v)
	}
	write(fmt.Sprintf(`model_config_list {
  config { name: "a" base_path: %q model_version_policy { specific { versions: 1 versions: 2 } } }
  config { name: "b" base_path: %q }
}`, baseA, baseB))
	waitFor("a at versions 2 and 1, and b", func() bool {
		return slices.Equal(versions("a"), []string{"2", "1"}) && slices.Equal(versions("b"), []string{"1"})
	})
	// Labels on versions that are now loaded.
	write(fmt.Sprintf(`model_config_list {
  config { name: "a" base_path: %q model_version_policy { specific { versions: 1 versions: 2 } }
           version_labels { key: "stable" value: 1 } }
}`, baseA))
	waitFor("b to go and a's label", func() bool {
		code, _ := call(t, "GET", hs.URL+"/v1/models/b", "")
		lc, _ := call(t, "GET", hs.URL+"/v1/models/a/labels/stable", "")
		return code == 404 && lc == 200
	})
	_, out := call(t, "POST", hs.URL+"/v1/models/a/labels/stable:predict", `{"instances": [[1, 2, 3, 4]]}`)
	same(t, "a stable", flatten(out["predictions"]), predictions(t, msA[1], [][]float32{{1, 2, 3, 4}}))
	// A broken file is logged and ignored.
	write(`model_config_list { config { name: `)
	time.Sleep(300 * time.Millisecond)
	if v := versions("a"); !slices.Equal(v, []string{"2", "1"}) {
		t.Fatalf("after a broken file a serves %v", v)
	}
}

// TestModelServiceWithOfficialClient drives gRPC's ModelService and
// label-addressed Predict with tensorflow-serving-api's own stubs.
func TestModelServiceWithOfficialClient(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "m")
	ms := threeVersions(t, base)
	other := filepath.Join(dir, "other")
	export(t, other, 4, 7)
	srv, _ := start(t, Config{Models: []ModelConfig{{Name: "m", BasePath: base, Policy: VersionPolicy{Latest: 2},
		Labels: map[string]int64{"stable": 2}}}, AllowConfigReload: true})
	addr := listenGRPC(t, srv)
	x := map[string]any{"shape": []int{1, 4}, "data": []float32{1, 2, 3, 4}}
	reload := fmt.Sprintf(`model_config_list {
  config { name: "m" base_path: %q model_version_policy { specific { versions: 1 versions: 2 } }
           version_labels { key: "stable" value: 1 } }
  config { name: "other" base_path: %q }
}`, base, other)
	calls := []map[string]any{
		{"op": "status", "model": "m"},
		{"op": "status", "model": "m", "label": "stable"},
		{"op": "status", "model": "m", "version": 1},
		{"op": "status", "model": "nope"},
		{"op": "predict", "model": "m", "label": "stable", "input": "inputs", "x": x},
		{"op": "predict", "model": "m", "label": "nope", "input": "inputs", "x": x},
		{"op": "reload", "config": reload},
		{"op": "status", "model": "m"},
		{"op": "status", "model": "other"},
		{"op": "predict", "model": "m", "label": "stable", "input": "inputs", "x": x},
		{"op": "reload", "config": fmt.Sprintf(`model_config_list { config { name: "m" base_path: %q version_labels { key: "x" value: 9 } } }`, base)},
		{"op": "reload", "config": `model_config_list { config { name: "m" base_path: "/nonexistent" } }`},
		{"op": "reload", "config": `custom_model_config { }`},
		{"op": "reload", "config": fmt.Sprintf(`model_config_list { config { name: "m" base_path: %q } }`, filepath.Join(dir, "..", ".."))},
		{"op": "reload", "config": fmt.Sprintf(`model_config_list { config { name: "m" base_path: %q } }`, filepath.Join(dir, "missing"))},
	}
	var res []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Result  any    `json:"result"`
	}
	if err := pyref.Run("model_service_client.py", map[string]any{"address": addr, "calls": calls}, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != len(calls) {
		t.Fatalf("%d results for %d calls", len(res), len(calls))
	}
	predicted := func(i int) (any, []float64) {
		r, _ := res[i].Result.(map[string]any)
		outs, _ := r["outputs"].(map[string]any)
		return r["version"], flatten(outs["outputs"])
	}
	statusOf := func(i int) string {
		var parts []string
		list, _ := res[i].Result.([]any)
		for _, e := range list {
			e := e.(map[string]any)
			parts = append(parts, fmt.Sprintf("%v:%v:%v", e["version"], e["state"], e["error_code"]))
		}
		return strings.Join(parts, " ")
	}
	check := func(i int, code, want string) {
		t.Helper()
		if res[i].Code != code {
			t.Fatalf("call %d %v: %s %q, want %s", i, calls[i], res[i].Code, res[i].Message, code)
		}
		if want != "" && !strings.Contains(statusOf(i)+res[i].Message, want) {
			t.Fatalf("call %d %v: got %q / %q, want %q", i, calls[i], statusOf(i), res[i].Message, want)
		}
	}
	check(0, "OK", "3:AVAILABLE:0 2:AVAILABLE:0")
	check(1, "OK", "2:AVAILABLE:0")
	check(2, "NOT_FOUND", "could not find version 1")
	check(3, "NOT_FOUND", "")
	check(4, "OK", "")
	v, out := predicted(4)
	if v != float64(2) {
		t.Fatalf("stable served version %v", v)
	}
	same(t, "stable before", out, predictions(t, ms[2], [][]float32{{1, 2, 3, 4}}))
	check(5, "INVALID_ARGUMENT", "Unrecognized servable version label: nope")
	check(6, "OK", "")
	check(7, "OK", "2:AVAILABLE:0 1:AVAILABLE:0")
	check(8, "OK", "4:AVAILABLE:0")
	check(9, "OK", "")
	if v, out = predicted(9); v != float64(1) {
		t.Fatalf("stable served version %v after the reload", v)
	}
	same(t, "stable after", out, predictions(t, ms[1], [][]float32{{1, 2, 3, 4}}))
	check(10, "FAILED_PRECONDITION", "not currently available")
	check(11, "PERMISSION_DENIED", "outside the folder reloads may use")
	check(12, "INVALID_ARGUMENT", "custom_model_config")
	check(13, "PERMISSION_DENIED", "outside the folder reloads may use") // dir/../..
	check(14, "INVALID_ARGUMENT", "not a folder")                        // inside, but missing
}

// TestStatusAndMetadataAsTFServing compares GET /v1/models/NAME and its
// /metadata, field by field, with the JSON TF Serving's REST handler
// prints for the same SavedModel (its protos, printed by protobuf's JSON
// printer with TF Serving's options), for a model Go exported and one
// Python's tf.saved_model.save wrote.
func TestStatusAndMetadataAsTFServing(t *testing.T) {
	dir := t.TempDir()
	goBase := filepath.Join(dir, "gomodel")
	export(t, goBase, 3, 1)
	pyBase := filepath.Join(dir, "pymodel")
	var probs map[string]any
	if err := pyref.Run("export_savedmodel.py", map[string]any{"dir": filepath.Join(pyBase, "7"), "x": [][]float32{{1, 2, 3}}}, &probs); err != nil {
		t.Fatal(err)
	}
	_, hs := start(t, Config{Models: []ModelConfig{{Name: "gomodel", BasePath: goBase}, {Name: "pymodel", BasePath: pyBase}}, Isolation: IsolationNone})
	for _, c := range []struct {
		name    string
		version int64
	}{{"gomodel", 3}, {"pymodel", 7}} {
		var want map[string]any
		if err := pyref.Run("tfserving_json.py", map[string]any{"dir": filepath.Join(dir, c.name, fmt.Sprint(c.version)), "name": c.name, "version": c.version}, &want); err != nil {
			t.Fatal(err)
		}
		for _, part := range []struct{ key, path string }{{"status", ""}, {"metadata", "/metadata"}} {
			code, got := call(t, "GET", hs.URL+"/v1/models/"+c.name+part.path, "")
			if code != 200 {
				t.Fatalf("%s%s: %d %v", c.name, part.path, code, got)
			}
			if diffs := jsonDiff("", got, want[part.key]); len(diffs) > 0 {
				t.Errorf("%s %s differs from TF Serving's:\n%s", c.name, part.key, strings.Join(diffs, "\n"))
			}
		}
	}
	// The status TF Serving's REST guide shows for its half_plus_three example.
	_, got := call(t, "GET", hs.URL+"/v1/models/gomodel", "")
	doc := map[string]any{"model_version_status": []any{map[string]any{"version": "3", "state": "AVAILABLE",
		"status": map[string]any{"error_code": "OK", "error_message": ""}}}}
	if diffs := jsonDiff("", got, doc); len(diffs) > 0 {
		t.Errorf("status differs from TF Serving's guide:\n%s", strings.Join(diffs, "\n"))
	}
}

// jsonDiff lists where two decoded JSON values differ, by path.
func jsonDiff(path string, got, want any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %T %v, want an object", path, got, got)}
		}
		var out []string
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing (want %v)", path, k, wv))
				continue
			}
			out = append(out, jsonDiff(path+"."+k, gv, wv)...)
		}
		for k, gv := range g {
			if _, ok := w[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: extra field %v", path, k, gv))
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
		}
		var out []string
		for i := range w {
			out = append(out, jsonDiff(fmt.Sprintf("%s[%d]", path, i), g[i], w[i])...)
		}
		return out
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
	}
	return nil
}

// TestReloadUnderLoad swaps version policies and adds and removes a model
// while clients keep asking: a label whose version stays loaded always
// answers, the newest version always answers, and a model taken out
// answers 404 (503 while it loads again), never another 5xx or a crash.
// Run it with -race.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	base, other := filepath.Join(dir, "m"), filepath.Join(dir, "other")
	threeVersions(t, base)
	export(t, other, 1, 5)
	cfgA := []ModelConfig{{Name: "m", BasePath: base, Policy: VersionPolicy{Specific: []int64{1, 2}}, Labels: map[string]int64{"stable": 2}},
		{Name: "other", BasePath: other}}
	cfgB := []ModelConfig{{Name: "m", BasePath: base, Policy: VersionPolicy{Specific: []int64{2, 3}}, Labels: map[string]int64{"stable": 2}}}
	srv, hs := start(t, Config{Models: cfgA, Isolation: IsolationNone})
	stop := make(chan struct{})
	errs := make(chan string, 100)
	body := `{"instances": [[1, 2, 3, 4]]}`
	var done sync.WaitGroup
	for _, c := range []struct {
		path string
		ok   []int
	}{
		{"/v1/models/m/labels/stable:predict", []int{200}},
		{"/v1/models/m:predict", []int{200}},
		{"/v1/models/other:predict", []int{200, 404, 503}}, // 503 while it loads again
		{"/v1/models/m/versions/1:predict", []int{200, 404}},
	} {
		done.Add(1)
		go func() {
			defer done.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					if n == 0 {
						errs <- c.path + ": no request ran"
					}
					return
				default:
				}
				resp, err := http.Post(hs.URL+c.path, "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err.Error()
					return
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !slices.Contains(c.ok, resp.StatusCode) {
					errs <- fmt.Sprintf("%s: %d %s", c.path, resp.StatusCode, raw)
					return
				}
			}
		}()
	}
	for i := 0; i < 6; i++ {
		cfg := cfgB
		if i%2 == 1 {
			cfg = cfgA
		}
		if err := srv.Reload(cfg); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	close(stop)
	done.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestRemovedModelStopsItsWorker: under process isolation a model taken
// out of the configuration unloads its versions, and its worker process,
// which holds a TensorFlow runtime of its own, ends with them: a
// configuration that changes its models over time does not pile up idle
// processes.
func TestRemovedModelStopsItsWorker(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	export(t, a, 1, 1)
	export(t, b, 1, 2)
	srv, _ := start(t, Config{Models: []ModelConfig{{Name: "a", BasePath: a}}})
	ps := srv.reg.load.(*processes)
	worker := func(group string) *proc {
		ps.mu.Lock()
		g := ps.groups[group]
		ps.mu.Unlock()
		if g == nil {
			return nil
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.p
	}
	p := worker("a")
	if p == nil {
		t.Fatal("a has no worker")
	}
	if err := srv.Reload([]ModelConfig{{Name: "b", BasePath: b}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-p.done:
			if err := syscall.Kill(p.cmd.Process.Pid, 0); err == nil {
				t.Fatalf("a's worker %d still runs", p.cmd.Process.Pid)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("model a was removed 20s ago; its worker (pid %d) still runs", p.cmd.Process.Pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRelativeBasePathScrubbed: a version that fails to load reports its
// error, with the version folder's path in it as the loader joined it
// (cleaned: ./models/m reads models/m/2). That path is scrubbed however
// the configuration spelled the base path.
func TestRelativeBasePathScrubbed(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "models", "secret-place")
	export(t, base, 1, 1)
	os.MkdirAll(filepath.Join(base, "2"), 0o755)
	os.WriteFile(filepath.Join(base, "2", "saved_model.pb"), []byte("not a SavedModel"), 0o644)
	t.Chdir(dir)
	for _, p := range []string{"./models/secret-place", "models/../models/secret-place", "models//secret-place", "models/secret-place/"} {
		_, hs := start(t, Config{Models: []ModelConfig{{Name: "m", BasePath: p, Policy: VersionPolicy{All: true}}}, Isolation: IsolationNone})
		code, st := call(t, "GET", hs.URL+"/v1/models/m/versions/2", "")
		if s := fmt.Sprint(st); code != 200 || !strings.Contains(s, "END") || strings.Contains(s, "secret-place") {
			t.Errorf("base path %q: %d %s", p, code, s)
		}
	}
}

// A reload's base paths must lie in the reload root once symbolic links
// are resolved: a link inside the root to a folder outside it is outside.
func TestReloadRootConfines(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a", "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	r, err := reloadRoot("", []ModelConfig{{BasePath: filepath.Join(root, "a")}})
	if err != nil || r != resolve(root) {
		t.Fatalf("root %q, %v; want %q", r, err, resolve(root))
	}
	for path, want := range map[string]bool{
		filepath.Join(root, "a"):                  true,
		filepath.Join(root, "new", "b"):           true, // not there yet, but inside
		filepath.Join(root, "a", "..", "..", "x"): false,
		filepath.Join(root, "link"):               false,
		filepath.Join(root, "link", "m"):          false,
		outside:                                   false,
		"/":                                       false,
		root + "-sibling":                         false,
	} {
		if got := within(r, path); got != want {
			t.Errorf("within(%q, %q) = %v, want %v", r, path, got, want)
		}
	}
	two, err := reloadRoot("", []ModelConfig{{BasePath: filepath.Join(root, "a")}, {BasePath: filepath.Join(outside, "b")}})
	if err != nil || !within(two, root) || !within(two, outside) {
		t.Fatalf("the root of two models %q, %v", two, err)
	}
}

// A reload that moves a model to a new base path keeps the old version
// serving until the new one is loaded, so requests meanwhile are answered
// (issue 23: about 900 got 503 while reloads alternated between two
// paths); a new path that cannot load leaves the old one serving.
func TestBasePathChangeKeepsServing(t *testing.T) {
	dir := t.TempDir()
	a, b, broken := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "broken")
	ma, mb := export(t, a, 1, 1), export(t, b, 2, 2)
	if err := os.MkdirAll(filepath.Join(broken, "3"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, "3", "saved_model.pb"), []byte("not a SavedModel"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, hs := start(t, Config{Models: []ModelConfig{{Name: "m", BasePath: a}}})
	body := `{"instances": [[1, 2, 3, 4]]}`
	done := hammer(hs.URL+"/v1/models/m:predict", body, 4)
	for i := range 6 {
		path := b
		if i%2 == 1 {
			path = a
		}
		if err := srv.Reload([]ModelConfig{{Name: "m", BasePath: path}}); err != nil {
			t.Fatal(err)
		}
	}
	if served, failed := done(); failed != 0 || served == 0 {
		t.Fatalf("while reloads alternated base paths: %d answers failed, %d served", failed, served)
	}
	want := predictions(t, ma, [][]float32{{1, 2, 3, 4}})
	code, out := call(t, "POST", hs.URL+"/v1/models/m:predict", body)
	if code != 200 {
		t.Fatalf("%d %v", code, out)
	}
	same(t, "served from a after the last reload", flatten(out["predictions"]), want)
	// A path whose only version cannot load: a keeps serving.
	if err := srv.Reload([]ModelConfig{{Name: "m", BasePath: broken}}); err != nil {
		t.Fatal(err)
	}
	code, out = call(t, "POST", hs.URL+"/v1/models/m:predict", body)
	if code != 200 {
		t.Fatalf("after a reload to a broken path: %d %v", code, out)
	}
	same(t, "still served from a", flatten(out["predictions"]), want)
	// Back to b: served from b.
	if err := srv.Reload([]ModelConfig{{Name: "m", BasePath: b}}); err != nil {
		t.Fatal(err)
	}
	_, out = call(t, "POST", hs.URL+"/v1/models/m:predict", body)
	same(t, "served from b", flatten(out["predictions"]), predictions(t, mb, [][]float32{{1, 2, 3, 4}}))
}
