package restjson

import (
	"encoding/binary"
	"math"

	"github.com/tfgo-project/gotf/tfwrap/dtype"
)

// The decoders write each number or boolean straight into Array.Data as
// the input dtype's little-endian bytes, the layout TensorFlow takes: one
// pass from JSON text to the tensor's bytes, with no []float64 between.
// The range checks live here, once for both decoders.

// putFloat appends f as dt (float32 or float64), or reports false when f
// is out of dt's range (the caller names the JSON text in its message).
func putFloat(a *Array, dt dtype.DType, f float64) bool {
	if math.IsInf(f, 0) || math.IsNaN(f) || (dt == dtype.Float32 && math.Abs(f) > math.MaxFloat32) {
		return false
	}
	if dt == dtype.Float32 {
		a.Data = binary.LittleEndian.AppendUint32(a.Data, math.Float32bits(float32(f)))
	} else {
		a.Data = binary.LittleEndian.AppendUint64(a.Data, math.Float64bits(f))
	}
	return true
}

// putInt appends i as dt (int32, int64 or uint8) if it is in dt's range.
func putInt(a *Array, in Input, i int64) error {
	switch in.DType {
	case dtype.Int32:
		if i < math.MinInt32 || i > math.MaxInt32 {
			return bad("input %q: %d is out of range for %v", in.Name, i, in.DType)
		}
		a.Data = binary.LittleEndian.AppendUint32(a.Data, uint32(int32(i)))
	case dtype.Uint8:
		if i < 0 || i > 255 {
			return bad("input %q: %d is out of range for %v", in.Name, i, in.DType)
		}
		a.Data = append(a.Data, byte(i))
	default:
		a.Data = binary.LittleEndian.AppendUint64(a.Data, uint64(i))
	}
	return nil
}

// putBool appends b as one byte, TensorFlow's bool.
func putBool(a *Array, b bool) {
	if b {
		a.Data = append(a.Data, 1)
	} else {
		a.Data = append(a.Data, 0)
	}
}

// Len is the number of elements a holds for an input of dt.
func (a *Array) Len(dt dtype.DType) int {
	if dt == dtype.String {
		return len(a.Strings)
	}
	if n := dt.ByteSize(); n > 0 {
		return len(a.Data) / n
	}
	return 0
}
