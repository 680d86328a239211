package tfwrap

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stressFor is how long the forced-GC tests run: GOTF_STRESS_SECONDS, or
// short in make test.
func stressFor(short time.Duration) time.Duration {
	if s, err := strconv.ParseFloat(os.Getenv("GOTF_STRESS_SECONDS"), 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	return short
}

// TestConcurrentRunsUnderForcedGC is the use-after-free of issue 22 as it
// was found: goroutines share one session of y = x + 0 over a 4 MB feed,
// each feeding its own value and reading its result while the collector
// runs without pause. When a result was a C tensor read through the
// bindings' WriteContentsTo (a Go slice over C memory, the tensor not kept
// alive), its finalizer could free it mid-copy: workers read each other's
// values within a second, then the process died in TF_TensorByteSize. Now
// no Go slice points into a C tensor; this must report 0 wrong values.
func TestConcurrentRunsUnderForcedGC(t *testing.T) {
	const workers, n = 8, 1 << 20
	g := NewGraph()
	x := g.Placeholder("x", Float32, n)
	y := g.Add(x, g.Scalar(0, Float32))
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	sess, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	defer debug.SetGCPercent(debug.SetGCPercent(1))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the collector, as often as it can go
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	}()

	var calls, wrong atomic.Int64
	var first atomic.Value
	deadline := time.Now().Add(stressFor(2 * time.Second))
	var workersWG sync.WaitGroup
	for w := range workers {
		workersWG.Add(1)
		go func() {
			defer workersWG.Done()
			want := float32(w + 1)
			in := make([]float32, n)
			for i := range in {
				in[i] = want
			}
			for time.Now().Before(deadline) {
				feed, err := NewTensor(in, n) // a fresh tensor per call, as a server makes
				if err != nil {
					first.CompareAndSwap(nil, err.Error())
					wrong.Add(1)
					return
				}
				res, err := sess.Run(Feeds{x: feed}, []Output{y})
				if err != nil {
					first.CompareAndSwap(nil, err.Error())
					wrong.Add(1)
					return
				}
				got, err := res[0].Float32s()
				calls.Add(1)
				if err != nil {
					first.CompareAndSwap(nil, err.Error())
					wrong.Add(1)
					continue
				}
				for _, i := range []int{0, n / 2, n - 1} {
					if got[i] != want {
						first.CompareAndSwap(nil, fmt.Sprintf("worker %d: element %d is %v, want %v", w, i, got[i], want))
						wrong.Add(1)
						break
					}
				}
			}
		}()
	}
	workersWG.Wait()
	close(stop)
	wg.Wait()
	t.Logf("%d calls of a 4 MB result under forced GC, %d wrong", calls.Load(), wrong.Load())
	if wrong.Load() > 0 {
		t.Fatalf("%d of %d results wrong; first: %v", wrong.Load(), calls.Load(), first.Load())
	}
	if calls.Load() < workers {
		t.Fatalf("only %d calls ran", calls.Load())
	}
}
