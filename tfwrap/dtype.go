package tfwrap

import (
	"fmt"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"

	"github.com/tfgo-project/gotf/tfwrap/dtype"
)

// DType is the element type of a tensor (the one table is package dtype).
type DType = dtype.DType

// The element types tfwrap converts to and from Go slices.
const (
	Float32 = dtype.Float32
	Float64 = dtype.Float64
	Int32   = dtype.Int32
	Int64   = dtype.Int64
	Uint8   = dtype.Uint8
	Bool    = dtype.Bool
	String  = dtype.String
)

// tfType is d as the bindings' DataType (the same numbers).
func tfType(d DType) tf.DataType { return tf.DataType(d.Proto()) }

func fromTF(dt tf.DataType) (DType, error) {
	d, ok := dtype.FromProto(typespb.DataType(dt))
	if !ok {
		return 0, fmt.Errorf("tfwrap: TensorFlow dtype %d is not supported", int(dt))
	}
	return d, nil
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
