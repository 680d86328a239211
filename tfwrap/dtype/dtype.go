// Package dtype is the one table of tensor element types: their names (as
// NumPy and TensorFlow spell them), sizes, and TensorFlow's DataType enum
// values. It is pure Go, so codecs (the REST JSON decoder, the gRPC tensor
// codec) use it without linking libtensorflow; tfwrap.DType is this type.
package dtype

import (
	"fmt"

	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
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

type info struct {
	name  string
	size  int // bytes per element; 0 for strings
	proto typespb.DataType
}

var table = map[DType]info{
	Float32: {"float32", 4, typespb.DataType_DT_FLOAT},
	Float64: {"float64", 8, typespb.DataType_DT_DOUBLE},
	Int32:   {"int32", 4, typespb.DataType_DT_INT32},
	Int64:   {"int64", 8, typespb.DataType_DT_INT64},
	Uint8:   {"uint8", 1, typespb.DataType_DT_UINT8},
	Bool:    {"bool", 1, typespb.DataType_DT_BOOL},
	String:  {"string", 0, typespb.DataType_DT_STRING},
}

// String returns the dtype's name as NumPy and TensorFlow spell it.
func (d DType) String() string {
	if i, ok := table[d]; ok {
		return i.name
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// Valid reports whether d is one of the dtypes above.
func (d DType) Valid() bool { _, ok := table[d]; return ok }

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == Float32 || d == Float64 }

// ByteSize is the size of one element of a numeric or bool dtype (0 for
// strings and invalid dtypes).
func (d DType) ByteSize() int { return table[d].size }

// Proto returns TensorFlow's DataType for d (DT_INVALID for an invalid d).
// Its numbers are also the C API's TF_DataType values.
func (d DType) Proto() typespb.DataType { return table[d].proto }

// FromProto returns the DType of one of TensorFlow's DataTypes, and false
// for a DataType this table does not hold.
func FromProto(p typespb.DataType) (DType, bool) {
	for d, i := range table {
		if i.proto == p {
			return d, true
		}
	}
	return 0, false
}
