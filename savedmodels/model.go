package savedmodels

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/tfgo-project/gotf/internal/cpuinfo"
	"github.com/tfgo-project/gotf/internal/suggest"
	"github.com/tfgo-project/gotf/tfwrap"
)

// ErrClosed is tfwrap.ErrClosed: every method of a closed Model returns
// an error wrapping it.
var ErrClosed = tfwrap.ErrClosed

// DefaultSignature is tfwrap.DefaultSignature, "serving_default": the
// signature key TF Serving calls by default, and the one models' Export
// writes.
const DefaultSignature = tfwrap.DefaultSignature

// Model is a loaded SavedModel: one Session, shared by all callers.
type Model struct {
	mu     sync.RWMutex
	dir    string
	sess   *tfwrap.Session
	sigs   map[string]*Signature
	closed bool
	// pool: Predict hands ops to TensorFlow's inter-op pool rather than
	// running them in the caller's thread (InterOpThreads > 0, or a
	// RunTimeout, which TensorFlow enforces only there).
	pool bool
}

// Load loads the SavedModel in dir with the given tags ("serve" when none
// are given). A missing folder, a truncated saved_model.pb, a missing
// variables file or a SavedModel without the tags is an error.
func Load(dir string, tags ...string) (*Model, error) {
	return LoadWith(dir, LoadOptions{Tags: tags})
}

// LoadOptions configures LoadWith; the zero value means Load's defaults.
type LoadOptions struct {
	Tags []string // "serve" when empty
	// RunTimeout bounds each Predict: TensorFlow cancels a run still going
	// after it (and the restore and init ops at load). 0: no bound.
	RunTimeout time.Duration
	// IntraOpThreads and InterOpThreads size TensorFlow's thread pools
	// (0: TensorFlow's default, one thread per core; see
	// tfwrap.WithThreads: TensorFlow sizes them once per process, from
	// the first session). Unless InterOpThreads > 0, a Predict without a
	// timeout (RunTimeout, PredictOptions.Timeout) runs the ops in the
	// caller's thread (tfwrap.RunOptions.Inline), kernels still
	// splitting big work over the intra-op pool: on 2 cores that took a
	// batch-1 CNN from about 390 to 270 µs (README, "Threads: measured, not assumed").
	IntraOpThreads, InterOpThreads int
	// NoThreadSpinning stops TensorFlow's pool threads spinning while
	// they wait for work (tfwrap.WithThreadSpinning(false)); set once per
	// process, by the first session. A server whose goroutines share the
	// cores with TensorFlow wants it.
	NoThreadSpinning bool
	// BFloat16 runs the model's matrix ops in bfloat16 through Grappler's
	// oneDNN rewrite (tfwrap.WithBFloat16), inputs and outputs keeping
	// their dtypes: faster, with values rounded to bfloat16's 8
	// significant bits where it applies. It needs oneDNN and a CPU with
	// AVX512-BF16 or AMX-BF16; elsewhere LoadWith says so
	// (cpuinfo.ErrNoBFloat16).
	BFloat16 bool
}

// sessionOptions are the session options of opts.
func (opts LoadOptions) sessionOptions() ([]tfwrap.SessionOption, error) {
	if err := tfwrap.CheckThreads(opts.IntraOpThreads, opts.InterOpThreads); err != nil {
		return nil, fmt.Errorf("savedmodels: %w", err)
	}
	so := []tfwrap.SessionOption{tfwrap.WithRunTimeout(opts.RunTimeout)}
	if opts.IntraOpThreads != 0 || opts.InterOpThreads != 0 {
		so = append(so, tfwrap.WithThreads(opts.IntraOpThreads, opts.InterOpThreads))
	}
	if opts.NoThreadSpinning {
		so = append(so, tfwrap.WithThreadSpinning(false))
	}
	if opts.BFloat16 {
		if err := cpuinfo.BFloat16(); err != nil {
			return nil, fmt.Errorf("savedmodels: %w", err)
		}
		so = append(so, tfwrap.WithBFloat16(true))
	}
	return so, nil
}

// LoadWith is Load with options.
func LoadWith(dir string, opts LoadOptions) (*Model, error) {
	so, err := opts.sessionOptions()
	if err != nil {
		return nil, err
	}
	l, err := load(dir, opts.Tags, so...)
	if err != nil {
		return nil, fmt.Errorf("savedmodels: %w", err)
	}
	return &Model{dir: dir, sess: l.sess, sigs: l.sigs, pool: opts.InterOpThreads > 0 || opts.RunTimeout > 0}, nil
}

// Dir returns the folder the model was loaded from.
func (m *Model) Dir() string { return m.dir }

// Signatures returns the model's signatures, sorted by key.
func (m *Model) Signatures() []*Signature {
	var out []*Signature
	for _, s := range m.sigs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Signature returns the signature with the given key ("" means
// DefaultSignature, as in TF Serving).
func (m *Model) Signature(key string) (*Signature, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, fmt.Errorf("savedmodels: model %q is %w", m.dir, ErrClosed)
	}
	return m.signature(key)
}

func (m *Model) signature(key string) (*Signature, error) {
	if key == "" {
		key = DefaultSignature
	}
	s, ok := m.sigs[key]
	if !ok {
		var keys []string
		for k := range m.sigs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		hint := ""
		if near := suggest.Closest(key, keys); near != "" {
			hint = fmt.Sprintf("; did you mean %q?", near)
		}
		return nil, fmt.Errorf("%w: %q (the model has %q%s)", ErrSignatureNotFound, key, keys, hint)
	}
	return s, nil
}

// Predict runs signature key on the named inputs and returns every output
// by name. Inputs are checked against the signature first (Signature.Check).
func (m *Model) Predict(key string, inputs map[string]*tfwrap.Tensor) (map[string]*tfwrap.Tensor, error) {
	return m.PredictWith(key, inputs, PredictOptions{})
}

// PredictOptions configure PredictWith; the zero value means Predict.
type PredictOptions struct {
	// Timeout cancels the run if TensorFlow is still at it after this
	// long (the error wraps tfwrap.ErrRunTimeout). 0: no bound.
	Timeout time.Duration
	// Outputs names the outputs to compute and return (all when empty);
	// an unknown name is an ErrBadInput.
	Outputs []string
	// Metadata, when not nil, traces the run: TensorFlow's per-op
	// timings (a software trace) and, with PartitionGraphs, the graphs it
	// ran land in it (see tfwrap.RunOptions). Trace only the runs you
	// profile: the timings cost a little per op.
	Metadata        *tfwrap.RunMetadata
	PartitionGraphs bool
	// AdmitOutputs, when set, is called with the outputs' total size
	// before they are copied out of TensorFlow (tfwrap.RunOptions
	// AdmitFetches); its error ends the Predict.
	AdmitOutputs func(bytes int64) error
}

// PredictWith is Predict with options. An input TensorFlow itself refuses
// (INVALID_ARGUMENT from a kernel) is an ErrBadInput too.
func (m *Model) PredictWith(key string, inputs map[string]*tfwrap.Tensor, opts PredictOptions) (map[string]*tfwrap.Tensor, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, fmt.Errorf("savedmodels: model %q is %w", m.dir, ErrClosed)
	}
	sig, err := m.signature(key)
	if err != nil {
		return nil, err
	}
	specs := make(map[string]Spec, len(inputs))
	for name, t := range inputs {
		if t == nil {
			return nil, badInput("input %q is nil", name)
		}
		specs[name] = Spec{DType: t.DType(), Shape: t.Shape()}
	}
	if err := sig.Check(specs); err != nil {
		return nil, err
	}
	feeds := tfwrap.Feeds{}
	for _, in := range sig.Inputs {
		feeds[in.out] = inputs[in.Name]
	}
	outs := sig.Outputs
	if len(opts.Outputs) > 0 {
		outs = make([]TensorInfo, 0, len(opts.Outputs))
		for _, name := range opts.Outputs {
			i := slices.IndexFunc(sig.Outputs, func(o TensorInfo) bool { return o.Name == name })
			if i < 0 {
				return nil, badInput("signature %q has no output %q", key, name)
			}
			outs = append(outs, sig.Outputs[i])
		}
	}
	fetch := make([]tfwrap.Output, len(outs))
	for i, out := range outs {
		fetch[i] = out.out
	}
	ro := tfwrap.RunOptions{Timeout: opts.Timeout, Inline: !m.pool, AdmitFetches: opts.AdmitOutputs}
	if opts.Metadata != nil {
		ro.Trace, ro.PartitionGraphs, ro.Metadata = tfwrap.SoftwareTrace, opts.PartitionGraphs, opts.Metadata
	}
	res, err := m.sess.RunWith(ro, feeds, fetch)
	if errors.Is(err, tfwrap.ErrInvalidArgument) {
		return nil, fmt.Errorf("savedmodels: predict %q: %w: %w", key, ErrBadInput, err)
	}
	if err != nil {
		return nil, fmt.Errorf("savedmodels: predict %q: %w", key, err)
	}
	out := make(map[string]*tfwrap.Tensor, len(res))
	for i, r := range res {
		out[outs[i].Name] = r
	}
	return out, nil
}

// Close releases the model's session, after the Predicts in progress. It
// is idempotent.
func (m *Model) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	return m.sess.Close()
}
