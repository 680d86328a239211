// Package stress calls savedmodels.Predict from many goroutines in one
// process on a model that Python TensorFlow made, checks every output
// against Python's, and samples the process's memory: the check that
// results can be trusted under concurrent load (no value read after its
// memory was freed or reused) and that memory stays flat.
//
// The model takes two inputs, "a" (16 floats a row) and "b" (8), and
// returns "probs" (3 floats a row) and "wide" (4096 floats a row: the
// hidden layer tiled, cheap to compute, so that a 64-row answer is 1 MB:
// a large copy is the widest window for a use-after-free). Inputs come in fixed sets of 1 to 64 rows; Python
// computes each set's outputs once, through the same SavedModel. The
// large sets fetch both outputs, the small ones "probs" alone.
package stress

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tfgo-project/gotf/internal/procmem"
	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

// Rows are the batch sizes of the input sets, one set each: small ones, as
// a service mostly sees, and a last, large one that also fetches "wide"
// (a 1 MB answer). Every WideEvery-th call of a goroutine takes the large
// set and the others cycle through the small ones (which fetch "probs"
// alone), so that a run reaches millions of calls in minutes.
var Rows = []int{1, 1, 1, 2, 3, 5, 8, 64}

// WideEvery is how often a goroutine's call takes the large set.
const WideEvery = 32

const (
	aCols, bCols = 16, 8
	probsCols    = 3
	wideCols     = 4096
	script       = "stress_model.py"
)

// set is one input set and Python's outputs for it.
type set struct {
	rows        int
	a, b        []float32
	probs, wide []float32
}

// Fixture is the SavedModel and its reference outputs.
type Fixture struct {
	Dir  string // the SavedModel
	sets []set
}

// Prepare makes the model and its references under dir with Python (once:
// again only when the script changes) and loads them.
func Prepare(dir string) (*Fixture, error) {
	root, err := pyref.Root()
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(filepath.Join(root, "scripts", "reference", script))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append(src, fmt.Sprint(Rows)...))
	stamp := hex.EncodeToString(sum[:8])
	sets := inputs()
	model, refs := filepath.Join(dir, "model"), filepath.Join(dir, "refs.json")
	if b, err := os.ReadFile(filepath.Join(dir, "stamp")); err != nil || string(b) != stamp {
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		in := make([]map[string]any, len(sets))
		for i, s := range sets {
			in[i] = map[string]any{"rows": s.rows, "a": s.a, "b": s.b}
		}
		var out []map[string][]float32
		if err := pyref.Run(script, map[string]any{"dir": model, "sets": in}, &out); err != nil {
			return nil, err
		}
		raw, err := json.Marshal(out)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(refs, raw, 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "stamp"), []byte(stamp), 0o644); err != nil {
			return nil, err
		}
	}
	raw, err := os.ReadFile(refs)
	if err != nil {
		return nil, err
	}
	var out []map[string][]float32
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("stress: %s: %w", refs, err)
	}
	if len(out) != len(sets) {
		return nil, fmt.Errorf("stress: %s has %d sets, want %d", refs, len(out), len(sets))
	}
	for i := range sets {
		sets[i].probs, sets[i].wide = out[i]["probs"], out[i]["wide"]
		if len(sets[i].probs) != sets[i].rows*probsCols || len(sets[i].wide) != sets[i].rows*wideCols {
			return nil, fmt.Errorf("stress: %s: set %d has %d and %d outputs", refs, i, len(sets[i].probs), len(sets[i].wide))
		}
	}
	return &Fixture{Dir: model, sets: sets}, nil
}

// inputs makes the input sets, the same every time.
func inputs() []set {
	r := rand.New(rand.NewPCG(22, 7))
	out := make([]set, len(Rows))
	for i, n := range Rows {
		s := set{rows: n, a: make([]float32, n*aCols), b: make([]float32, n*bCols)}
		for j := range s.a {
			s.a[j] = float32(r.NormFloat64())
		}
		for j := range s.b {
			s.b[j] = float32(r.NormFloat64())
		}
		out[i] = s
	}
	return out
}

// Config is one stress run. The zero value of a field means its default.
type Config struct {
	Goroutines int           // callers (default 64)
	Duration   time.Duration // how long to call (default 30 s), unless Calls stops it first
	Calls      int64         // stop after this many calls (0: Duration alone)
	// ForceGC sets GOGC=1 and runs a goroutine that calls runtime.GC
	// without pause: memory is freed and reused as soon as it can be.
	ForceGC bool
	Warmup  time.Duration // RSS after this long is the baseline (default 10 s)
	Sample  time.Duration // how often RSS is sampled (default 10 s)
	Log     io.Writer     // progress lines, one per sample (nil: none)
}

// Sample is the process's memory at one moment.
type Sample struct {
	At     time.Duration
	Calls  int64
	RSS    int64 // resident set size, bytes
	GoHeap int64 // bytes of Go heap in use
	Wrong  int64
}

// Result is what a run saw.
type Result struct {
	Requested    int64 // Config.Calls: the calls asked for (0: a duration)
	Interrupted  bool  // the caller's context ended the run early
	Calls, Wrong int64
	FirstWrong   string // the first wrong value, described
	Elapsed      time.Duration
	Samples      []Sample
	WarmRSS      int64 // RSS at the end of the warm-up
	EndRSS       int64 // RSS at the end
	MaxRSS       int64 // the most RSS seen after the warm-up (read every second)
}

// Growth is the RSS at the end relative to the warm-up baseline (0.1 is
// +10%); 0 when the run ended before its warm-up.
func (r *Result) Growth() float64 {
	if r.WarmRSS == 0 {
		return 0
	}
	return float64(r.EndRSS)/float64(r.WarmRSS) - 1
}

// MaxGrowth is like Growth for the most RSS seen after the warm-up.
func (r *Result) MaxGrowth() float64 {
	if r.WarmRSS == 0 {
		return 0
	}
	return float64(r.MaxRSS)/float64(r.WarmRSS) - 1
}

// Run loads the fixture's model once and calls Predict from cfg's
// goroutines until the duration or call count is reached or ctx ends,
// checking every output against Python's.
func Run(ctx context.Context, f *Fixture, cfg Config) (*Result, error) {
	if cfg.Goroutines <= 0 {
		cfg.Goroutines = 64
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 30 * time.Second
	}
	if cfg.Warmup <= 0 {
		cfg.Warmup = 10 * time.Second
	}
	if cfg.Sample <= 0 {
		cfg.Sample = 10 * time.Second
	}
	m, err := savedmodels.Load(f.Dir)
	if err != nil {
		return nil, err
	}
	defer m.Close()

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	if cfg.ForceGC {
		defer debug.SetGCPercent(debug.SetGCPercent(1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				runtime.GC()
			}
		}()
	}

	res := &Result{Requested: cfg.Calls}
	var calls, wrong atomic.Int64
	var first sync.Once
	fail := func(msg string) {
		wrong.Add(1)
		first.Do(func() { res.FirstWrong = msg })
	}
	count := func() int64 { // calls made, not counting those refused past cfg.Calls
		n := calls.Load()
		if cfg.Calls > 0 {
			n = min(n, cfg.Calls)
		}
		return n
	}
	start := time.Now()
	for w := range cfg.Goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i++ {
				if n := calls.Add(1); cfg.Calls > 0 && n > cfg.Calls {
					cancel()
					return
				}
				k := i % (len(f.sets) - 1)
				if i%WideEvery == WideEvery-1 {
					k = len(f.sets) - 1
				}
				if msg := call(m, &f.sets[k], k == len(f.sets)-1); msg != "" {
					fail(fmt.Sprintf("goroutine %d, set %d: %s", w, k, msg))
				}
			}
		}()
	}

	tick := time.NewTicker(cfg.Sample)
	defer tick.Stop()
	peek := time.NewTicker(time.Second) // RSS peaks between samples
	defer peek.Stop()
	warm := time.NewTimer(cfg.Warmup)
	defer warm.Stop()
	sample := func() Sample {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s := Sample{At: time.Since(start), Calls: count(),
			RSS: rss(), GoHeap: int64(ms.HeapInuse), Wrong: wrong.Load()}
		res.Samples = append(res.Samples, s)
		if res.WarmRSS != 0 {
			res.MaxRSS = max(res.MaxRSS, s.RSS)
		}
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "stress: %6.0fs %11d calls %4d wrong  RSS %6.0f MB  Go heap %5.0f MB\n",
				s.At.Seconds(), s.Calls, s.Wrong, mb(s.RSS), mb(s.GoHeap))
		}
		return s
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-warm.C:
			res.WarmRSS = sample().RSS
			res.MaxRSS = res.WarmRSS
		case <-tick.C:
			sample()
		case <-peek.C:
			if res.WarmRSS != 0 {
				res.MaxRSS = max(res.MaxRSS, rss())
			}
		}
	}
	res.Elapsed = time.Since(start)
	res.Interrupted = parent.Err() != nil
	res.Calls, res.Wrong = count(), wrong.Load()
	end := sample()
	res.EndRSS = end.RSS
	return res, nil
}

// call runs one Predict on s with fresh input tensors, as a server makes
// them per request (fetching "wide" too when wide is set), and returns
// what was wrong, or "".
func call(m *savedmodels.Model, s *set, wide bool) string {
	a, err := tfwrap.NewTensor(s.a, int64(s.rows), aCols)
	if err != nil {
		return err.Error()
	}
	b, err := tfwrap.NewTensor(s.b, int64(s.rows), bCols)
	if err != nil {
		return err.Error()
	}
	checks := []struct {
		name string
		want []float32
	}{{"probs", s.probs}}
	if wide {
		checks = append(checks, struct {
			name string
			want []float32
		}{"wide", s.wide})
	}
	names := make([]string, len(checks))
	for i, c := range checks {
		names[i] = c.name
	}
	out, err := m.PredictWith("", map[string]*tfwrap.Tensor{"a": a, "b": b}, savedmodels.PredictOptions{Outputs: names})
	if err != nil {
		return err.Error()
	}
	if len(out) != len(checks) {
		return fmt.Sprintf("%d outputs, want %d", len(out), len(checks))
	}
	for _, o := range checks {
		got, err := out[o.name].Float32s()
		if err != nil {
			return fmt.Sprintf("%s: %v", o.name, err)
		}
		if len(got) != len(o.want) {
			return fmt.Sprintf("%s has %d values, want %d", o.name, len(got), len(o.want))
		}
		for i, g := range got {
			if w := o.want[i]; !(math.Abs(float64(g-w)) <= 1e-4*(1+math.Abs(float64(w)))) {
				return fmt.Sprintf("%s[%d] is %v, Python's is %v", o.name, i, g, w)
			}
		}
	}
	return ""
}

// rss returns the process's resident set size in bytes, or 0.
func rss() int64 {
	n, _ := procmem.RSS(0)
	return n
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// ErrWrong is returned by Check when a run saw a wrong value.
var ErrWrong = errors.New("stress: wrong values")

// Check returns an error when r saw a wrong value, made no call or fewer
// than it was asked for, was interrupted, or when its RSS grew past
// maxGrowth (0.15 is +15%) after the warm-up; maxGrowth < 0 skips the
// memory check, and a run that ends before its warm-up fails it.
func (r *Result) Check(maxGrowth float64) error {
	if r.Wrong > 0 {
		return fmt.Errorf("%w: %d of %d calls; first: %s", ErrWrong, r.Wrong, r.Calls, r.FirstWrong)
	}
	switch {
	case r.Interrupted:
		return fmt.Errorf("stress: interrupted after %d calls", r.Calls)
	case r.Calls == 0:
		return errors.New("stress: no call was made")
	case r.Requested > 0 && r.Calls < r.Requested:
		return fmt.Errorf("stress: %d calls of the %d asked for", r.Calls, r.Requested)
	case maxGrowth >= 0 && r.WarmRSS == 0:
		return errors.New("stress: the run ended before its warm-up (or RSS cannot be read), so memory was not checked")
	}
	if maxGrowth >= 0 && r.MaxGrowth() > maxGrowth {
		return fmt.Errorf("stress: RSS grew from %.0f MB after the warm-up to %.0f MB (+%.1f%%, bound +%.0f%%)",
			mb(r.WarmRSS), mb(r.MaxRSS), 100*r.MaxGrowth(), 100*maxGrowth)
	}
	return nil
}

// Summary is one line for a person: calls, wrong values, RSS.
func (r *Result) Summary() string {
	s := fmt.Sprintf("%d calls in %.0f s (%.0f/s), %d wrong", r.Calls, r.Elapsed.Seconds(), float64(r.Calls)/r.Elapsed.Seconds(), r.Wrong)
	if r.WarmRSS > 0 {
		s += fmt.Sprintf("; RSS %.0f MB after the warm-up, %.0f MB at the end (%+.1f%%), at most %.0f MB (%+.1f%%)",
			mb(r.WarmRSS), mb(r.EndRSS), 100*r.Growth(), mb(r.MaxRSS), 100*r.MaxGrowth())
	}
	return s
}
