package tfwrap

import (
	"fmt"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// DType is the element type of a tensor.
type DType int

// The element types tfwrap converts to and from Go slices.
const (
	Float32 DType = iota + 1
	Float64
	Int32
	Int64
	Uint8
	Bool
	String
)

var dtypeNames = map[DType]string{
	Float32: "float32", Float64: "float64", Int32: "int32", Int64: "int64",
	Uint8: "uint8", Bool: "bool", String: "string",
}

var toTF = map[DType]tf.DataType{
	Float32: tf.Float, Float64: tf.Double, Int32: tf.Int32, Int64: tf.Int64,
	Uint8: tf.Uint8, Bool: tf.Bool, String: tf.String,
}

// String returns the dtype's name as NumPy and TensorFlow spell it.
func (d DType) String() string {
	if n, ok := dtypeNames[d]; ok {
		return n
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// Valid reports whether d is one of the dtypes above.
func (d DType) Valid() bool { _, ok := toTF[d]; return ok }

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == Float32 || d == Float64 }

// ByteSize is the size of one element of a numeric or bool dtype (0 for
// strings).
func (d DType) ByteSize() int { return d.size() }

func (d DType) size() int {
	switch d {
	case Float32, Int32:
		return 4
	case Float64, Int64:
		return 8
	case Uint8, Bool:
		return 1
	}
	return 0
}

func (d DType) tf() tf.DataType { return toTF[d] }

func fromTF(dt tf.DataType) (DType, error) {
	for d, t := range toTF {
		if t == dt {
			return d, nil
		}
	}
	return 0, fmt.Errorf("tfwrap: TensorFlow dtype %d is not supported", int(dt))
}

// Elem is the set of Go element types a Tensor converts to and from without
// reflection: one memory copy each way.
type Elem interface {
	float32 | float64 | int32 | int64 | uint8 | bool
}

// DTypeOf returns the dtype that holds Go values of type T.
func DTypeOf[T Elem]() DType {
	var z T
	switch any(z).(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case int32:
		return Int32
	case int64:
		return Int64
	case uint8:
		return Uint8
	default: // bool
		return Bool
	}
}
