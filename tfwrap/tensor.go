package tfwrap

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// ErrNilTensor is returned when a nil *Tensor is passed where a value is needed.
var ErrNilTensor = errors.New("tfwrap: nil tensor")

// Tensor is an immutable n-dimensional array: a constant value, a feed, or
// a fetched result. Its elements live in Go memory, which Go's garbage
// collector sees and frees like any other. TensorFlow gets a C copy of a
// fed tensor for the length of the Run that feeds it, and each result is
// copied out and its C tensor freed before Run returns: no C tensor
// outlives the call that made it, and none waits on a finalizer. A Tensor
// is safe for concurrent use.
type Tensor struct {
	dtype DType
	shape []int64
	data  []byte   // numeric and bool elements: little-endian, row-major
	strs  []string // String elements, row-major
}

// ok reports whether t is a tensor made by this package (not nil, not a
// zero Tensor{}).
func (t *Tensor) ok() bool { return t != nil && t.dtype != 0 }

// NewTensor copies data into a new Tensor of the given shape. With no shape
// the tensor is a vector of len(data) elements; for a scalar use Scalar. The
// copy is one memcpy: no per-element reflection.
func NewTensor[T Elem](data []T, dims ...int64) (*Tensor, error) {
	dt := DTypeOf[T]()
	if dims == nil {
		dims = []int64{int64(len(data))}
	}
	n, err := shape.NumElements(dims)
	if err != nil {
		return nil, fmt.Errorf("tfwrap: new tensor: %w", err)
	}
	if n != int64(len(data)) {
		return nil, fmt.Errorf("tfwrap: new tensor: shape %s holds %d elements but %d values were given",
			shape.String(dims), n, len(data))
	}
	return &Tensor{dtype: dt, shape: slices.Clone(dims), data: bytes.Clone(asBytes(data))}, nil
}

// Scalar returns a rank-0 tensor holding v.
func Scalar[T Elem](v T) *Tensor {
	return &Tensor{dtype: DTypeOf[T](), shape: []int64{}, data: asBytes([]T{v})}
}

// Zeros returns a tensor of the given dtype and shape filled with zeros.
func Zeros(dt DType, dims ...int64) (*Tensor, error) {
	if !dt.Valid() || dt == String {
		return nil, fmt.Errorf("tfwrap: zeros: unsupported dtype %v", dt)
	}
	n, err := shape.NumElements(dims)
	if err != nil {
		return nil, fmt.Errorf("tfwrap: zeros: %w", err)
	}
	if n > (1<<40)/int64(dt.ByteSize()) {
		return nil, fmt.Errorf("tfwrap: zeros: shape %s is too large", shape.String(dims))
	}
	return &Tensor{dtype: dt, shape: slices.Clone(dims), data: make([]byte, n*int64(dt.ByteSize()))}, nil
}

// NewStrings copies data into a string tensor of the given shape (a vector
// when no shape is given). TensorFlow's string type holds arbitrary bytes.
func NewStrings(data []string, dims ...int64) (*Tensor, error) {
	if dims == nil {
		dims = []int64{int64(len(data))}
	}
	n, err := shape.NumElements(dims)
	if err != nil {
		return nil, fmt.Errorf("tfwrap: new string tensor: %w", err)
	}
	if n != int64(len(data)) {
		return nil, fmt.Errorf("tfwrap: new string tensor: shape %s holds %d elements but %d values were given",
			shape.String(dims), n, len(data))
	}
	return &Tensor{dtype: String, shape: slices.Clone(dims), strs: slices.Clone(data)}, nil
}

func asBytes[T Elem](data []T) []byte {
	if len(data) == 0 {
		return nil
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), len(data)*int(unsafe.Sizeof(z)))
}

// TensorFromBytes makes a numeric or bool tensor from its elements'
// little-endian bytes in row-major order (the layout of a TensorProto's
// tensor_content); len(raw) must be the shape's size in bytes.
func TensorFromBytes(dt DType, dims []int64, raw []byte) (*Tensor, error) {
	if dt == String || dt.ByteSize() == 0 {
		return nil, fmt.Errorf("tfwrap: TensorFromBytes takes a numeric or bool dtype, not %v", dt)
	}
	if err := checkBytes(dt, dims, raw); err != nil {
		return nil, err
	}
	return &Tensor{dtype: dt, shape: slices.Clone(dims), data: bytes.Clone(raw)}, nil
}

// TensorFromBytesNoCopy is TensorFromBytes without the copy: the tensor
// takes raw as its memory, so the caller must not change raw afterwards
// (a Tensor is immutable, and a Run may be reading it). For a caller that
// built raw for this tensor alone, as a server does with a request's
// payload.
func TensorFromBytesNoCopy(dt DType, dims []int64, raw []byte) (*Tensor, error) {
	if dt == String || dt.ByteSize() == 0 {
		return nil, fmt.Errorf("tfwrap: TensorFromBytesNoCopy takes a numeric or bool dtype, not %v", dt)
	}
	if err := checkBytes(dt, dims, raw); err != nil {
		return nil, err
	}
	return fromBytes(dt, slices.Clone(dims), raw[:len(raw):len(raw)]), nil
}

// BytesNoCopy is Bytes without the copy: the elements of a numeric or bool
// tensor as little-endian bytes in row-major order, shared with the
// tensor, which the caller must not change.
func (t *Tensor) BytesNoCopy() ([]byte, error) {
	raw, err := t.raw()
	return raw[:len(raw):len(raw)], err
}

// Bytes returns a copy of a numeric or bool tensor's elements as
// little-endian bytes in row-major order.
func (t *Tensor) Bytes() ([]byte, error) {
	raw, err := t.raw()
	return bytes.Clone(raw), err
}

// checkBytes checks that raw holds exactly the bytes of dims elements of dt.
func checkBytes(dt DType, dims []int64, raw []byte) error {
	n, err := shape.NumElements(dims)
	if err != nil {
		return fmt.Errorf("tfwrap: new tensor: %w", err)
	}
	want, err := shape.ByteSize(n, dt.ByteSize())
	if err != nil {
		return fmt.Errorf("tfwrap: new tensor: %w", err)
	}
	if int64(len(raw)) != want {
		return fmt.Errorf("tfwrap: new tensor: %d bytes for %d %v elements (want %d)", len(raw), n, dt, want)
	}
	return nil
}

// fromBytes makes a tensor that takes raw (and dims) as they are: the
// caller hands them over and must not change them afterwards.
func fromBytes(dt DType, dims []int64, raw []byte) *Tensor {
	return &Tensor{dtype: dt, shape: dims, data: raw}
}

// DType returns the element type; zero for a nil tensor.
func (t *Tensor) DType() DType {
	if t == nil {
		return 0
	}
	return t.dtype
}

// Shape returns a copy of the tensor's dimensions; empty for a scalar.
func (t *Tensor) Shape() []int64 {
	if t == nil {
		return nil
	}
	return append([]int64{}, t.shape...)
}

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int {
	if t == nil {
		return 0
	}
	return len(t.shape)
}

// NumElements returns the number of elements (1 for a scalar).
func (t *Tensor) NumElements() int64 {
	if t == nil {
		return 0
	}
	n, _ := shape.NumElements(t.shape)
	return n
}

// Values copies the tensor's elements, in row-major order, into a new Go
// slice: what .numpy().ravel() gives in Python. It fails if T does not match
// the tensor's dtype.
func Values[T Elem](t *Tensor) ([]T, error) {
	if t == nil {
		return nil, ErrNilTensor
	}
	if want := DTypeOf[T](); t.dtype != want {
		return nil, fmt.Errorf("tfwrap: tensor holds %v, not %v", t.dtype, want)
	}
	out := make([]T, t.NumElements())
	if n := copy(asBytes(out), t.data); n != len(t.data) || n != len(out)*t.dtype.ByteSize() {
		return nil, fmt.Errorf("tfwrap: read tensor: holds %d bytes, want %d", len(t.data), len(out)*t.dtype.ByteSize())
	}
	return out, nil
}

// Float32s returns the elements of a float32 tensor.
func (t *Tensor) Float32s() ([]float32, error) { return Values[float32](t) }

// Float64s returns the elements of a float64 tensor.
func (t *Tensor) Float64s() ([]float64, error) { return Values[float64](t) }

// Int32s returns the elements of an int32 tensor.
func (t *Tensor) Int32s() ([]int32, error) { return Values[int32](t) }

// Int64s returns the elements of an int64 tensor.
func (t *Tensor) Int64s() ([]int64, error) { return Values[int64](t) }

// Strings returns the elements of a string tensor in row-major order.
func (t *Tensor) Strings() ([]string, error) {
	if t == nil {
		return nil, ErrNilTensor
	}
	if t.dtype != String {
		return nil, fmt.Errorf("tfwrap: tensor holds %v, not string", t.dtype)
	}
	return slices.Clone(t.strs), nil
}

// Number is the set of numeric element types.
type Number interface {
	float32 | float64 | int32 | int64 | uint8
}

// Convert returns v's elements converted to U, as Go converts numbers.
func Convert[U, T Number](v []T) []U {
	out := make([]U, len(v))
	for i, x := range v {
		out[i] = U(x)
	}
	return out
}

// ValuesAs returns the elements of any numeric tensor converted to T.
func ValuesAs[T Number](t *Tensor) ([]T, error) {
	if t == nil {
		return nil, ErrNilTensor
	}
	switch t.dtype {
	case Float32:
		return as[T, float32](t)
	case Float64:
		return as[T, float64](t)
	case Int32:
		return as[T, int32](t)
	case Int64:
		return as[T, int64](t)
	case Uint8:
		return as[T, uint8](t)
	}
	return nil, fmt.Errorf("tfwrap: tensor of %v is not numeric", t.dtype)
}

func as[U, T Number](t *Tensor) ([]U, error) {
	v, err := Values[T](t)
	if err != nil {
		return nil, err
	}
	return Convert[U](v), nil
}

// Float64sAny returns the elements of any numeric or bool tensor as
// float64, for printing and for comparing against references.
func (t *Tensor) Float64sAny() ([]float64, error) {
	if t.DType() != Bool {
		return ValuesAs[float64](t)
	}
	v, err := Values[bool](t)
	out := make([]float64, len(v))
	for i, b := range v {
		if b {
			out[i] = 1
		}
	}
	return out, err
}

// String formats the tensor as Python TensorFlow prints one:
// tf.Tensor([[1 2] [3 4]], shape=(2, 2), dtype=int32).
func (t *Tensor) String() string {
	if t == nil {
		return "tf.Tensor(<nil>)"
	}
	var body string
	if t.dtype == String {
		s, _ := t.Strings()
		body = fmt.Sprintf("%q", s)
	} else {
		v, err := t.Float64sAny()
		if err != nil {
			body = err.Error()
		} else {
			bits := 64
			if t.dtype == Float32 {
				bits = 32 // 0.1 prints as 0.1, not 0.10000000149011612
			}
			body = formatNested(v, t.shape, bits)
		}
	}
	return fmt.Sprintf("tf.Tensor(%s, shape=%s, dtype=%v)", body, shape.String(t.shape), t.dtype)
}

func formatNested(v []float64, dims []int64, bits int) string {
	num := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, bits) }
	if len(dims) == 0 {
		if len(v) == 0 {
			return "[]"
		}
		return num(v[0])
	}
	var b strings.Builder
	var rec func(off int, d int) int
	rec = func(off int, d int) int {
		if d == len(dims) {
			b.WriteString(num(v[off]))
			return off + 1
		}
		b.WriteByte('[')
		for i := int64(0); i < dims[d]; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			off = rec(off, d+1)
		}
		b.WriteByte(']')
		return off
	}
	rec(0, 0)
	return b.String()
}

// ElementString formats element i (row-major) of a numeric or bool
// tensor as Go prints the value ("NaN", "+Inf", "3"); "?" when i is out
// of range or the tensor holds strings.
func (t *Tensor) ElementString(i int64) string {
	if !t.ok() || t.dtype == String || i < 0 || i >= t.NumElements() {
		return "?"
	}
	sz := int64(t.dtype.ByteSize())
	one := fromBytes(t.dtype, []int64{1}, t.data[i*sz:(i+1)*sz:(i+1)*sz])
	v, err := one.Float64sAny()
	if err != nil || len(v) != 1 {
		return "?"
	}
	return strconv.FormatFloat(v[0], 'g', -1, 64)
}

// FirstNonFinite returns the row-major index of the first NaN or infinite
// element of a float32 or float64 tensor, reading it in place; -1 when
// every element is finite or the tensor holds no floats.
func (t *Tensor) FirstNonFinite() int64 {
	if t == nil {
		return -1
	}
	switch t.dtype {
	case Float32:
		v := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(t.data))), len(t.data)/4)
		for i, b := range v {
			if b&0x7f800000 == 0x7f800000 { // exponent all ones: Inf or NaN
				return int64(i)
			}
		}
	case Float64:
		v := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(t.data))), len(t.data)/8)
		for i, b := range v {
			if b&0x7ff0000000000000 == 0x7ff0000000000000 {
				return int64(i)
			}
		}
	}
	return -1
}
