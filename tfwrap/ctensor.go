package tfwrap

/*
#cgo LDFLAGS: -ltensorflow
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tensorflow/c/c_api.h"
#include "tensorflow/c/tf_tstring.h"

// gotf_fill_strings sets the n TF_TStrings of a freshly allocated string
// tensor from one buffer of concatenated bytes and n+1 offsets into it.
static void gotf_fill_strings(TF_Tensor* t, const char* buf, const int64_t* off, int64_t n) {
	TF_TString* s = (TF_TString*)TF_TensorData(t);
	for (int64_t i = 0; i < n; i++) {
		TF_TString_Init(&s[i]);
		TF_TString_Copy(&s[i], buf + off[i], (size_t)(off[i + 1] - off[i]));
	}
}

// gotf_strings_size returns the bytes the n strings of t hold in all.
static int64_t gotf_strings_size(const TF_Tensor* t, int64_t n) {
	const TF_TString* s = (const TF_TString*)TF_TensorData(t);
	int64_t total = 0;
	for (int64_t i = 0; i < n; i++) total += (int64_t)TF_TString_GetSize(&s[i]);
	return total;
}

// gotf_read_strings copies the n strings of t, one after another, into buf
// and writes the n+1 offsets that delimit them.
static void gotf_read_strings(const TF_Tensor* t, int64_t n, char* buf, int64_t* off) {
	const TF_TString* s = (const TF_TString*)TF_TensorData(t);
	int64_t at = 0;
	for (int64_t i = 0; i < n; i++) {
		size_t len = TF_TString_GetSize(&s[i]);
		off[i] = at;
		if (len > 0) memcpy(buf + at, TF_TString_GetDataPointer(&s[i]), len);
		at += (int64_t)len;
	}
	off[n] = at;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// The only two places where tensor memory crosses between Go and C. Both
// copy inside one call, while the C tensor is owned by the caller: toC's
// result until the caller deletes it, fromC's argument until the caller
// deletes it. No Go slice ever points into a C tensor, so no finalizer can
// free memory that Go is still reading (the bindings' WriteContentsTo and
// Value read through such a slice without keeping the tensor alive).

// errAllocate: TensorFlow could not allocate a tensor's C memory.
var errAllocate = errors.New("tfwrap: TensorFlow could not allocate the tensor")

// toC copies t into a new C tensor that the caller owns and must free with
// TF_DeleteTensor.
func (t *Tensor) toC() (*C.TF_Tensor, error) {
	if !t.ok() {
		return nil, ErrNilTensor
	}
	var dims *C.int64_t
	if len(t.shape) > 0 {
		dims = (*C.int64_t)(unsafe.Pointer(&t.shape[0]))
	}
	if t.dtype == String {
		n := len(t.strs)
		c := C.TF_AllocateTensor(C.TF_STRING, dims, C.int(len(t.shape)), C.size_t(n)*C.sizeof_TF_TString)
		if c == nil || (n > 0 && C.TF_TensorData(c) == nil) {
			deleteC(c)
			return nil, errAllocate
		}
		total := 0
		for _, s := range t.strs {
			total += len(s)
		}
		buf := make([]byte, 0, total)
		off := make([]int64, n+1)
		for i, s := range t.strs {
			buf = append(buf, s...)
			off[i+1] = int64(len(buf))
		}
		C.gotf_fill_strings(c, (*C.char)(unsafe.Pointer(unsafe.SliceData(buf))), (*C.int64_t)(unsafe.Pointer(&off[0])), C.int64_t(n))
		return c, nil
	}
	n := C.size_t(len(t.data))
	c := C.TF_AllocateTensor(C.TF_DataType(t.dtype.Proto()), dims, C.int(len(t.shape)), n)
	if c == nil || (n > 0 && C.TF_TensorData(c) == nil) {
		deleteC(c)
		return nil, errAllocate
	}
	if n > 0 {
		C.memcpy(C.TF_TensorData(c), unsafe.Pointer(&t.data[0]), n)
	}
	return c, nil
}

func deleteC(c *C.TF_Tensor) {
	if c != nil {
		C.TF_DeleteTensor(c)
	}
}

// fromC copies a C tensor into a new Tensor. It does not free c.
func fromC(c *C.TF_Tensor) (*Tensor, error) {
	if c == nil {
		return nil, ErrNilTensor
	}
	dt, err := fromTF(tf.DataType(C.TF_TensorType(c)))
	if err != nil {
		return nil, err
	}
	dims := make([]int64, int(C.TF_NumDims(c)))
	for i := range dims {
		dims[i] = int64(C.TF_Dim(c, C.int(i)))
	}
	n, err := shape.NumElements(dims)
	if err != nil {
		return nil, fmt.Errorf("tfwrap: TensorFlow returned a tensor of shape %v: %w", dims, err)
	}
	if dt == String {
		if got := int64(C.TF_TensorElementCount(c)); got != n {
			return nil, fmt.Errorf("tfwrap: string tensor of shape %v holds %d elements", dims, got)
		}
		strs := make([]string, n)
		if n == 0 {
			return &Tensor{dtype: String, shape: dims, strs: strs}, nil
		}
		buf := make([]byte, int64(C.gotf_strings_size(c, C.int64_t(n))))
		off := make([]int64, n+1)
		C.gotf_read_strings(c, C.int64_t(n), (*C.char)(unsafe.Pointer(unsafe.SliceData(buf))), (*C.int64_t)(unsafe.Pointer(&off[0])))
		for i := range strs {
			if off[i+1] > off[i] {
				// buf is never written again: the strings share it.
				strs[i] = unsafe.String(&buf[off[i]], off[i+1]-off[i])
			}
		}
		return &Tensor{dtype: String, shape: dims, strs: strs}, nil
	}
	size := int64(C.TF_TensorByteSize(c))
	if size != n*int64(dt.ByteSize()) {
		return nil, fmt.Errorf("tfwrap: %v tensor of shape %v holds %d bytes, want %d", dt, dims, size, n*int64(dt.ByteSize()))
	}
	data := make([]byte, size)
	if size > 0 {
		C.memcpy(unsafe.Pointer(&data[0]), C.TF_TensorData(c), C.size_t(size))
	}
	return &Tensor{dtype: dt, shape: dims, data: data}, nil
}

// wrapTensor copies a tensor of the bindings.
func wrapTensor(t *tf.Tensor) (*Tensor, error) {
	if t == nil {
		return nil, ErrNilTensor
	}
	out, err := fromC((*C.TF_Tensor)(firstPtr(t)))
	runtime.KeepAlive(t) // its finalizer must not free it while fromC reads
	return out, err
}

// WrapTensor copies a tensor of the bindings (one that tfgo or the op
// package returned) into a Tensor; t stays the caller's. A nil tensor or
// one of a dtype tfwrap does not handle is an error.
func WrapTensor(t *tf.Tensor) (*Tensor, error) { return wrapTensor(t) }

// TF returns a copy of t as a tensor of the bindings, for code written
// against them or tfgo; the bindings free it (by a finalizer) when it is
// unreachable. Nil when t is nil or TensorFlow cannot allocate it. To read
// it back, prefer WrapTensor: the bindings' own Value and WriteContentsTo
// read through a Go slice over its C memory without keeping it alive, so
// keep the *tf.Tensor reachable (runtime.KeepAlive) until they return.
func (t *Tensor) TF() *tf.Tensor {
	c, err := t.toC()
	if err != nil {
		return nil
	}
	return adopt(c)
}

// withTF lends fn a C copy of t in the bindings' type and frees it when fn
// returns: for the bindings' calls that copy a tensor (an attr value).
func withTF(t *Tensor, fn func(*tf.Tensor)) error {
	c, err := t.toC()
	if err != nil {
		return err
	}
	defer C.TF_DeleteTensor(c) // also if fn panics (no finalizer is set)
	tt := new(tf.Tensor)
	m := (*tensorMirror)(unsafe.Pointer(tt))
	m.c, m.shape = c, t.Shape()
	fn(tt)
	runtime.KeepAlive(tt)
	return nil
}
