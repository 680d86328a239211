package serving

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/tfwrap/profile"
)

// TestServingProfile: with ProfileDir, each version's first ProfileRuns
// predicts after warm-up are traced, under both isolations, and
// DIR/MODEL/VERSION gets a Chrome trace of exactly those runs (the fused
// Dense kernels in it) and the op table. Warm-up runs are not counted,
// later requests do not grow the files, and answers are unchanged.
func TestServingProfile(t *testing.T) {
	for _, iso := range []Isolation{IsolationNone, IsolationProcess} {
		t.Run(string(iso), func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "clf")
			m := export(t, base, 1, 5)
			dir := filepath.Join(t.TempDir(), "prof")
			_, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, Isolation: iso,
				ProfileDir: dir, ProfileRuns: 3})
			rows := [][]float32{{1, 2, 3, 4}, {0.5, -1, 2, 0}}
			want := predictions(t, m, rows)
			out := filepath.Join(dir, "clf", "1")
			for i := range 5 {
				code, body := call(t, "POST", hs.URL+"/v1/models/clf:predict", `{"instances": [[1,2,3,4],[0.5,-1,2,0]]}`)
				if code != 200 {
					t.Fatalf("predict %d: %d %v", i, code, body)
				}
				same(t, fmt.Sprintf("predict %d", i), flatten(body["predictions"]), want)
				_, err := os.Stat(filepath.Join(out, "trace.json"))
				if written := err == nil; written != (i >= 2) {
					t.Fatalf("after predict %d: trace.json written %v (%v)", i, written, err)
				}
			}
			raw, err := os.ReadFile(filepath.Join(out, "trace.json"))
			if err != nil {
				t.Fatal(err)
			}
			var tr profile.Trace
			if err := json.Unmarshal(raw, &tr); err != nil {
				t.Fatalf("trace.json: %v", err)
			}
			steps, fused := 0, 0
			for _, e := range tr.TraceEvents {
				if e.Pid == 0 && e.Ph == "X" {
					steps++
				}
				if profile.Canonical(e.Cat) == "_FusedMatMul" {
					fused++
				}
			}
			if steps != 3 || fused != 2*3 {
				t.Errorf("trace has %d steps and %d _FusedMatMul kernels, want 3 and 6", steps, fused)
			}
			table, err := os.ReadFile(filepath.Join(out, "ops.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(table), "3 traced steps") || !strings.Contains(string(table), "FusedMatMul") {
				t.Errorf("ops.txt:\n%s", table)
			}
		})
	}
}

func TestServingProfileBadConfig(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 5)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir  string
		runs int
		want string
	}{
		{t.TempDir(), maxProfileRuns + 1, "profile runs 1001"},
		{t.TempDir(), -1, "profile runs -1"},
		{filepath.Join(file, "sub"), 3, "profile dir"},
	} {
		_, err := New(Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, Isolation: IsolationNone, Poll: -1,
			ProfileDir: c.dir, ProfileRuns: c.runs})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("dir %s runs %d: error %v, want %q", c.dir, c.runs, err, c.want)
		}
	}
}

// TestServingBadThreads: a pool size below 0 or past maxThreads is an
// error naming the pool, before any model loads.
func TestServingBadThreads(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 5)
	for _, c := range []struct {
		intra, inter int
		want         string
	}{{-1, 0, "intra-op threads -1"}, {0, maxThreads + 1, fmt.Sprintf("inter-op threads %d", maxThreads+1)}} {
		_, err := New(Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, Isolation: IsolationNone, Poll: -1,
			IntraOpThreads: c.intra, InterOpThreads: c.inter})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("intra %d inter %d: error %v, want %q", c.intra, c.inter, err, c.want)
		}
	}
}

// TestServingProfileDotNames: a model named "." or ".." would put its
// profile outside ProfileDir/MODEL (DIR/../1/trace.json) or share another
// model's folder; such names are refused, as they are path segments no URL
// keeps either.
func TestServingProfileDotNames(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 5)
	for _, name := range []string{".", ".."} {
		if ValidModelName(name) {
			t.Errorf("ValidModelName(%q) = true", name)
		}
		root := t.TempDir()
		s, err := New(Config{Models: []ModelConfig{{Name: name, BasePath: base}}, Isolation: IsolationNone, Poll: -1,
			ProfileDir: filepath.Join(root, "prof"), ProfileRuns: 1})
		if err == nil {
			s.Close()
			t.Errorf("model name %q: accepted", name)
		}
	}
	for _, name := range []string{"a.b", "..a", "v1.0"} {
		if !ValidModelName(name) {
			t.Errorf("ValidModelName(%q) = false", name)
		}
	}
}
