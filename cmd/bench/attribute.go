package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/tfgo-project/gotf/tfwrap/profile"
)

// profileSteps is how many training steps each side traces.
const profileSteps = 10

// kerasProfile is what scripts/keras_profile.py reports of Keras's traced
// steps, per step in µs.
type kerasProfile struct {
	Steps  int                `json:"steps"`
	WallUS float64            `json:"wall_us"`
	BusyUS float64            `json:"busy_us"`
	Kernel float64            `json:"kernel_us"`
	Ops    map[string]float64 `json:"ops"`
}

// attribute splits Go's lead over Keras on a training case into what
// comes from the kernels (Keras's kernels are busy longer per step:
// fusions, other kernels) and what from the time around them (Keras's
// step overhead), in µs per step:
//
//	step = busy + overhead, on each side,
//	step_keras - step_go = (busy_keras - busy_go) + (overhead_keras - overhead_go).
//
// Steps are the untraced ones of the timed run (batch / samples per
// second), busy the traced ones' mean. It prints an ATTRIB line, then the
// op types that differ most.
func attribute(c string, batch int, goRate, kerasRate float64, g profile.Table, k kerasProfile) {
	if goRate <= 0 || kerasRate <= 0 || g.Steps == 0 || k.Steps == 0 {
		return
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	goStep := float64(batch) / goRate * 1e6
	kStep := float64(batch) / kerasRate * 1e6
	goBusy := us(g.Busy) / float64(g.Steps)
	fromKernels := k.BusyUS - goBusy
	fromOverhead := (kStep - k.BusyUS) - (goStep - goBusy)
	fmt.Printf("ATTRIB case=%s go_step_us=%.0f keras_step_us=%.0f go_busy_us=%.0f keras_busy_us=%.0f from_kernels_us=%.0f from_overhead_us=%.0f\n",
		c, goStep, kStep, goBusy, k.BusyUS, fromKernels, fromOverhead)
	goOps := map[string]float64{}
	for _, r := range g.Rows {
		goOps[r.Type] = us(r.Total) / float64(g.Steps)
	}
	types := map[string]bool{}
	for t := range goOps {
		types[t] = true
	}
	for t := range k.Ops {
		types[t] = true
	}
	var rows []string
	for t := range types {
		rows = append(rows, t)
	}
	sort.Slice(rows, func(i, j int) bool {
		di, dj := k.Ops[rows[i]]-goOps[rows[i]], k.Ops[rows[j]]-goOps[rows[j]]
		return max(di, -di) > max(dj, -dj)
	})
	fmt.Printf("#   %s kernel µs per step by op type, largest differences first (op type: go keras)\n", c)
	for _, t := range rows[:min(8, len(rows))] {
		fmt.Printf("#     %-32s %8.0f %8.0f\n", t, goOps[t], k.Ops[t])
	}
}
