package tfwrap

/*
#cgo LDFLAGS: -ltensorflow
#include <stdlib.h>
#include "tensorflow/c/c_api.h"

int gotf_cpp_gradient(const char* op_type);
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"unsafe"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// cppGradKind is what TensorFlow's C++ gradient registry holds for an op type.
type cppGradKind int

const (
	cppGradNone   cppGradKind = iota // no entry: TF_AddGradients fails on the op
	cppGradFunc                      // a gradient function
	cppGradNoGrad                    // registered as not differentiable
)

var cppGradCache sync.Map // op type -> cppGradKind

func cppGradient(opType string) cppGradKind {
	if k, ok := cppGradCache.Load(opType); ok {
		return k.(cppGradKind)
	}
	cs := C.CString(opType)
	defer C.free(unsafe.Pointer(cs))
	k := cppGradKind(C.gotf_cpp_gradient(cs))
	cppGradCache.Store(opType, k)
	return k
}

// HasCppGradient reports whether TensorFlow's C++ gradient registry, the one
// TF_AddGradients consults, has an entry for opType: a gradient function or
// a declaration that the op is not differentiable. Ops whose gradient
// TensorFlow defines only in Python have none. It is safe for concurrent use.
func HasCppGradient(opType string) bool { return cppGradient(opType) != cppGradNone }

// GradFunc computes the gradient of one op for Tape.Gradient. g is a view of
// the op's graph (ops built through it are named under the tape's gradient
// scope), op is the forward op and dys holds, per output of op, the
// gradient flowing back into that output, or the zero Output where none
// flows. It returns one gradient per input of op, the zero Output for an
// input that gets none (an integer index, say), or an error. It must not
// keep g or op past the call.
type GradFunc func(g *Graph, op *Op, dys []Output) ([]Output, error)

var goGrads = struct {
	sync.RWMutex
	m map[string]GradFunc
}{m: map[string]GradFunc{}}

// RegisterGradient makes fn the gradient of ops of type opType for every
// Tape, in every Graph. It is for op types TensorFlow's C++ gradient
// registry has no entry for (those whose gradient TensorFlow defines only in
// Python): a C++ gradient, where there is one, wins over one registered
// here, so RegisterGradient refuses such types rather than register a
// function that would never run (only tfwrap's own Relu and Relu6
// gradients replace C++'s). It also refuses an empty type, a nil fn and a type
// already registered in Go; tfwrap registers its own gradients (see
// GoGradientTypes) at start-up. It is safe for concurrent use.
func RegisterGradient(opType string, fn GradFunc) error {
	if opType == "" {
		return errors.New("tfwrap: RegisterGradient: empty op type")
	}
	if fn == nil {
		return fmt.Errorf("tfwrap: RegisterGradient %q: nil gradient function", opType)
	}
	if HasCppGradient(opType) {
		return fmt.Errorf("tfwrap: RegisterGradient %q: TensorFlow's C++ registry already has a gradient for it", opType)
	}
	goGrads.Lock()
	defer goGrads.Unlock()
	if _, dup := goGrads.m[opType]; dup {
		return fmt.Errorf("tfwrap: RegisterGradient %q: already registered", opType)
	}
	goGrads.m[opType] = fn
	return nil
}

func goGradient(opType string) GradFunc {
	goGrads.RLock()
	defer goGrads.RUnlock()
	return goGrads.m[opType]
}

// GoGradientTypes returns, sorted, the op types whose gradient comes from
// RegisterGradient (tfwrap's own and any the program added).
func GoGradientTypes() []string {
	goGrads.RLock()
	defer goGrads.RUnlock()
	out := make([]string, 0, len(goGrads.m))
	for k := range goGrads.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// nodeDef returns op's serialized NodeDef (TF_OperationToNodeDef, which the
// bindings do not wrap; see runopts.go for the pointer mirror).
func nodeDef(op *tf.Operation) ([]byte, error) {
	buf := C.TF_NewBuffer()
	defer C.TF_DeleteBuffer(buf)
	st := C.TF_NewStatus()
	defer C.TF_DeleteStatus(st)
	C.TF_OperationToNodeDef((*C.TF_Operation)(firstPtr(op)), buf, st)
	runtime.KeepAlive(op)
	if C.TF_GetCode(st) != C.TF_OK {
		return nil, fmt.Errorf("tfwrap: node def of %s: %s", op.Name(), C.GoString(C.TF_Message(st)))
	}
	return C.GoBytes(buf.data, C.int(buf.length)), nil
}
