package serving

import (
	"encoding/binary"
	"fmt"

	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// Tensor is a request's input or a response's output in Go memory: what
// both transports decode into and encode from, and what travels to and
// from a worker process. Numeric and bool elements are little-endian bytes
// in row-major order (TensorProto's tensor_content layout).
type Tensor struct {
	DType   tfwrap.DType
	Shape   []int64
	Data    []byte   // numeric and bool dtypes
	Strings []string // String
}

// numElements is the product of the shape (1 for a scalar).
func (t Tensor) numElements() int64 {
	n, err := shape.NumElements(t.Shape)
	if err != nil {
		return -1
	}
	return n
}

// byteSize is the memory the elements take.
func (t Tensor) byteSize() int64 {
	if t.DType == tfwrap.String {
		var n int64
		for _, s := range t.Strings {
			n += int64(len(s)) + 16
		}
		return n
	}
	return int64(len(t.Data))
}

// check reports a tensor whose elements do not fill its shape.
func (t Tensor) check() error {
	n := t.numElements()
	if n < 0 {
		return fmt.Errorf("bad shape %v", t.Shape)
	}
	if t.DType == tfwrap.String {
		if int64(len(t.Strings)) != n {
			return fmt.Errorf("%d strings for shape %v", len(t.Strings), t.Shape)
		}
		return nil
	}
	sz := int64(t.DType.ByteSize())
	if sz == 0 {
		return fmt.Errorf("unsupported dtype %v", t.DType)
	}
	if int64(len(t.Data))%sz != 0 || int64(len(t.Data))/sz != n { // n*sz may overflow
		return fmt.Errorf("%d bytes for %d %v elements", len(t.Data), n, t.DType)
	}
	return nil
}

// toTF makes a tfwrap tensor over t's memory, without a copy: t was
// decoded for this request alone and is not changed after (Run copies it
// into TensorFlow's memory for the step).
func (t Tensor) toTF() (*tfwrap.Tensor, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if t.DType == tfwrap.String {
		return tfwrap.NewStrings(t.Strings, t.Shape...)
	}
	return tfwrap.TensorFromBytesNoCopy(t.DType, t.Shape, t.Data)
}

// fromTF takes a result's memory, without a copy: Run already copied it
// out of TensorFlow's, and nothing else holds the result.
func fromTF(t *tfwrap.Tensor) (Tensor, error) {
	out := Tensor{DType: t.DType(), Shape: t.Shape()}
	var err error
	if out.DType == tfwrap.String {
		out.Strings, err = t.Strings()
	} else {
		out.Data, err = t.BytesNoCopy()
	}
	return out, err
}

// tfByteSize is what fromTF would copy, without copying.
func tfByteSize(t *tfwrap.Tensor) int64 {
	n := t.NumElements()
	if t.DType() == tfwrap.String {
		return n * 16 // a lower bound; the strings' bytes come on top
	}
	return n * int64(t.DType().ByteSize())
}

// le encodes numbers little-endian.
func le[T tfwrap.Elem](v []T) []byte {
	b, _ := binary.Append(nil, binary.LittleEndian, v) // cannot fail for these types
	return b
}

// fromLE decodes n little-endian numbers.
func fromLE[T tfwrap.Elem](b []byte) ([]T, error) {
	var z T
	out := make([]T, len(b)/binary.Size(z))
	if _, err := binary.Decode(b, binary.LittleEndian, out); err != nil {
		return nil, err
	}
	return out, nil
}

// fromArray converts a decoded JSON array to the input's dtype.
func fromArray(a *restjson.Array, dt tfwrap.DType) (Tensor, error) {
	t := Tensor{DType: dt, Shape: a.Shape}
	switch dt {
	case tfwrap.Float32, tfwrap.Float64, tfwrap.Int32, tfwrap.Int64, tfwrap.Uint8, tfwrap.Bool:
		t.Data = a.Data // decoded straight into the dtype's bytes: no copy here
	case tfwrap.String:
		t.Strings = a.Strings
	default:
		return t, fmt.Errorf("unsupported dtype %v", dt)
	}
	return t, t.check()
}

// toOutput converts an output for the JSON encoder.
func toOutput(name string, t Tensor) (restjson.Output, error) {
	o := restjson.Output{Name: name, Shape: t.Shape}
	var err error
	switch t.DType {
	case tfwrap.Float32: // encoded where it lies
		if len(t.Data)%4 != 0 {
			return o, fmt.Errorf("output %q: %d bytes of float32", name, len(t.Data))
		}
		o.Float32, o.F32LE = true, t.Data
	case tfwrap.Float64:
		o.Floats, err = fromLE[float64](t.Data)
	case tfwrap.Int32:
		if len(t.Data)%4 != 0 {
			return o, fmt.Errorf("output %q: %d bytes of int32", name, len(t.Data))
		}
		o.Ints = make([]int64, len(t.Data)/4)
		for i := range o.Ints {
			o.Ints[i] = int64(int32(binary.LittleEndian.Uint32(t.Data[4*i:])))
		}
	case tfwrap.Int64:
		o.Ints, err = fromLE[int64](t.Data)
	case tfwrap.Uint8:
		o.Ints = tfwrap.Convert[int64](t.Data)
	case tfwrap.Bool:
		o.Bools, err = fromLE[bool](t.Data)
	case tfwrap.String:
		o.Strings = t.Strings
	default:
		err = fmt.Errorf("output %q has an unsupported dtype", name)
	}
	return o, err
}
