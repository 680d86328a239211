package restjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/tfgo-project/gotf/tfwrap/dtype"
)

// ErrBadRequest wraps every decoding error (HTTP 400).
var ErrBadRequest = errors.New("bad request")

// Input is what the decoder needs to know of one signature input.
type Input struct {
	Name  string
	DType dtype.DType
	Shape []int64 // -1 for any size; nil for any rank
}

// Array is a decoded, rectangular input: exactly one of the slices is set,
// in row-major order.
type Array struct {
	Shape []int64
	// Data holds numbers and booleans as the input dtype's little-endian
	// bytes (one byte per bool), decoded straight into it.
	Data    []byte
	Strings []string // dtype.String
}

// Request is a decoded predict request.
type Request struct {
	Signature string
	Columnar  bool // "inputs" (answer with "outputs") rather than "instances"
	Inputs    map[string]*Array
}

// Limits bound what one request may ask for.
type Limits struct {
	MaxElements int // total elements over all inputs (0: 1<<24)
	MaxDepth    int // nesting depth (0: 32)
	// Reserve, if set, is asked for the memory the general decoder will
	// take before it builds a tree of a value's JSON (about
	// TreeBytesPerByte times the value's size); its error is returned.
	// The fast path for numbers needs no reservation.
	Reserve func(bytes int64) error
}

// TreeBytesPerByte bounds the memory encoding/json's tree of interface
// values takes per byte of JSON (a one-digit number and its comma become
// a json.Number in an interface and a slice slot: about 40 bytes).
const TreeBytesPerByte = 48

// ErrTooLarge wraps the error of a request over its element limit.
var ErrTooLarge = errors.New("request too large")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, args...)...)
}

// Decode parses a predict body against the signature's inputs: Parse, then
// Envelope.Decode.
func Decode(body []byte, inputs []Input, lim Limits) (*Request, error) {
	env, err := Parse(body)
	if err != nil {
		return nil, err
	}
	return env.Decode(inputs, lim)
}

type decoder struct {
	lim   Limits
	count int
}

func parse(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func (d *decoder) columnar(raw json.RawMessage, inputs []Input, req *Request) error {
	if done, err := d.single(raw, inputs, req, false); done || err != nil {
		return err
	}
	if err := d.reserve(raw); err != nil {
		return err
	}
	v, err := parse(raw)
	if err != nil {
		return bad("inputs: %v", err)
	}
	obj, isObj := v.(map[string]any)
	if isObj && !isB64(obj) {
		if err := checkNames(obj, inputs); err != nil {
			return err
		}
		for _, in := range inputs {
			a, err := d.array(obj[in.Name], in)
			if err != nil {
				return err
			}
			req.Inputs[in.Name] = a
		}
		return nil
	}
	if len(inputs) != 1 {
		return bad("the signature has %d inputs (%s): give inputs as an object naming each", len(inputs), names(inputs))
	}
	a, err := d.array(v, inputs[0])
	if err != nil {
		return err
	}
	req.Inputs[inputs[0].Name] = a
	return nil
}

func (d *decoder) rows(raw json.RawMessage, inputs []Input, req *Request) error {
	if done, err := d.single(raw, inputs, req, true); done || err != nil {
		return err
	}
	if err := d.reserve(raw); err != nil {
		return err
	}
	v, err := parse(raw)
	if err != nil {
		return bad("instances: %v", err)
	}
	list, ok := v.([]any)
	if !ok {
		return bad("instances must be a list")
	}
	if len(list) == 0 {
		return bad("instances is empty")
	}
	// Named instances ({"input": value, …}) or bare values for a single input.
	_, named := list[0].(map[string]any)
	if named && isB64(list[0].(map[string]any)) {
		named = false
	}
	if !named && len(inputs) != 1 {
		return bad("the signature has %d inputs (%s): each instance must be an object naming them", len(inputs), names(inputs))
	}
	for _, in := range inputs {
		col := make([]any, len(list))
		for i, item := range list {
			if !named {
				col[i] = item
				continue
			}
			obj, ok := item.(map[string]any)
			if !ok || isB64(obj) {
				return bad("instance %d is not an object like instance 0", i)
			}
			if err := checkNames(obj, inputs); err != nil {
				return fmt.Errorf("instance %d: %w", i, err)
			}
			col[i] = obj[in.Name]
		}
		a, err := d.array(col, in)
		if err != nil {
			return err
		}
		req.Inputs[in.Name] = a
	}
	return nil
}

// reserve asks for the memory of the general decoder's tree.
func (d *decoder) reserve(raw []byte) error {
	if d.lim.Reserve == nil {
		return nil
	}
	return d.lim.Reserve(int64(len(raw)) * TreeBytesPerByte)
}

func isB64(obj map[string]any) bool {
	_, ok := obj["b64"]
	return ok && len(obj) == 1
}

func names(inputs []Input) string {
	var s []string
	for _, in := range inputs {
		s = append(s, strconv.Quote(in.Name))
	}
	sort.Strings(s)
	return fmt.Sprint(s)
}

func checkNames(obj map[string]any, inputs []Input) error {
	want := map[string]bool{}
	for _, in := range inputs {
		want[in.Name] = true
	}
	var extra []string
	for k := range obj {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return bad("unknown input %q (the signature takes %s)", extra[0], names(inputs))
	}
	for _, in := range inputs {
		if _, ok := obj[in.Name]; !ok {
			return bad("missing input %q (the signature takes %s)", in.Name, names(inputs))
		}
	}
	return nil
}

// single decodes a one-input request on the fast path when it can.
func (d *decoder) single(raw []byte, inputs []Input, req *Request, rows bool) (bool, error) {
	if len(inputs) != 1 {
		return false, nil
	}
	a, ok, err := d.fast(raw, inputs[0], rows)
	if ok {
		req.Inputs[inputs[0].Name] = a
	}
	return ok, err
}

// fast tries fastArray, then applies the same checks as array. For rows
// the value must be a list (the batch).
func (d *decoder) fast(raw []byte, in Input, rows bool) (*Array, bool, error) {
	saved := d.count
	a, ok, err := fastArray(raw, in, d.lim, &d.count)
	if err != nil {
		return nil, false, err
	}
	if !ok || (rows && len(a.Shape) == 0) {
		d.count = saved
		return nil, false, nil
	}
	if err := checkShape(a.Shape, in); err != nil {
		return nil, false, err
	}
	return a, true, nil
}

// array flattens a nested JSON value into a rectangular Array of the
// input's kind and checks it against the input's shape.
func (d *decoder) array(v any, in Input) (*Array, error) {
	a := &Array{}
	shape, err := d.shapeOf(v, 0, in.Name)
	if err != nil {
		return nil, err
	}
	a.Shape = shape
	if err := d.fill(v, shape, in, a); err != nil {
		return nil, err
	}
	if err := checkShape(shape, in); err != nil {
		return nil, err
	}
	return a, nil
}

func checkShape(shape []int64, in Input) error {
	if in.Shape != nil {
		if len(in.Shape) != len(shape) {
			return bad("input %q has rank %d (shape %v), the signature wants rank %d %v", in.Name, len(shape), shape, len(in.Shape), in.Shape)
		}
		for i, want := range in.Shape {
			if want >= 0 && shape[i] != want {
				return bad("input %q has shape %v: dimension %d is %d, the signature wants %d (shape %v)", in.Name, shape, i, shape[i], want, in.Shape)
			}
		}
	}
	for i, n := range shape {
		if n == 0 {
			return bad("input %q has shape %v: dimension %d is empty", in.Name, shape, i)
		}
	}
	return nil
}

// shapeOf follows the first element down, bounding depth and size.
func (d *decoder) shapeOf(v any, depth int, name string) ([]int64, error) {
	if depth > d.lim.MaxDepth {
		return nil, bad("input %q is nested deeper than %d", name, d.lim.MaxDepth)
	}
	list, ok := v.([]any)
	if !ok {
		return []int64{}, nil
	}
	if len(list) == 0 {
		return []int64{0}, nil
	}
	rest, err := d.shapeOf(list[0], depth+1, name)
	if err != nil {
		return nil, err
	}
	return append([]int64{int64(len(list))}, rest...), nil
}

func (d *decoder) fill(v any, shape []int64, in Input, a *Array) error {
	if len(shape) == 0 {
		d.count++
		if d.count > d.lim.MaxElements {
			return fmt.Errorf("%w: the request holds more than %d elements", ErrTooLarge, d.lim.MaxElements)
		}
		return scalar(v, in, a)
	}
	list, ok := v.([]any)
	if !ok || int64(len(list)) != shape[0] {
		got := "a scalar"
		if ok {
			got = fmt.Sprintf("%d elements", len(list))
		}
		return bad("input %q is ragged: expected a list of %d, got %s", in.Name, shape[0], got)
	}
	for _, item := range list {
		if err := d.fill(item, shape[1:], in, a); err != nil {
			return err
		}
	}
	return nil
}

func scalar(v any, in Input, a *Array) error {
	switch in.DType {
	case dtype.String:
		switch x := v.(type) {
		case string:
			a.Strings = append(a.Strings, x)
		case map[string]any:
			s, ok := x["b64"].(string)
			if !ok || len(x) != 1 {
				return bad("input %q: an object element must be {\"b64\": \"…\"}", in.Name)
			}
			raw, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return bad("input %q: bad base64: %v", in.Name, err)
			}
			a.Strings = append(a.Strings, string(raw))
		default:
			return bad("input %q wants strings, got %s", in.Name, jsonType(v))
		}
	case dtype.Bool:
		b, ok := v.(bool)
		if !ok {
			return bad("input %q wants booleans, got %s", in.Name, jsonType(v))
		}
		putBool(a, b)
	case dtype.Float32, dtype.Float64:
		n, ok := v.(json.Number)
		if !ok {
			return bad("input %q wants numbers, got %s", in.Name, jsonType(v))
		}
		f, err := n.Float64()
		if err != nil || !putFloat(a, in.DType, f) {
			return bad("input %q: %s is out of range for %v", in.Name, n, in.DType)
		}
	case dtype.Int32, dtype.Int64, dtype.Uint8:
		n, ok := v.(json.Number)
		if !ok {
			return bad("input %q wants integers, got %s", in.Name, jsonType(v))
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return bad("input %q: %s is not an integer in range for %v", in.Name, n, in.DType)
		}
		return putInt(a, in, i)
	default:
		return bad("input %q has a dtype the server does not decode", in.Name)
	}
	return nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
