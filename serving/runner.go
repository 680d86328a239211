package serving

import (
	"context"
	"fmt"
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
	dir        string
	runTimeout time.Duration // TensorFlow cancels a run past it
	batchRows  int
	batchWait  time.Duration
	warmup     bool
}

// localRunner is a version loaded into this process.
type localRunner struct {
	model *savedmodels.Model
	batch *batcher // nil without batching
	sigs  []*savedmodels.Signature
}

func loadLocal(o loadOptions, name string, m *metrics) (*localRunner, error) {
	model, err := savedmodels.LoadWith(o.dir, savedmodels.LoadOptions{RunTimeout: o.runTimeout})
	if err != nil {
		return nil, err
	}
	l := &localRunner{model: model, sigs: model.Signatures()}
	if o.batchRows > 1 {
		l.batch = newBatcher(name, model, o.batchRows, o.batchWait, m)
	}
	if o.warmup {
		l.warmup()
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
			l.predict(context.Background(), sig.Key, in, nil, 0)
		}
	}
}

func (l *localRunner) signatures() []*savedmodels.Signature { return l.sigs }
func (l *localRunner) down() error                          { return nil }

func (l *localRunner) predict(_ context.Context, key string, in map[string]Tensor, filter []string, maxOut int64) (map[string]Tensor, error) {
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
	var res map[string]*tfwrap.Tensor
	if l.batch != nil && batchable(sig) {
		res, err = l.batch.predict(key, feeds)
	} else {
		res, err = l.model.Predict(key, feeds)
	}
	if err != nil {
		return nil, err
	}
	keep := res
	if len(filter) > 0 {
		keep = make(map[string]*tfwrap.Tensor, len(filter))
		for _, f := range filter {
			t, ok := res[f]
			if !ok {
				return nil, fmt.Errorf("%w: output_filter names %q, which signature %q lacks", savedmodels.ErrBadInput, f, key)
			}
			keep[f] = t
		}
	}
	var total int64
	for _, t := range keep {
		total += tfByteSize(t)
	}
	if maxOut > 0 && total > maxOut {
		return nil, fmt.Errorf("%w: the response would hold %d bytes of outputs, more than the limit of %d", errTooLarge, total, maxOut)
	}
	out := make(map[string]Tensor, len(keep))
	for name, t := range keep {
		if out[name], err = fromTF(t); err != nil {
			return nil, fmt.Errorf("output %q: %w", name, err)
		}
	}
	return out, nil
}

// close stops the batcher and closes the model after its runs finish.
func (l *localRunner) close() error {
	if l.batch != nil {
		l.batch.stop()
	}
	return l.model.Close()
}
