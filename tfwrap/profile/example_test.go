package profile_test

import (
	"fmt"
	"time"

	"github.com/tfgo-project/gotf/tfwrap/profile"
)

// The table of a step traced on two threads (see synthetic): the kernels
// sum to 190 µs, more than the 140 µs during which one was running.
// A traced run of your own graph gives the metadata:
//
//	var md tfwrap.RunMetadata
//	start := time.Now()
//	_, err := sess.RunWith(tfwrap.RunOptions{Trace: tfwrap.FullTrace, PartitionGraphs: true, Metadata: &md}, feeds, fetches)
//	err = p.Add(&md, time.Since(start))
func ExampleProfile() {
	var p profile.Profile
	if err := p.Add(synthetic(), 250*time.Microsecond); err != nil {
		panic(err)
	}
	fmt.Print(p.Table())
	// Output:
	// 1 traced steps, per step: wall 250.0 µs, span 210.0 µs (first op start to last op end), busy 140.0 µs (union of kernel intervals), kernel 190.0 µs (summed over threads)
	// kernel_share = busy / wall = 56.0%   parallelism = kernel / busy = 1.36
	// op type    count     total µs   share    mean µs
	// MatMul         2        170.0   89.5%       85.0
	// ?              1         10.0    5.3%       10.0
	// Relu           1         10.0    5.3%       10.0
}
