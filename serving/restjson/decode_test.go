package restjson

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/tfwrap/dtype"
)

var image = Input{Name: "images", DType: dtype.Float32, Shape: []int64{-1, 2, 2}}

func TestDecodeFormats(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		inputs []Input
		check  func(t *testing.T, r *Request)
	}{
		{"rows", `{"instances": [[[1,2],[3,4]], [[5,6],[7,8.5]]]}`, []Input{image}, func(t *testing.T, r *Request) {
			a := r.Inputs["images"]
			if r.Columnar || len(a.Shape) != 3 || a.Shape[0] != 2 || math.Float32frombits(binary.LittleEndian.Uint32(a.Data[28:])) != 8.5 || len(a.Data) != 32 {
				t.Fatalf("%+v", a)
			}
		}},
		{"columnar", `{"signature_name": "s", "inputs": [[[1,2],[3,4]]]}`, []Input{image}, func(t *testing.T, r *Request) {
			if !r.Columnar || r.Signature != "s" || r.Inputs["images"].Shape[0] != 1 {
				t.Fatalf("%+v", r)
			}
		}},
		{"named rows", `{"instances": [{"a": 1, "b": "x"}, {"a": 2, "b": {"b64": "aGk="}}]}`,
			[]Input{{Name: "a", DType: dtype.Int64, Shape: []int64{-1}}, {Name: "b", DType: dtype.String}}, func(t *testing.T, r *Request) {
				if binary.LittleEndian.Uint64(r.Inputs["a"].Data[8:]) != 2 || r.Inputs["b"].Strings[1] != "hi" {
					t.Fatalf("%+v %+v", r.Inputs["a"], r.Inputs["b"])
				}
			}},
		{"named columns", `{"inputs": {"a": [true, false], "b": [[1],[2]]}}`,
			[]Input{{Name: "a", DType: dtype.Bool}, {Name: "b", DType: dtype.Uint8}}, func(t *testing.T, r *Request) {
				if string(r.Inputs["a"].Data) != "\x01\x00" || string(r.Inputs["b"].Data) != "\x01\x02" {
					t.Fatalf("%+v", r.Inputs)
				}
			}},
		{"b64 scalar", `{"inputs": {"b64": "AAE="}}`, []Input{{Name: "x", DType: dtype.String}}, func(t *testing.T, r *Request) {
			if r.Inputs["x"].Strings[0] != "\x00\x01" || len(r.Inputs["x"].Shape) != 0 {
				t.Fatalf("%+v", r.Inputs["x"])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode([]byte(tt.body), tt.inputs, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

func TestDecodeBadRequests(t *testing.T) {
	two := []Input{{Name: "a", DType: dtype.Float32}, {Name: "b", DType: dtype.Float32}}
	tests := []struct {
		name, body string
		inputs     []Input
		want       string
	}{
		{"not json", `{"instances": [1,`, []Input{image}, "not a JSON object"},
		{"array body", `[1,2]`, []Input{image}, "not a JSON object"},
		{"trailing", `{"inputs": 1} x`, []Input{{Name: "x", DType: dtype.Float32}}, "trailing data"},
		{"both", `{"instances": [1], "inputs": [1]}`, []Input{image}, "not both"},
		{"neither", `{"signature_name": "x"}`, []Input{image}, "missing instances or inputs"},
		{"unknown field", `{"instance": [1]}`, []Input{image}, `unknown field "instance"`},
		{"bad signature name", `{"signature_name": 3, "inputs": 1}`, []Input{image}, "must be a string"},
		{"instances not list", `{"instances": 3}`, []Input{image}, "must be a list"},
		{"empty instances", `{"instances": []}`, []Input{image}, "instances is empty"},
		{"ragged", `{"instances": [[[1,2],[3,4]], [[5,6],[7]]]}`, []Input{image}, "ragged"},
		{"ragged deeper", `{"instances": [[[1,2],[3,4]], [[5,6],[7,[8]]]]}`, []Input{image}, "wants numbers, got a list"},
		{"rank", `{"instances": [[1,2],[3,4]]}`, []Input{image}, "has rank 2"},
		{"dimension", `{"instances": [[[1,2,3],[3,4,5]]]}`, []Input{image}, "dimension 2 is 3"},
		{"empty dimension", `{"inputs": [[]]}`, []Input{{Name: "x", DType: dtype.Float32}}, "is empty"},
		{"string for float", `{"inputs": ["a"]}`, []Input{{Name: "x", DType: dtype.Float32}}, "wants numbers, got a string"},
		{"null", `{"inputs": [null]}`, []Input{{Name: "x", DType: dtype.Float32}}, "got null"},
		{"float overflow", `{"inputs": [1e39]}`, []Input{{Name: "x", DType: dtype.Float32}}, "out of range for float32"},
		{"huge", `{"inputs": [1e999]}`, []Input{{Name: "x", DType: dtype.Float64}}, "out of range"},
		{"int fraction", `{"inputs": [1.5]}`, []Input{{Name: "x", DType: dtype.Int32}}, "not an integer"},
		{"int32 overflow", `{"inputs": [3000000000]}`, []Input{{Name: "x", DType: dtype.Int32}}, "out of range for int32"},
		{"uint8 negative", `{"inputs": [-1]}`, []Input{{Name: "x", DType: dtype.Uint8}}, "out of range for uint8"},
		{"bool", `{"inputs": [1]}`, []Input{{Name: "x", DType: dtype.Bool}}, "wants booleans"},
		{"bad b64", `{"inputs": [{"b64": "!!"}]}`, []Input{{Name: "x", DType: dtype.String}}, "bad base64"},
		{"object element", `{"inputs": [{"c": 1}]}`, []Input{{Name: "x", DType: dtype.String}}, "must be {\"b64\""},
		{"missing input", `{"inputs": {"a": [1]}}`, two, `missing input "b"`},
		{"extra input", `{"inputs": {"a": [1], "b": [1], "c": [1]}}`, two, `unknown input "c"`},
		{"unnamed for two", `{"instances": [1, 2]}`, two, "each instance must be an object"},
		{"mixed instances", `{"instances": [{"a": 1, "b": 2}, 3]}`, two, "instance 1 is not an object"},
		{"too many elements", `{"inputs": [1,2,3,4,5,6,7,8,9,10,11,12,13]}`, []Input{{Name: "x", DType: dtype.Float32}}, "more than 12 elements"},
		{"too deep", `{"inputs": ` + strings.Repeat("[", 40) + "1" + strings.Repeat("]", 40) + `}`, []Input{{Name: "x", DType: dtype.Float32}}, "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.body), tt.inputs, Limits{MaxElements: 12})
			want := ErrBadRequest
			if tt.name == "too many elements" {
				want = ErrTooLarge
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, want) {
				t.Fatalf("got %v, want %q (%v)", err, tt.want, want)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	probs := Output{Name: "probs", Shape: []int64{2, 2}, Float32: true, Floats: []float64{0.1, 0.9, float64(float32(0.3)), 0.7}}
	ids := Output{Name: "ids", Shape: []int64{2}, Ints: []int64{1, 0}}
	b, err := EncodeRows([]Output{probs})
	if err != nil || string(b) != `{"predictions":[[0.1,0.9],[0.3,0.7]]}` {
		t.Fatalf("%s %v", b, err)
	}
	b, err = EncodeRows([]Output{probs, ids})
	if err != nil || string(b) != `{"predictions":[{"probs":[0.1,0.9],"ids":1},{"probs":[0.3,0.7],"ids":0}]}` {
		t.Fatalf("%s %v", b, err)
	}
	b, err = EncodeColumns([]Output{ids, {Name: "s", Shape: []int64{}, Strings: []string{"\xff"}}})
	if err != nil || string(b) != `{"outputs":{"ids":[1,0],"s":{"b64":"/w=="}}}` {
		t.Fatalf("%s %v", b, err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if _, err := EncodeRows([]Output{probs, {Name: "x", Shape: []int64{3}, Ints: []int64{1, 2, 3}}}); err == nil {
		t.Fatal("different batch sizes accepted")
	}
}

// TestNonFiniteAnswers: NaN and the infinities are written as TF Serving
// writes them, in every path that writes a float.
func TestNonFiniteAnswers(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, o := range []Output{
		{Name: "y", Shape: []int64{1, 3}, Floats: []float64{nan, inf, -inf}, Float32: true},
		{Name: "y", Shape: []int64{1, 3}, Floats: []float64{nan, inf, -inf}},
		{Name: "y", Shape: []int64{1, 3}, Float32: true, F32LE: f32le(float32(nan), float32(inf), float32(-inf))},
	} {
		got, err := EncodeRows([]Output{o})
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"predictions":[[NaN,Infinity,-Infinity]]}`; string(got) != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
}

func f32le(vs ...float32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}
