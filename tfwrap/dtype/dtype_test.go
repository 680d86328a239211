package dtype

import (
	"testing"

	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
)

func TestTable(t *testing.T) {
	for _, c := range []struct {
		d     DType
		name  string
		size  int
		proto string
	}{
		{Float32, "float32", 4, "DT_FLOAT"}, {Float64, "float64", 8, "DT_DOUBLE"}, {Int32, "int32", 4, "DT_INT32"},
		{Int64, "int64", 8, "DT_INT64"}, {Uint8, "uint8", 1, "DT_UINT8"}, {Bool, "bool", 1, "DT_BOOL"},
		{String, "string", 0, "DT_STRING"},
	} {
		if c.d.String() != c.name || c.d.ByteSize() != c.size || c.d.Proto().String() != c.proto || !c.d.Valid() {
			t.Errorf("%d: %s %d %s", c.d, c.d, c.d.ByteSize(), c.d.Proto())
		}
		if back, ok := FromProto(c.d.Proto()); !ok || back != c.d {
			t.Errorf("FromProto(%s) = %v %v", c.d.Proto(), back, ok)
		}
	}
	if d := DType(99); d.Valid() || d.ByteSize() != 0 || d.Proto() != typespb.DataType_DT_INVALID || d.String() != "DType(99)" {
		t.Errorf("invalid dtype: %v %d %v", d.Valid(), d.ByteSize(), d.Proto())
	}
	if _, ok := FromProto(typespb.DataType_DT_HALF); ok {
		t.Error("DT_HALF is not in the table")
	}
}
