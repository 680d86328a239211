package restjson

import (
	"encoding/json"
	"errors"
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
				if got := len(a.Floats) + len(a.Ints) + len(a.Bools) + len(a.Strings); got != n {
					t.Fatalf("%d elements for shape %v", got, a.Shape)
				}
				out := Output{Name: in.Name, Shape: a.Shape, Floats: a.Floats, Ints: a.Ints, Bools: a.Bools, Strings: a.Strings}
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
