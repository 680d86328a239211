package tfwrap

import (
	"testing"
)

// TestRunWithTraceProfile: RunWith with Trace and PartitionGraphs fills
// Metadata with the step's per-op timings and the graphs TensorFlow ran;
// without Metadata it runs as before, and a plain run fills nothing.
func TestRunWithTraceProfile(t *testing.T) {
	g := NewGraph()
	a := g.Placeholder("a", Float32, -1, -1)
	b := g.Placeholder("b", Float32, -1, -1)
	y := g.Relu(g.MatMul(a, b))
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := mustTensor(t, []float32{1, -2, 3, 4}, 2, 2)
	feeds := Feeds{a: x, b: x}
	var md RunMetadata
	got, err := s.RunWith(RunOptions{Trace: FullTrace, PartitionGraphs: true, Metadata: &md}, feeds, []Output{y})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "relu(matmul)", floats(t, got[0]), []float64{0, 0, 15, 10}, 0)
	if len(md.GetStepStats().GetDevStats()) == 0 {
		t.Fatal("no step stats from a traced run")
	}
	names := map[string]bool{}
	for _, d := range md.GetStepStats().GetDevStats() {
		for _, n := range d.GetNodeStats() {
			names[n.GetNodeName()] = true
			t.Logf("%s %s thread=%d label=%q start=%d/%d op=%d..%d all_end=%d", d.GetDevice(), n.GetNodeName(), n.GetThreadId(), n.GetTimelineLabel(),
				n.GetAllStartMicros(), n.GetAllStartNanos(), n.GetOpStartRelNanos(), n.GetOpEndRelNanos(), n.GetAllEndRelNanos())
		}
	}
	if !names[y.Op().Name()] {
		t.Errorf("step stats have no node %s: %v", y.Op().Name(), names)
	}
	if len(md.GetPartitionGraphs()) == 0 {
		t.Error("no partition graphs")
	}
	for _, pg := range md.GetPartitionGraphs() {
		for _, n := range pg.GetNode() {
			t.Logf("partition node %s: %s", n.GetName(), n.GetOp())
		}
	}
	// The same Metadata is reset by the next run: untraced, no stats.
	if _, err := s.RunWith(RunOptions{Metadata: &md}, feeds, []Output{y}); err != nil {
		t.Fatal(err)
	}
	if md.GetStepStats() != nil || len(md.GetPartitionGraphs()) != 0 {
		t.Errorf("an untraced run left step stats or graphs: %v", md.GetStepStats())
	}
	// Tracing without Metadata runs and returns the same.
	if got, err = s.RunWith(RunOptions{Trace: SoftwareTrace}, feeds, []Output{y}); err != nil {
		t.Fatal(err)
	}
	assertClose(t, "traced, no metadata", floats(t, got[0]), []float64{0, 0, 15, 10}, 0)
}
