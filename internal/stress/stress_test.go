package stress

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/internal/pyref"
)

// seconds is GOTF_STRESS_SECONDS, or def.
func seconds(def float64) time.Duration {
	if s, err := strconv.ParseFloat(os.Getenv("GOTF_STRESS_SECONDS"), 64); err == nil && s > 0 {
		def = s
	}
	return time.Duration(def * float64(time.Second))
}

func fixture(t *testing.T) *Fixture {
	t.Helper()
	root, err := pyref.Root()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Prepare(filepath.Join(root, ".cache", "stress"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestPredictUnderForcedGC is make stress in short (30 s): 16 goroutines call
// Predict on the Python-made model while the collector runs without
// pause, and a single output that differs from Python's fails it. With
// the result copied through a slice over C memory that nothing kept alive
// (the bug of issue 22), such a run read other calls' values within
// seconds.
func TestPredictUnderForcedGC(t *testing.T) {
	f := fixture(t)
	r, err := Run(context.Background(), f, Config{Goroutines: 16, Duration: seconds(30), ForceGC: true, Warmup: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r.Summary())
	if err := r.Check(-1); err != nil {
		t.Fatal(err)
	}
	if r.Calls < 100 {
		t.Fatalf("only %d calls", r.Calls)
	}
}

// Check cannot pass a run that checked less than it was asked to.
func TestCheckRefusesShortRuns(t *testing.T) {
	for name, r := range map[string]Result{
		"wrong":         {Calls: 10, Wrong: 1, FirstWrong: "x"},
		"no calls":      {},
		"short":         {Requested: 100, Calls: 99},
		"interrupted":   {Calls: 5, Interrupted: true},
		"no warm-up":    {Calls: 5},
		"grew past 15%": {Calls: 5, WarmRSS: 100, MaxRSS: 116, EndRSS: 100},
	} {
		if err := r.Check(0.15); err == nil {
			t.Errorf("%s: Check passed %+v", name, r)
		}
	}
	ok := Result{Requested: 5, Calls: 5, WarmRSS: 100, MaxRSS: 114, EndRSS: 100}
	if err := ok.Check(0.15); err != nil {
		t.Errorf("a good run: %v", err)
	}
}
