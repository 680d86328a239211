package tfwrap

/*
#cgo LDFLAGS: -ltensorflow
#include <stdlib.h>
#include "tensorflow/c/c_api.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// Every Run calls TF_SessionRun here rather than through the bindings'
// Session.Run, which passes no RunOptions and hands back tensors freed only
// by finalizers. The bindings' Session, Operation and Tensor each hold
// their C pointer as their first field (pinned module version
// v0.0.0-20221023090153-6b7fa0680c3e); tensorMirror mirrors Tensor whole
// to hand a C tensor to the bindings' API (Tensor.TF).

type tensorMirror struct {
	c     *C.TF_Tensor
	shape []int64
}

// The mirror must have the bindings' Tensor's size (a compile error if not).
var _ = [1]struct{}{}[unsafe.Sizeof(tf.Tensor{})-unsafe.Sizeof(tensorMirror{})]

func firstPtr[T any](p *T) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(p)) }

// RunOptions configure one Run. The zero value runs as Run does, through
// the bindings, with nothing extra to marshal or allocate.
type RunOptions struct {
	// Timeout cancels the run if it is still going after this long; the
	// Run then returns an error wrapping ErrRunTimeout. 0: no bound.
	Timeout time.Duration
	// Trace asks TensorFlow to record the step's per-op timings
	// (RunOptions.trace_level): SoftwareTrace or FullTrace fill
	// Metadata's step_stats. The timings cost a little per op, so trace
	// only the steps you profile.
	Trace TraceLevel
	// PartitionGraphs asks for the graphs TensorFlow actually ran, after
	// Grappler's rewrites (fusions, pruning), one per device, in
	// Metadata's partition_graphs (RunOptions.output_partition_graphs).
	PartitionGraphs bool
	// Metadata, when not nil, receives the step's RunMetadata after a
	// successful run: step_stats when tracing, partition_graphs when
	// asked, cost_graph when TensorFlow builds one. Its previous content
	// is replaced.
	Metadata *RunMetadata
	// Inline runs the step's ops in the calling thread instead of handing
	// each to TensorFlow's inter-op pool (RunOptions.inter_op_thread_pool
	// = -1); kernels still split big work over the intra-op pool. For a
	// small graph the hand-offs cost more than the ops: on 2 cores it cut
	// a batch-1 MLP predict from about 65 to 37 µs. A graph whose ops
	// could run side by side loses that parallelism. TensorFlow enforces
	// no timeout on an inline run, so Inline is ignored when Timeout is
	// set; do not ask for it on a session with WithRunTimeout either.
	Inline bool
	// AdmitFetches, when set, is called with the fetched results' total
	// size in TensorFlow's memory before they are copied into Go's; an
	// error frees them and ends the Run with it. A server bounds the
	// memory its answers take with it, before it takes it.
	AdmitFetches func(bytes int64) error
}

// RunMetadata is what TensorFlow reports about one step (the protobuf
// tensorflow.RunMetadata): step_stats, partition_graphs, cost_graph.
type RunMetadata = corepb.RunMetadata

// TraceLevel is TensorFlow's RunOptions.TraceLevel.
type TraceLevel int32

// The trace levels, as TensorFlow numbers them. SoftwareTrace records
// the executor's own per-op timings. FullTrace (TensorFlow 2.21) also
// starts TensorFlow's profiler for the step and converts its events to
// step stats: on CPU the same ops and timings, at a higher cost per step.
// Either way TensorFlow 2.21 reports thread_id 0 for every CPU op.
const (
	NoTrace       = TraceLevel(corepb.RunOptions_NO_TRACE)
	SoftwareTrace = TraceLevel(corepb.RunOptions_SOFTWARE_TRACE)
	HardwareTrace = TraceLevel(corepb.RunOptions_HARDWARE_TRACE)
	FullTrace     = TraceLevel(corepb.RunOptions_FULL_TRACE)
)

// ErrInvalidArgument: TensorFlow refused the run's inputs
// (INVALID_ARGUMENT), e.g. a shape a kernel does not take.
var ErrInvalidArgument = errors.New("tfwrap: invalid argument")

// run runs one step through TF_SessionRun. Each feed is copied into a C
// tensor for the step and freed after it; each result is copied into Go
// memory and its C tensor freed before run returns. The caller holds s.mu
// for reading and has checked feeds, fetches and targets.
func (s *Session) run(opts RunOptions, feeds Feeds, fetches []Output, targets []*Op) ([]*Tensor, error) {
	var buf *C.TF_Buffer
	if opts.Timeout > 0 || opts.Trace != 0 || opts.PartitionGraphs || opts.Metadata != nil || opts.Inline {
		ro := &corepb.RunOptions{}
		if opts.Timeout > 0 {
			ro.TimeoutInMs = max(1, opts.Timeout.Milliseconds())
		}
		ro.TraceLevel = corepb.RunOptions_TraceLevel(opts.Trace)
		ro.OutputPartitionGraphs = opts.PartitionGraphs
		if opts.Inline && opts.Timeout <= 0 {
			ro.InterOpThreadPool = -1
		}
		raw, err := proto.Marshal(ro)
		if err != nil {
			return nil, err
		}
		if len(raw) > 0 {
			buf = C.TF_NewBufferFromString(unsafe.Pointer(&raw[0]), C.size_t(len(raw)))
			defer C.TF_DeleteBuffer(buf)
		}
	}

	inputs := make([]C.TF_Output, 0, len(feeds))
	values := make([]*C.TF_Tensor, 0, len(feeds))
	defer func() {
		for _, c := range values {
			C.TF_DeleteTensor(c)
		}
	}()
	for o, t := range feeds {
		c, err := t.toC()
		if err != nil {
			return nil, fmt.Errorf("feed %s: %w", o.Name(), err)
		}
		values = append(values, c)
		inputs = append(inputs, cOutput(o.out))
	}
	outputs := make([]C.TF_Output, len(fetches))
	for i, o := range fetches {
		outputs[i] = cOutput(o.out)
	}
	results := make([]*C.TF_Tensor, len(fetches))
	ops := make([]*C.TF_Operation, len(targets))
	for i, op := range targets {
		ops[i] = (*C.TF_Operation)(firstPtr(op.op))
	}
	var meta *C.TF_Buffer
	if opts.Metadata != nil {
		meta = C.TF_NewBuffer()
		defer C.TF_DeleteBuffer(meta)
	}
	status := C.TF_NewStatus()
	defer C.TF_DeleteStatus(status)
	C.TF_SessionRun((*C.TF_Session)(firstPtr(s.s)), buf,
		ptr(inputs), ptr(values), C.int(len(inputs)),
		ptr(outputs), ptr(results), C.int(len(outputs)),
		ptr(ops), C.int(len(ops)), meta, status)
	runtime.KeepAlive(fetches)
	runtime.KeepAlive(targets)
	runtime.KeepAlive(s)
	if code := C.TF_GetCode(status); code != C.TF_OK {
		for _, c := range results { // TF sets none on failure; be sure
			deleteC(c)
		}
		return nil, statusError(code, C.GoString(C.TF_Message(status)))
	}
	if opts.AdmitFetches != nil {
		var total int64
		for _, c := range results {
			if c != nil {
				total += int64(C.TF_TensorByteSize(c))
			}
		}
		if err := opts.AdmitFetches(total); err != nil {
			for _, c := range results {
				deleteC(c)
			}
			return nil, err
		}
	}
	out := make([]*Tensor, len(results))
	var err error
	for i, c := range results {
		if err == nil {
			if out[i], err = fromC(c); err != nil {
				err = fmt.Errorf("fetch %d: %w", i, err)
			}
		}
		deleteC(c)
	}
	if err != nil {
		return nil, err
	}
	if meta != nil {
		opts.Metadata.Reset()
		if meta.length > 0 {
			raw := C.GoBytes(meta.data, C.int(meta.length))
			if err := proto.Unmarshal(raw, opts.Metadata); err != nil {
				return nil, fmt.Errorf("run metadata: %w", err)
			}
		}
	}
	return out, nil
}

func ptr[T any](s []T) *T {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

// adopt wraps a C tensor in the bindings' type, freed by a finalizer as
// the bindings free theirs: only for handing tensors to the bindings'
// API, never on a Run's path.
func adopt(c *C.TF_Tensor) *tf.Tensor {
	var shape []int64
	if n := int(C.TF_NumDims(c)); n > 0 {
		shape = make([]int64, n)
		for i := range shape {
			shape[i] = int64(C.TF_Dim(c, C.int(i)))
		}
	}
	t := new(tf.Tensor)
	m := (*tensorMirror)(unsafe.Pointer(t))
	m.c, m.shape = c, shape
	runtime.SetFinalizer(t, func(t *tf.Tensor) { C.TF_DeleteTensor((*tensorMirror)(unsafe.Pointer(t)).c) })
	return t
}

// statusError turns a TF_Status into an error that errors.Is can sort.
func statusError(code C.TF_Code, msg string) error {
	switch code {
	case C.TF_DEADLINE_EXCEEDED:
		return fmt.Errorf("%w: %s", ErrRunTimeout, msg)
	case C.TF_RESOURCE_EXHAUSTED:
		return fmt.Errorf("%w: %s", ErrOutOfMemory, msg)
	case C.TF_INVALID_ARGUMENT:
		return fmt.Errorf("%w: %s", ErrInvalidArgument, msg)
	}
	return errors.New(msg)
}
