// Package profile turns the per-op timings TensorFlow records for traced
// steps (RunMetadata.step_stats, from tfwrap.RunOptions{Trace: FullTrace})
// into a Chrome trace (trace.json, for Perfetto or chrome://tracing) and a
// table of op types by kernel time (ops.txt).
//
// # How time is counted
//
// Each op TensorFlow ran has a kernel interval: from op_start to op_end
// (NodeExecStats op_start_rel and op_end_rel after all_start, in
// nanoseconds when TensorFlow filled them, else microseconds). It leaves
// out the executor's bookkeeping around the kernel (all_end_rel - op_end:
// output allocation, scheduling the next ops).
//
//   - Kernel time is the sum of the ops' kernel intervals, over every
//     device and thread. Ops run in parallel on the inter-op threads, so
//     on a machine of n cores it can reach n times the wall time; it is
//     what the table's op types share.
//   - Busy time is the length of the union of those intervals: the time
//     at least one kernel was running. It cannot exceed the wall time.
//   - Wall time is the step's duration as the caller measured it around
//     the Run call (Add's wall argument); when the caller gives none,
//     the span. It includes tracing's own cost (recording each op's
//     timings, returning the metadata), so a traced step is slower than
//     an untraced one, and KernelShare errs low: compare the wall with
//     the untraced step time (AddUntraced, Table.UntracedShare).
//   - Span is from the first op's start to the last op's end: the wall
//     time without the Go, cgo and session set-up around the executor.
//
// KernelShare is busy / wall: the fraction of the step during which
// TensorFlow was computing anything. It is at most 1, and 1 - KernelShare
// is the floor's complement: time spent outside kernels (Go, cgo, the
// session's setup of the step, the executor's scheduling, idle threads).
// kernel / wall would count two parallel kernels twice and can pass 1, so
// it says nothing about overhead; Parallelism (kernel / busy) reports that
// separately.
package profile

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
)

// Op is one kernel execution of a traced step.
type Op struct {
	Device string // TensorFlow's device name
	Thread uint32 // TensorFlow's thread id (thread_id)
	Name   string // the node's name
	Type   string // its op type (MatMul, _FusedConv2D, …)
	// Start is nanoseconds since the Unix epoch (TensorFlow's clock);
	// Dur is the kernel's duration (op_end - op_start).
	Start int64
	Dur   time.Duration
}

// Step is one traced step.
type Step struct {
	Ops []Op
	// Wall is the caller's measure of the step, or Span.
	Wall time.Duration
	// Span is from the first op's start to the last op's end.
	Span time.Duration
	// Busy is the union of the ops' intervals; Kernel their sum.
	Busy, Kernel time.Duration
	start, end   int64 // the ops' span, ns
}

// Profile collects traced steps. The zero value is empty and ready.
type Profile struct {
	steps    []Step
	untraced []time.Duration
	types    map[string]string // node name → op type, from partition graphs
}

// ErrNoStepStats: the RunMetadata holds no timings (the run was not
// traced).
var ErrNoStepStats = errors.New("profile: the run metadata has no step stats (run with tfwrap.RunOptions{Trace: tfwrap.FullTrace})")

// Add records one traced step. wall is the step's duration as measured
// around the Run call; 0 uses the span of its ops. Op types come from the
// partition graphs of this step or an earlier one, when a run asked for
// them (RunOptions.PartitionGraphs: once is enough for steps of the same
// graph), else from TensorFlow's timeline labels ("name = Type(inputs)").
func (p *Profile) Add(md *corepb.RunMetadata, wall time.Duration) error {
	if md == nil || md.GetStepStats() == nil || len(md.GetStepStats().GetDevStats()) == 0 {
		return ErrNoStepStats
	}
	if p.types == nil {
		p.types = map[string]string{}
	}
	p.AddGraphs(md)
	types := p.types
	var st Step
	for _, dev := range md.GetStepStats().GetDevStats() {
		for _, ns := range dev.GetNodeStats() {
			name := ns.GetNodeName()
			if name == "_SOURCE" || name == "_SINK" {
				continue
			}
			var start, end int64
			if ns.GetAllStartNanos() != 0 {
				start = ns.GetAllStartNanos() + ns.GetOpStartRelNanos()
				end = ns.GetAllStartNanos() + ns.GetOpEndRelNanos()
			} else {
				start = (ns.GetAllStartMicros() + ns.GetOpStartRelMicros()) * 1000
				end = (ns.GetAllStartMicros() + ns.GetOpEndRelMicros()) * 1000
			}
			if end < start {
				end = start
			}
			st.Ops = append(st.Ops, Op{Device: dev.GetDevice(), Thread: ns.GetThreadId(), Name: name,
				Type: opType(name, ns.GetTimelineLabel(), types), Start: start, Dur: time.Duration(end - start)})
		}
	}
	if len(st.Ops) == 0 {
		return ErrNoStepStats
	}
	st.measure()
	if wall > 0 {
		st.Wall = wall
	}
	p.steps = append(p.steps, st)
	return nil
}

// AddUntraced records the wall time of an untraced step of the same
// graph, measured as Add's wall: the step time tracing does not inflate,
// for the table's untraced estimate.
func (p *Profile) AddUntraced(wall time.Duration) { p.untraced = append(p.untraced, wall) }

// AddGraphs learns the op types of the nodes of md's partition graphs,
// for the steps Add records: from an untraced run of the same graph that
// asked for them (RunOptions.PartitionGraphs), so that no traced step
// pays for serializing the graph.
func (p *Profile) AddGraphs(md *corepb.RunMetadata) {
	if p.types == nil {
		p.types = map[string]string{}
	}
	for _, g := range md.GetPartitionGraphs() {
		for _, n := range g.GetNode() {
			p.types[n.GetName()] = n.GetOp()
		}
	}
}

// measure computes the step's kernel and busy time and span.
func (st *Step) measure() {
	iv := make([][2]int64, len(st.Ops))
	for i, o := range st.Ops {
		iv[i] = [2]int64{o.Start, o.Start + int64(o.Dur)}
		st.Kernel += o.Dur
	}
	slices.SortFunc(iv, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	st.start, st.end = iv[0][0], iv[0][1]
	cur := iv[0]
	for _, v := range iv[1:] {
		st.end = max(st.end, v[1])
		if v[0] > cur[1] {
			st.Busy += time.Duration(cur[1] - cur[0])
			cur = v
		} else {
			cur[1] = max(cur[1], v[1])
		}
	}
	st.Busy += time.Duration(cur[1] - cur[0])
	st.Span = time.Duration(st.end - st.start)
	st.Wall = st.Span
}

// opType is a node's op type: from the partition graphs, else parsed from
// TensorFlow's timeline label "name = Type(inputs)", else "?".
func opType(name, label string, types map[string]string) string {
	if t, ok := types[name]; ok {
		return t
	}
	// Async kernels on some devices are named "node:Type".
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		if t, ok := types[name[:i]]; ok {
			return t
		}
	}
	if _, rest, ok := strings.Cut(label, " = "); ok {
		if i := strings.IndexAny(rest, "([ "); i > 0 {
			return rest[:i]
		}
		if rest != "" {
			return rest
		}
	}
	return "?"
}

// Steps returns the traced steps, in the order added.
func (p *Profile) Steps() []Step { return p.steps }

// Len is the number of traced steps.
func (p *Profile) Len() int { return len(p.steps) }

// Row is one op type of a Table.
type Row struct {
	Type  string
	Count int           // kernel executions, over all steps
	Total time.Duration // their summed kernel time
	Share float64       // Total / the table's Kernel
	Mean  time.Duration // Total / Count
}

// Table ranks op types by total kernel time, over all traced steps.
type Table struct {
	Rows  []Row // by Total, longest first
	Steps int
	// Sums over the steps (see the package documentation).
	Kernel, Busy, Wall, Span time.Duration
	// KernelShare is Busy / Wall; Parallelism is Kernel / Busy.
	KernelShare, Parallelism float64
	// Untraced sums the walls of UntracedSteps untraced steps
	// (AddUntraced). UntracedShare is the busy time of a traced step
	// over the wall of an untraced one, means of each: an estimate of
	// the kernel share of a step as it runs unprofiled. It assumes that
	// tracing does not slow the kernels themselves and, from two sets of
	// steps on a noisy machine, can pass 1.
	Untraced      time.Duration
	UntracedSteps int
	UntracedShare float64
}

// Table sums the profile by op type.
func (p *Profile) Table() Table {
	t := Table{Steps: len(p.steps)}
	by := map[string]*Row{}
	for _, st := range p.steps {
		t.Kernel += st.Kernel
		t.Busy += st.Busy
		t.Wall += st.Wall
		t.Span += st.Span
		for _, o := range st.Ops {
			r := by[o.Type]
			if r == nil {
				r = &Row{Type: o.Type}
				by[o.Type] = r
			}
			r.Count++
			r.Total += o.Dur
		}
	}
	for _, r := range by {
		r.Mean = r.Total / time.Duration(r.Count)
		if t.Kernel > 0 {
			r.Share = float64(r.Total) / float64(t.Kernel)
		}
		t.Rows = append(t.Rows, *r)
	}
	slices.SortFunc(t.Rows, func(a, b Row) int {
		if c := cmp.Compare(b.Total, a.Total); c != 0 {
			return c
		}
		return cmp.Compare(a.Type, b.Type)
	})
	if t.Wall > 0 {
		t.KernelShare = float64(t.Busy) / float64(t.Wall)
	}
	if t.Busy > 0 {
		t.Parallelism = float64(t.Kernel) / float64(t.Busy)
	}
	for _, w := range p.untraced {
		t.Untraced += w
	}
	t.UntracedSteps = len(p.untraced)
	if t.Untraced > 0 && t.Steps > 0 {
		t.UntracedShare = (float64(t.Busy) / float64(t.Steps)) / (float64(t.Untraced) / float64(t.UntracedSteps))
	}
	return t
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

// String prints the table: a header of per-step times and kernel_share,
// then one line per op type.
func (t Table) String() string {
	var b strings.Builder
	n := time.Duration(max(t.Steps, 1))
	fmt.Fprintf(&b, "%d traced steps, per step: wall %.1f µs, span %.1f µs (first op start to last op end), busy %.1f µs (union of kernel intervals), kernel %.1f µs (summed over threads)\n",
		t.Steps, us(t.Wall/n), us(t.Span/n), us(t.Busy/n), us(t.Kernel/n))
	fmt.Fprintf(&b, "kernel_share = busy / wall = %.1f%%   parallelism = kernel / busy = %.2f\n", 100*t.KernelShare, t.Parallelism)
	if t.UntracedSteps > 0 {
		fmt.Fprintf(&b, "%d untraced steps, wall %.1f µs per step: busy / untraced wall = %.1f%% (estimate)\n",
			t.UntracedSteps, us(t.Untraced/time.Duration(t.UntracedSteps)), 100*t.UntracedShare)
	}
	w := len("op type")
	for _, r := range t.Rows {
		w = max(w, len(r.Type))
	}
	fmt.Fprintf(&b, "%-*s %8s %12s %7s %10s\n", w, "op type", "count", "total µs", "share", "mean µs")
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "%-*s %8d %12.1f %6.1f%% %10.1f\n", w, r.Type, r.Count, us(r.Total), 100*r.Share, us(r.Mean))
	}
	return b.String()
}

// Event is one Chrome Trace Event Format event.
type Event struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"`
	Ts   float64        `json:"ts"`            // µs
	Dur  float64        `json:"dur,omitempty"` // µs, for "X"
	Pid  int            `json:"pid"`
	Tid  int64          `json:"tid"`
	Args map[string]any `json:"args,omitempty"`
}

// Trace is a Chrome trace in the JSON object format.
type Trace struct {
	TraceEvents     []Event `json:"traceEvents"`
	DisplayTimeUnit string  `json:"displayTimeUnit"`
}

// Trace lays the steps out as Chrome trace events: a process (pid) per
// device, an "X" complete event per kernel (name: the node, cat and
// args.op: its type), times in µs from the first traced op. Process 0,
// "steps", holds one event per step spanning its ops, with its wall,
// busy and kernel times.
//
// Threads (tid) are lanes: TensorFlow's thread id (thread_id), split so
// that no two events of a lane overlap, as trace viewers need. On CPU
// TensorFlow 2.21 reports thread 0 for every op, so the lanes show how
// many kernels ran at once, not which OS thread ran them.
func (p *Profile) Trace() Trace {
	tr := Trace{DisplayTimeUnit: "ms", TraceEvents: []Event{}}
	if len(p.steps) == 0 {
		return tr
	}
	origin := p.steps[0].start
	for _, st := range p.steps {
		origin = min(origin, st.start)
	}
	ts := func(ns int64) float64 { return float64(ns-origin) / 1e3 }
	meta := func(kind string, pid int, tid int64, name string) {
		tr.TraceEvents = append(tr.TraceEvents, Event{Name: kind, Ph: "M", Pid: pid, Tid: tid, Args: map[string]any{"name": name}})
	}
	meta("process_name", 0, 0, "steps")
	type thread struct {
		pid    int
		thread uint32
	}
	type lane struct {
		tid int64
		end int64 // the end of its last event, ns
	}
	pids := map[string]int{}
	lanes := map[thread][]lane{}
	tids := map[int]int64{} // lanes made per pid
	for i, st := range p.steps {
		tr.TraceEvents = append(tr.TraceEvents, Event{Name: fmt.Sprintf("step %d", i+1), Cat: "step", Ph: "X",
			Ts: ts(st.start), Dur: float64(st.end-st.start) / 1e3, Pid: 0, Tid: 0,
			Args: map[string]any{"wall_us": us(st.Wall), "span_us": us(st.Span), "busy_us": us(st.Busy), "kernel_us": us(st.Kernel)}})
		ops := slices.Clone(st.Ops)
		slices.SortStableFunc(ops, func(a, b Op) int { return cmp.Compare(a.Start, b.Start) })
		for _, o := range ops {
			pid, ok := pids[o.Device]
			if !ok {
				pid = len(pids) + 1
				pids[o.Device] = pid
				meta("process_name", pid, 0, o.Device)
			}
			k := thread{pid, o.Thread}
			end := o.Start + int64(o.Dur)
			j := slices.IndexFunc(lanes[k], func(l lane) bool { return l.end <= o.Start })
			if j < 0 {
				tid := tids[pid]
				tids[pid]++
				lanes[k] = append(lanes[k], lane{tid: tid})
				j = len(lanes[k]) - 1
				meta("thread_name", pid, tid, fmt.Sprintf("thread %d, lane %d", o.Thread, j))
			}
			lanes[k][j].end = end
			tr.TraceEvents = append(tr.TraceEvents, Event{Name: o.Name, Cat: o.Type, Ph: "X",
				Ts: ts(o.Start), Dur: us(o.Dur), Pid: pid, Tid: lanes[k][j].tid,
				Args: map[string]any{"name": o.Name, "op": o.Type, "step": i + 1, "thread": o.Thread}})
		}
	}
	return tr
}

// WriteTrace writes the Chrome trace JSON (see Trace).
func (p *Profile) WriteTrace(w io.Writer) error {
	enc := json.NewEncoder(w)
	return enc.Encode(p.Trace())
}

// WriteFiles writes dir/trace.json and dir/ops.txt (the Table), creating
// dir if need be.
func (p *Profile) WriteFiles(dir string) error {
	if dir == "" {
		return errors.New("profile: no folder to write to")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "trace.json"))
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if err := p.WriteTrace(f); err != nil {
		f.Close()
		return fmt.Errorf("profile: write trace: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ops.txt"), []byte(p.Table().String()), 0o644); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	return nil
}
