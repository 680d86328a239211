package restjson

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Output is one fetched output, flat in row-major order with its shape;
// exactly one of the slices is set. Float32 tells the encoder to print
// floats with float32 precision (shortest form).
type Output struct {
	Name    string
	Shape   []int64
	Float32 bool
	Floats  []float64
	// F32LE holds float32 elements as little-endian bytes, read where
	// they lie (the model's output), with Float32 set.
	F32LE   []byte
	Ints    []int64
	Bools   []bool
	Strings []string
}

func (o *Output) len() int {
	return len(o.Floats) + len(o.F32LE)/4 + len(o.Ints) + len(o.Bools) + len(o.Strings)
}

// EncodeRows answers a row-format request: {"predictions": [...]} with one
// entry per instance; with several outputs each entry is an object.
func EncodeRows(outs []Output) ([]byte, error) {
	if len(outs) == 0 {
		return nil, fmt.Errorf("no outputs")
	}
	batch := int64(-1)
	for _, o := range outs {
		if len(o.Shape) == 0 {
			return nil, fmt.Errorf("output %q is a scalar; the row format needs a batch axis (use inputs/outputs)", o.Name)
		}
		if batch >= 0 && o.Shape[0] != batch {
			return nil, fmt.Errorf("outputs have different batch sizes (%d and %d); use the columnar format", batch, o.Shape[0])
		}
		batch = o.Shape[0]
	}
	b := []byte(`{"predictions":[`)
	for i := int64(0); i < batch; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		if len(outs) == 1 {
			b = appendSlice(b, &outs[0], i)
			continue
		}
		b = append(b, '{')
		for j := range outs {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, outs[j].Name)
			b = append(b, ':')
			b = appendSlice(b, &outs[j], i)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// EncodeColumns answers a columnar request: {"outputs": value} for one
// output, {"outputs": {name: value, …}} for several.
func EncodeColumns(outs []Output) ([]byte, error) {
	if len(outs) == 0 {
		return nil, fmt.Errorf("no outputs")
	}
	b := []byte(`{"outputs":`)
	if len(outs) == 1 {
		b = appendNested(b, &outs[0], outs[0].Shape, 0)
		return append(b, '}'), nil
	}
	b = append(b, '{')
	for j := range outs {
		if j > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, outs[j].Name)
		b = append(b, ':')
		b = appendNested(b, &outs[j], outs[j].Shape, 0)
	}
	return append(b, "}}"...), nil
}

// appendSlice writes element i of the first axis.
func appendSlice(b []byte, o *Output, i int64) []byte {
	per := int64(1)
	for _, d := range o.Shape[1:] {
		per *= d
	}
	return appendNested(b, o, o.Shape[1:], int(i*per))
}

func appendNested(b []byte, o *Output, shape []int64, off int) []byte {
	if len(shape) == 0 {
		return appendScalar(b, o, off)
	}
	per := 1
	for _, d := range shape[1:] {
		per *= int(d)
	}
	b = append(b, '[')
	for i := 0; i < int(shape[0]); i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendNested(b, o, shape[1:], off+i*per)
	}
	return append(b, ']')
}

func appendFloat(b []byte, f float64, bits int) []byte {
	if nf, ok := AppendNonFinite(b, f); ok {
		return nf
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

// AppendNonFinite writes NaN, Infinity or -Infinity as TF Serving does
// (json_tensor.cc's WriteDecimal: bare tokens, which JSON itself has no
// words for and Python's json module reads) and reports true, or leaves b
// alone and reports false for a finite f. TF Serving's REST answers
// (predict, classify, regress) use it; KServe's JSON, whose clients parse
// standard JSON, refuses such outputs and points to binary data instead.
func AppendNonFinite(b []byte, f float64) ([]byte, bool) {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...), true
	case math.IsInf(f, 1):
		return append(b, "Infinity"...), true
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...), true
	}
	return b, false
}

func appendScalar(b []byte, o *Output, i int) []byte {
	switch {
	case o.F32LE != nil:
		return appendFloat(b, float64(math.Float32frombits(binary.LittleEndian.Uint32(o.F32LE[4*i:]))), 32)
	case o.Floats != nil:
		bits := 64
		if o.Float32 {
			bits = 32
		}
		return appendFloat(b, o.Floats[i], bits)
	case o.Ints != nil:
		return strconv.AppendInt(b, o.Ints[i], 10)
	case o.Bools != nil:
		return strconv.AppendBool(b, o.Bools[i])
	default:
		s := o.Strings[i]
		if utf8.ValidString(s) {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
		b = append(b, `{"b64":"`...)
		b = append(b, base64.StdEncoding.EncodeToString([]byte(s))...)
		return append(b, `"}`...)
	}
}
