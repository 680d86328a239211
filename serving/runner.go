package serving

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

// runner runs one loaded model version: in this process (localRunner) or
// in a worker process (remoteRunner).
type runner interface {
	signatures() []*savedmodels.Signature
	// predict runs signature key. Only the outputs named in filter are
	// returned (all when it is empty); outputs over maxOut bytes in all
	// are an errTooLarge.
	predict(ctx context.Context, key string, in map[string]Tensor, filter []string, maxOut int64) (map[string]Tensor, error)
	// down says why the runner cannot serve now (its worker is
	// restarting), or nil.
	down() error
	close() error
}

// loadOptions say how a version is loaded, wherever it runs.
type loadOptions struct {
	dir       string
	batchRows int
	batchWait time.Duration
	// warmup runs each signature once after loading, within timeout.
	warmup  bool
	timeout time.Duration
	// profileDir, when set, traces the first profileRuns unbatched
	// predicts after warm-up and writes profileDir/MODEL/VERSION/
	// trace.json and ops.txt.
	profileDir  string
	profileRuns int
	// loadTimeout, in process, bounds restoring the variables and running
	// the init op: TensorFlow cancels them past it (ConfigProto
	// operation_timeout_in_ms), so a hung init does not keep a thread
	// burning. A worker needs none: it is killed.
	loadTimeout time.Duration
	// spin lets TensorFlow's pool threads spin while they wait for work
	// (Config.ThreadSpinning); set by the process's first session.
	spin bool
	// intraOp and interOp size TensorFlow's thread pools (0: one thread
	// per core), set once per process by its first session.
	intraOp, interOp int
	// bf16 runs the version's matrix ops in bfloat16
	// (savedmodels.LoadOptions.BFloat16).
	bf16 bool
	// mem, in process, is charged for each answer's outputs (to the
	// request's hold) before they are copied out of TensorFlow.
	mem *memory
}

// localRunner is a version loaded into this process.
type localRunner struct {
	model *savedmodels.Model
	batch *batcher // nil without batching
	sigs  []*savedmodels.Signature
	// warmTimeout bounds each warm-up run (the request timeout).
	warmTimeout time.Duration
	prof        *runProfiler // nil unless profiling
	mem         *memory      // charged for answers, in process
}

func loadLocal(o loadOptions, name string, m *metrics) (*localRunner, error) {
	model, err := savedmodels.LoadWith(o.dir, savedmodels.LoadOptions{RunTimeout: o.loadTimeout, NoThreadSpinning: !o.spin,
		IntraOpThreads: o.intraOp, InterOpThreads: o.interOp, BFloat16: o.bf16})
	if err != nil {
		return nil, err
	}
	l := &localRunner{model: model, sigs: model.Signatures(), warmTimeout: o.timeout, mem: o.mem}
	if o.batchRows > 1 {
		l.batch = newBatcher(name, model, o.batchRows, o.batchWait, m)
	}
	if o.warmup {
		// The model's own warm-up requests if it has them, as TF Serving;
		// else one run of each signature on zeros.
		_, had, err := l.replayWarmup(o.dir)
		if err != nil {
			l.close()
			return nil, err
		}
		if !had {
			l.warmup()
		}
	}
	if o.profileDir != "" && o.profileRuns > 0 {
		l.prof = newRunProfiler(filepath.Join(o.profileDir, name, filepath.Base(o.dir)), o.profileRuns)
	}
	return l, nil
}

// warmup runs every signature once on zeros (a dimension of any size
// taken as 1, an input of any rank as a vector of one), so the first
// request does not pay for TensorFlow's lazy initialisation, and a
// version that crashes on an ordinary input is found before it serves.
// An error from TensorFlow (the model may want other values) is not a
// failure; only a crash is, and that ends the process.
func (l *localRunner) warmup() {
	for _, sig := range l.sigs {
		in := map[string]Tensor{}
		for _, t := range sig.Inputs {
			dims := []int64{1}
			if t.Shape != nil {
				dims = make([]int64, len(t.Shape))
				for i, d := range t.Shape {
					dims[i] = max(d, 1)
				}
			}
			z := Tensor{DType: t.DType, Shape: dims}
			n := z.numElements()
			if n < 0 || n > 1<<20 || !t.DType.Valid() {
				in = nil
				break
			}
			if t.DType == tfwrap.String {
				z.Strings = make([]string, n)
			} else {
				z.Data = make([]byte, n*int64(t.DType.ByteSize()))
			}
			in[t.Name] = z
		}
		if in != nil {
			ctx, cancel := context.WithTimeout(context.Background(), max(l.warmTimeout, time.Millisecond))
			l.predict(ctx, sig.Key, in, nil, 0)
			cancel()
		}
	}
}

func (l *localRunner) signatures() []*savedmodels.Signature { return l.sigs }
func (l *localRunner) down() error                          { return nil }

// predict runs within ctx's deadline: TensorFlow cancels the run when it
// passes.
func (l *localRunner) predict(ctx context.Context, key string, in map[string]Tensor, filter []string, maxOut int64) (map[string]Tensor, error) {
	var timeout time.Duration
	if d, ok := ctx.Deadline(); ok {
		if timeout = time.Until(d); timeout <= 0 {
			return nil, fmt.Errorf("%w: no time left to run the model", errDeadline)
		}
	}
	sig, err := l.model.Signature(key)
	if err != nil {
		return nil, err
	}
	feeds := make(map[string]*tfwrap.Tensor, len(in))
	for name, t := range in {
		if feeds[name], err = t.toTF(); err != nil {
			return nil, fmt.Errorf("%w: input %q: %v", savedmodels.ErrBadInput, name, err)
		}
	}
	// The outputs are charged to the request before they are copied out
	// of TensorFlow's memory, and refused past the limits, so that many
	// large answers at once get 413 or 429, not a process out of memory.
	charged := false
	admit := func(n int64) error {
		if maxOut > 0 && n > maxOut {
			return fmt.Errorf("%w: the response would hold %d bytes of outputs, more than the limit of %d", errTooLarge, n, maxOut)
		}
		if err := holdOf(ctx).take(l.mem, n); err != nil {
			return fmt.Errorf("the model's answer of %d bytes: %w", n, err)
		}
		charged = true
		return nil
	}
	var keep map[string]*tfwrap.Tensor
	if l.batch != nil && len(filter) == 0 && batchable(sig) {
		keep, err = l.batch.predict(key, feeds, timeout)
	} else if md := l.prof.take(); md != nil {
		start := time.Now()
		keep, err = l.model.PredictWith(key, feeds, savedmodels.PredictOptions{Timeout: timeout, Outputs: filter,
			Metadata: md, PartitionGraphs: l.prof.wantGraphs(), AdmitOutputs: admit})
		l.prof.done(md, time.Since(start), err)
	} else {
		keep, err = l.model.PredictWith(key, feeds, savedmodels.PredictOptions{Timeout: timeout, Outputs: filter, AdmitOutputs: admit})
	}
	if err != nil {
		return nil, err
	}
	var total int64
	for _, t := range keep {
		total += tfByteSize(t)
	}
	if maxOut > 0 && total > maxOut {
		return nil, fmt.Errorf("%w: the response would hold %d bytes of outputs, more than the limit of %d", errTooLarge, total, maxOut)
	}
	if !charged { // batched: the batcher copied the outputs out
		if err := holdOf(ctx).take(l.mem, total); err != nil {
			return nil, fmt.Errorf("the model's answer of %d bytes: %w", total, err)
		}
	}
	out := make(map[string]Tensor, len(keep))
	total = 0
	for name, t := range keep {
		if out[name], err = fromTF(t); err != nil {
			return nil, fmt.Errorf("output %q: %w", name, err)
		}
		total += out[name].byteSize() // strings are only known now
	}
	if maxOut > 0 && total > maxOut {
		return nil, fmt.Errorf("%w: the response would hold %d bytes of outputs, more than the limit of %d", errTooLarge, total, maxOut)
	}
	return out, nil
}

// close stops the batcher and closes the model after its runs finish.
func (l *localRunner) close() error {
	if l.batch != nil {
		l.batch.stop()
	}
	l.prof.finish()
	return l.model.Close()
}
