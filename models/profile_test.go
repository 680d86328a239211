package models

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/profile"
)

// traceSteps reads dir/trace.json and counts its step events, checking
// that every op event names its op type.
func traceSteps(t *testing.T, dir string) (steps int, types map[string]int) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "trace.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		TraceEvents []struct {
			Name, Ph, Cat string
			Args          map[string]any
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	types = map[string]int{}
	for _, e := range tr.TraceEvents {
		switch {
		case e.Ph == "X" && e.Cat == "step":
			steps++
		case e.Ph == "X":
			op, _ := e.Args["op"].(string)
			if op == "" || op == "?" {
				t.Errorf("event %s has no op type: %v", e.Name, e.Args)
			}
			types[profile.Canonical(op)]++
		}
	}
	return steps, types
}

// TestFitProfile: Fit traces the steps asked for after the warm-up, across
// epochs, trains as without, writes trace.json and ops.txt, traces every
// step there is when asked for more, and refuses options it cannot honour
// with an error, before training.
func TestFitProfile(t *testing.T) {
	d := toyData(t, 64, 1)
	dir := filepath.Join(t.TempDir(), "run", "profile")
	m := toyModel(t, 3)
	// 4 steps an epoch: 2 warm-up steps, then 5 traced ones, each
	// followed by an untraced one.
	o := fitOpts(3, 16, 1)
	o.Profile = ProfileOptions{Steps: 5, Dir: dir}
	hist, err := m.Fit(nil, d, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist.Epochs) != 3 {
		t.Fatalf("history %v", hist.Epochs)
	}
	steps, types := traceSteps(t, dir)
	if steps != 5 {
		t.Errorf("%d traced steps, want 5", steps)
	}
	// Dense+bias+ReLU and the optimizer's update are there, typed.
	if types["_FusedMatMul"] != 2*5 || types["ResourceApplyAdam"] != 4*5 {
		t.Errorf("op types %v: want 2 _FusedMatMul and 4 ResourceApplyAdam a step", types)
	}
	table, err := os.ReadFile(filepath.Join(dir, "ops.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(table), "5 traced steps") || !strings.Contains(string(table), "kernel_share = busy / wall") ||
		!strings.Contains(string(table), "5 untraced steps") {
		t.Errorf("ops.txt:\n%s", table)
	}

	// The same training, untraced, gives the same weights.
	ref := toyModel(t, 3)
	if _, err := ref.Fit(nil, d, fitOpts(3, 16, 1)); err != nil {
		t.Fatal(err)
	}
	got, err := m.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.GetWeights()
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		g, _ := got[i].Float32s()
		w, _ := want[i].Float32s()
		for j := range g {
			if g[j] != w[j] {
				t.Fatalf("weight %d differs from untraced training at %d: %v vs %v", i, j, g[j], w[j])
			}
		}
	}

	// More steps than the run has, no warm-up: steps 1 and 3 of 4 are
	// traced.
	all := filepath.Join(t.TempDir(), "all")
	o = fitOpts(1, 16, 1)
	o.Profile = ProfileOptions{Steps: 1000, Warmup: -1, Dir: all}
	if _, err := m.Fit(nil, d, o); err != nil {
		t.Fatal(err)
	}
	if steps, _ := traceSteps(t, all); steps != 2 {
		t.Errorf("%d traced steps of 4, want 2", steps)
	}

	// A folder that cannot be made, negative steps, no folder: errors.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []ProfileOptions{{Steps: 2, Dir: filepath.Join(file, "profile")}, {Steps: -1, Dir: dir}, {Steps: 2}} {
		o := fitOpts(1, 16, 1)
		o.Profile = p
		if _, err := m.Fit(nil, d, o); err == nil || !strings.Contains(err.Error(), "profil") {
			t.Errorf("profile %+v: %v, want an error", p, err)
		}
	}
	// And Fit still works after them.
	if _, err := m.Fit(nil, d, fitOpts(1, 16, 1)); err != nil {
		t.Fatal(err)
	}
}

// TestPredictProfile: Predict traces the batches asked for and returns
// what it returns untraced.
func TestPredictProfile(t *testing.T) {
	m := toyModel(t, 5)
	d := toyData(t, 50, 2)
	x := d.x[0]
	dir := filepath.Join(t.TempDir(), "predict")
	got, err := m.Predict(x, PredictOptions{BatchSize: 10, Profile: ProfileOptions{Steps: 2, Warmup: 1, Dir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Predict(x, PredictOptions{BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := got.Float32s()
	w, _ := want.Float32s()
	if len(g) != 150 || len(g) != len(w) {
		t.Fatalf("%d and %d predictions", len(g), len(w))
	}
	for i := range g {
		if g[i] != w[i] {
			t.Fatalf("prediction %d: %v traced, %v not", i, g[i], w[i])
		}
	}
	steps, types := traceSteps(t, dir)
	// The softmax is TensorFlow's op, or exp(x - max) / sum where oneDNN
	// runs (layers' softmax).
	softmax := types["Softmax"] == 2
	if on, _ := tfwrap.OneDNN(); on {
		softmax = types["Exp"] == 2 && types["RealDiv"] == 2 && types["Softmax"] == 0
	}
	if steps != 2 || types["_FusedMatMul"] != 2*2 || !softmax {
		t.Errorf("%d steps, op types %v; want 2 steps of 2 _FusedMatMul and a softmax", steps, types)
	}
	// Fewer batches than the warm-up: the files say no step was traced.
	none := filepath.Join(t.TempDir(), "none")
	if _, err := m.Predict(x, PredictOptions{BatchSize: 64, Profile: ProfileOptions{Steps: 3, Dir: none}}); err != nil {
		t.Fatal(err)
	}
	if steps, _ := traceSteps(t, none); steps != 0 {
		t.Errorf("%d steps traced of a 1-batch Predict with warm-up 2", steps)
	}
	if _, err := m.Predict(x, PredictOptions{Profile: ProfileOptions{Steps: 1}}); err == nil {
		t.Error("profiling without a folder: no error")
	}
}
