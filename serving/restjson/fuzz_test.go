package restjson

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/tfgo-project/gotf/tfwrap/dtype"
)

// FuzzDecode: any body either decodes into arrays that agree with their
// shapes and the signature, or fails with ErrBadRequest; it never panics.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"instances": [[[1,2],[3,4]]]}`, `{"inputs": {"a": [1], "b": ["x"]}}`, `{"instances": [{"a": 1, "b": {"b64": "aGk="}}]}`,
		`{"inputs": [[1,2],[3]]}`, `{"signature_name": "x", "inputs": [1e39]}`, `[]`, `{}`, `{"instances": [[[[[[1]]]]]]}`,
	} {
		f.Add([]byte(s))
	}
	sigs := [][]Input{
		{{Name: "images", DType: dtype.Float32, Shape: []int64{-1, 2, 2}}},
		{{Name: "a", DType: dtype.Int32}, {Name: "b", DType: dtype.String}},
		{{Name: "x", DType: dtype.Float64}},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, sig := range sigs {
			r, err := Decode(body, sig, Limits{MaxElements: 1000})
			if err != nil {
				if !errors.Is(err, ErrBadRequest) {
					t.Fatalf("error without ErrBadRequest: %v", err)
				}
				continue
			}
			for _, in := range sig {
				a := r.Inputs[in.Name]
				n := 1
				for _, d := range a.Shape {
					if d < 1 {
						t.Fatalf("shape %v has an empty dimension", a.Shape)
					}
					n *= int(d)
				}
				if got := a.Len(in.DType); got != n || (in.DType != dtype.String && len(a.Data) != n*in.DType.ByteSize()) {
					t.Fatalf("%d elements (%d bytes) for shape %v", got, len(a.Data), a.Shape)
				}
				out := outputOf(in, a)
				b, err := EncodeColumns([]Output{out})
				if err != nil {
					t.Fatal(err)
				}
				if !json.Valid(b) {
					t.Fatalf("invalid JSON out: %s", b)
				}
			}
		}
	})
}

// outputOf is a decoded array as the encoder takes it.
func outputOf(in Input, a *Array) Output {
	o := Output{Name: in.Name, Shape: a.Shape, Strings: a.Strings}
	switch in.DType {
	case dtype.Float32:
		o.Float32, o.F32LE = true, a.Data
	case dtype.Float64:
		for i := 0; i+8 <= len(a.Data); i += 8 {
			o.Floats = append(o.Floats, math.Float64frombits(binary.LittleEndian.Uint64(a.Data[i:])))
		}
	case dtype.Int32:
		for i := 0; i+4 <= len(a.Data); i += 4 {
			o.Ints = append(o.Ints, int64(int32(binary.LittleEndian.Uint32(a.Data[i:]))))
		}
	}
	return o
}
