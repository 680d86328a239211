package profile_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/graph_go_proto"
	npb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	ssp "github.com/galeone/tensorflow/tensorflow/go/core/framework/step_stats_go_proto"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/profile"
)

// node is a NodeExecStats whose kernel runs from startUs to endUs after
// base, on thread tid.
func node(name, label string, tid uint32, base, startUs, endUs int64) *ssp.NodeExecStats {
	return &ssp.NodeExecStats{NodeName: name, TimelineLabel: label, ThreadId: tid,
		AllStartMicros: base / 1000, AllStartNanos: base,
		OpStartRelMicros: startUs, OpEndRelMicros: endUs, AllEndRelMicros: endUs + 1,
		OpStartRelNanos: startUs * 1000, OpEndRelNanos: endUs * 1000, AllEndRelNanos: (endUs + 1) * 1000}
}

// synthetic is a step of two threads: thread 1 runs a MatMul [0, 100) µs
// and a Relu [150, 160); thread 2 a MatMul [50, 120) and an op typed only
// by the partition graph [200, 210). Kernel 190 µs, busy [0,120) +
// [150,160) + [200,210) = 140 µs, span 210 µs.
func synthetic() *corepb.RunMetadata {
	const base = int64(1_700_000_000_000_000_000)
	return &corepb.RunMetadata{
		StepStats: &ssp.StepStats{DevStats: []*ssp.DeviceStepStats{{
			Device: "/device:CPU:0",
			NodeStats: []*ssp.NodeExecStats{
				node("_SOURCE", "_SOURCE = NoOp()", 1, base, 0, 5),
				node("dense/MatMul", "dense/MatMul = MatMul(x, w)", 1, base, 0, 100),
				node("dense_1/MatMul", "dense_1/MatMul = MatMul(x, v)", 2, base+50_000, 0, 70),
				node("relu", "relu = Relu(dense/MatMul)", 1, base+150_000, 0, 10),
				node("fused", "", 2, base+200_000, 0, 10),
			},
		}}},
		PartitionGraphs: []*gpb.GraphDef{},
	}
}

func TestProfileTableCounts(t *testing.T) {
	md := synthetic()
	var p profile.Profile
	if err := p.Add(md, 0); err != nil {
		t.Fatal(err)
	}
	// The second step has a measured wall time of 1 ms.
	if err := p.Add(md, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	tb := p.Table()
	us := time.Microsecond
	if tb.Steps != 2 || tb.Kernel != 2*190*us || tb.Busy != 2*140*us || tb.Wall != 210*us+time.Millisecond || tb.Span != 2*210*us {
		t.Fatalf("steps %d kernel %v busy %v wall %v; want 2, 380µs, 280µs, 1.21ms", tb.Steps, tb.Kernel, tb.Busy, tb.Wall)
	}
	if want := 280.0 / 1210; abs(tb.KernelShare-want) > 1e-9 {
		t.Errorf("kernel share %v, want busy/wall %v", tb.KernelShare, want)
	}
	if want := 380.0 / 280; abs(tb.Parallelism-want) > 1e-9 {
		t.Errorf("parallelism %v, want %v", tb.Parallelism, want)
	}
	want := []profile.Row{
		{Type: "MatMul", Count: 4, Total: 340 * us, Share: 340.0 / 380, Mean: 85 * us},
		{Type: "?", Count: 2, Total: 20 * us, Share: 20.0 / 380, Mean: 10 * us},
		{Type: "Relu", Count: 2, Total: 20 * us, Share: 20.0 / 380, Mean: 10 * us},
	}
	if len(tb.Rows) != len(want) {
		t.Fatalf("rows %+v, want %+v", tb.Rows, want)
	}
	for i, r := range tb.Rows {
		w := want[i]
		if r.Type != w.Type || r.Count != w.Count || r.Total != w.Total || r.Mean != w.Mean || abs(r.Share-w.Share) > 1e-9 {
			t.Errorf("row %d: %+v, want %+v", i, r, w)
		}
	}
	// The partition graph names the op the labels do not.
	md.PartitionGraphs = append(md.PartitionGraphs, &gpb.GraphDef{Node: []*npb.NodeDef{{Name: "fused", Op: "_FusedMatMul"}}})
	var q profile.Profile
	if err := q.Add(md, 0); err != nil {
		t.Fatal(err)
	}
	if r := q.Table().Rows; len(r) != 3 || r[2].Type != "_FusedMatMul" || r[2].Count != 1 {
		t.Errorf("typed from the partition graph: %+v", r)
	}
	// A later step of the same graph, without graphs, is typed alike.
	md.PartitionGraphs = nil
	if err := q.Add(md, 0); err != nil {
		t.Fatal(err)
	}
	if r := q.Table().Rows; len(r) != 3 || r[2].Type != "_FusedMatMul" || r[2].Count != 2 {
		t.Errorf("typed from an earlier step's partition graph: %+v", r)
	}
	if tb.UntracedSteps != 0 || tb.UntracedShare != 0 {
		t.Errorf("untraced steps %d, share %v, with none added", tb.UntracedSteps, tb.UntracedShare)
	}
	p.AddUntraced(200 * us)
	p.AddUntraced(400 * us)
	tb = p.Table()
	if tb.UntracedSteps != 2 || tb.Untraced != 600*us || abs(tb.UntracedShare-140.0/300) > 1e-9 {
		t.Errorf("untraced: %d steps, %v, share %v; want 2, 600µs, 140/300", tb.UntracedSteps, tb.Untraced, tb.UntracedShare)
	}
	s := tb.String()
	for _, line := range []string{"kernel_share = busy / wall = 23.1%", "MatMul", "op type", "busy / untraced wall = 46.7% (estimate)"} {
		if !strings.Contains(s, line) {
			t.Errorf("table lacks %q:\n%s", line, s)
		}
	}
	if err := p.Add(&corepb.RunMetadata{}, 0); !errors.Is(err, profile.ErrNoStepStats) {
		t.Errorf("untraced metadata: %v", err)
	}
	if err := p.Add(nil, 0); !errors.Is(err, profile.ErrNoStepStats) {
		t.Errorf("nil metadata: %v", err)
	}
}

func abs(x float64) float64 { return max(x, -x) }

// TestProfileTraceFromTF traces real steps and checks that trace.json is
// a Chrome trace (JSON object format): every event has a name, a phase,
// numeric pid and tid; complete events have ts and dur in µs from the
// first op, and name a process given by a process_name event; and the
// graph's ops are all there, typed.
func TestProfileTraceFromTF(t *testing.T) {
	g := tfwrap.NewGraph()
	x := g.Placeholder("x", tfwrap.Float32, -1, 64)
	w, err := tfwrap.NewTensor(make([]float32, 64*64), 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	// A bias of zeros would be folded away by Grappler, and MatMul+Relu
	// is no fusion pattern.
	ones := make([]float32, 64)
	for i := range ones {
		ones[i] = 1
	}
	b, err := tfwrap.NewTensor(ones, 64)
	if err != nil {
		t.Fatal(err)
	}
	y := g.Relu(g.BiasAdd(g.MatMul(x, g.Const(w)), g.Const(b)))
	// Another MatMul, not x·w again, which Grappler would merge with the
	// first (the MatMul then feeds two ops and is not fused).
	w2, err := tfwrap.NewTensor(ones[:64*64/64], 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	z := g.Tanh(g.MatMul(x, g.Const(w2)))
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	xt, err := tfwrap.NewTensor(make([]float32, 8*64), 8, 64)
	if err != nil {
		t.Fatal(err)
	}
	var p profile.Profile
	for range 3 {
		var md tfwrap.RunMetadata
		start := time.Now()
		if _, err := s.RunWith(tfwrap.RunOptions{Trace: tfwrap.FullTrace, PartitionGraphs: true, Metadata: &md},
			tfwrap.Feeds{x: xt}, []tfwrap.Output{y, z}); err != nil {
			t.Fatal(err)
		}
		if err := p.Add(&md, time.Since(start)); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "out", "profile")
	if err := p.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "trace.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		TraceEvents []map[string]any `json:"traceEvents"`
	}
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatalf("trace.json is not JSON: %v", err)
	}
	procs := map[float64]string{}
	for _, e := range tr.TraceEvents {
		if e["ph"] == "M" && e["name"] == "process_name" {
			procs[e["pid"].(float64)] = e["args"].(map[string]any)["name"].(string)
		}
	}
	types := map[string]int{}
	steps := 0
	laneEnd := map[[2]float64]float64{} // pid, tid → end of its last event
	for i, e := range tr.TraceEvents {
		name, ok := e["name"].(string)
		if !ok || name == "" {
			t.Fatalf("event %d has no name: %v", i, e)
		}
		pid, ok1 := e["pid"].(float64)
		_, ok2 := e["tid"].(float64)
		if !ok1 || !ok2 {
			t.Fatalf("event %d lacks a numeric pid or tid: %v", i, e)
		}
		switch e["ph"] {
		case "M":
		case "X":
			ts, ok1 := e["ts"].(float64)
			dur, ok2 := e["dur"]
			if !ok1 || ts < 0 || (ok2 && dur.(float64) < 0) {
				t.Fatalf("complete event %d has a bad ts or dur: %v", i, e)
			}
			if ts > 60e6 {
				t.Fatalf("event %d at %v µs: times are not from the first op", i, ts)
			}
			if _, ok := procs[pid]; !ok {
				t.Fatalf("event %d's pid %v has no process_name", i, pid)
			}
			// Events of one thread come in order and never overlap.
			k := [2]float64{pid, e["tid"].(float64)}
			if end, ok := laneEnd[k]; ok && ts < end-1e-6 {
				t.Fatalf("event %d (%v) starts at %v µs, before the end of the previous one of its thread, %v", i, name, ts, end)
			}
			d, _ := dur.(float64)
			laneEnd[k] = ts + d
			if e["cat"] == "step" {
				steps++
				continue
			}
			args, _ := e["args"].(map[string]any)
			op, _ := args["op"].(string)
			if op == "" || args["name"] != name {
				t.Fatalf("event %d's args lack the op type or name: %v", i, e)
			}
			types[profile.Canonical(op)]++
		default:
			t.Fatalf("event %d has phase %v", i, e["ph"])
		}
	}
	if steps != 3 {
		t.Errorf("%d step events, want 3", steps)
	}
	if !strings.Contains(strings.Join(mapKeys(procs), " "), "CPU:0") {
		t.Errorf("no CPU device among the processes: %v", procs)
	}
	// Grappler fuses MatMul+BiasAdd+Relu; the lone MatMul+Tanh stays.
	if types["_FusedMatMul"] != 3 || types["MatMul"] != 3 || types["Tanh"] != 3 {
		t.Errorf("op types in the trace: %v; want 3 _FusedMatMul, 3 MatMul, 3 Tanh", types)
	}
	table, err := os.ReadFile(filepath.Join(dir, "ops.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(table), "kernel_share") || !strings.Contains(string(table), "FusedMatMul") {
		t.Errorf("ops.txt:\n%s", table)
	}
	tb := p.Table()
	if tb.Busy > tb.Wall || tb.Busy > tb.Kernel || tb.KernelShare <= 0 || tb.KernelShare > 1 {
		t.Errorf("busy %v, kernel %v, wall %v, share %v: busy must be within both", tb.Busy, tb.Kernel, tb.Wall, tb.KernelShare)
	}
	t.Logf("\n%s", table)

	// A folder that cannot be made is an error.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFiles(filepath.Join(file, "profile")); err == nil {
		t.Error("writing under a file succeeded")
	}
}

func mapKeys(m map[float64]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestProfileTraceLanes: ops that overlap on one TensorFlow thread id go
// to separate lanes (tids); ops that do not share one.
func TestProfileTraceLanes(t *testing.T) {
	md := synthetic()
	for _, n := range md.StepStats.DevStats[0].NodeStats {
		n.ThreadId = 0 // as TF 2.21 reports on CPU
	}
	var p profile.Profile
	if err := p.Add(md, 0); err != nil {
		t.Fatal(err)
	}
	tid := map[string]int64{}
	for _, e := range p.Trace().TraceEvents {
		if e.Ph == "X" && e.Pid == 1 {
			tid[e.Name] = e.Tid
		}
	}
	// MatMul [0,100) and dense_1/MatMul [50,120) overlap; relu [150,160)
	// and fused [200,210) fit after them in the first lane.
	if tid["dense/MatMul"] == tid["dense_1/MatMul"] || tid["relu"] != tid["dense/MatMul"] || tid["fused"] != tid["dense/MatMul"] {
		t.Errorf("lanes %v", tid)
	}
}
