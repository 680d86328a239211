package serving

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/serving/tfspb"
)

// The REST side of classify and regress, after TF Serving's
// http_rest_api_handler.cc and json_tensor.cc
// (FillClassificationRequestFromJson, MakeJsonFromClassificationResult,
// MakeJsonFromRegressionResult):
//
//	POST /v1/models/NAME[/versions/N]:classify (or :regress)
//	{"signature_name": "...", "context": {FEATURE: VALUE}, "examples": [{FEATURE: VALUE}, ...]}
//
// where VALUE is a value or a list of values, all of one kind: JSON
// integers and booleans (1 and 0) make an int64_list, other numbers a
// float_list, strings and {"b64": "..."} a bytes_list. signature_name and
// context are optional; other keys are ignored, as TF Serving does. The
// answer is {"results": [[[LABEL, SCORE], ...], ...]} for classify and
// {"results": [VALUE, ...]} for regress: TF Serving's key is "results",
// though its REST documentation says "result" (tensorflow/serving#3652).

// examplesRequest is a classify or regress body split at its top level.
type examplesRequest struct {
	signature string
	context   json.RawMessage // nil: none
	examples  json.RawMessage
}

// splitExamples checks the body's JSON and its top level, as TF Serving
// does before it looks the model up.
func splitExamples(body []byte) (*examplesRequest, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalid("JSON Parse error: The document is empty")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, invalid("JSON Value: %s Is not object", excerpt(body))
		}
		return nil, invalid("JSON Parse error: %v", err)
	}
	if jsonType(body) != "Object" { // null unmarshals into a nil map
		return nil, invalid("JSON Value: %s Is not object", excerpt(body))
	}
	req := &examplesRequest{context: top["context"], examples: top["examples"]}
	if sig, ok := top["signature_name"]; ok {
		if jsonType(sig) != "String" {
			return nil, invalid("JSON Value: %s not formatted correctly. 'signature_name' key must be a string value.", excerpt(sig))
		}
		if err := json.Unmarshal(sig, &req.signature); err != nil {
			return nil, invalid("signature_name: %v", err)
		}
	}
	return req, nil
}

// excerpt is the start of a JSON value, for messages.
func excerpt(raw []byte) string {
	const max = 64
	raw = bytes.TrimSpace(raw)
	if len(raw) > max {
		return string(raw[:max]) + "..."
	}
	return string(raw)
}

// jsonType is rapidjson's name for a (valid) JSON value's type, as TF
// Serving's messages use it.
func jsonType(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "Null"
	}
	switch raw[0] {
	case 'n':
		return "Null"
	case 't':
		return "True"
	case 'f':
		return "False"
	case '{':
		return "Object"
	case '[':
		return "Array"
	case '"':
		return "String"
	}
	return "Number"
}

// input converts the context and examples as TF Serving's
// FillClassifyRegressRequestFromJson does, straight into serialized
// tf.Examples (no Example messages are built: memory follows the
// serialized bytes). The examples are counted as they come, so that a body
// of many tiny examples is refused before it is converted, and the bytes
// they take reserved as they grow.
func (req *examplesRequest) input(b *budget) (*exampleBatch, error) {
	batch := &exampleBatch{}
	var reserved int64
	reserve := func(n int64) error {
		// In steps, not per example: the share is behind a mutex.
		if n > reserved {
			step := max(n-reserved, 1<<20)
			if err := b.reserve(step); err != nil {
				return err
			}
			reserved += step
		}
		return nil
	}
	if req.context != nil {
		var err error
		if batch.context, err = exampleFromJSON(req.context); err != nil {
			return nil, err
		}
	}
	if req.examples == nil {
		return nil, invalid("When method is classify, key 'examples' is expected and was not found")
	}
	if jsonType(req.examples) != "Array" {
		return nil, invalid("Expecting 'examples' value to be an list/array")
	}
	dec := json.NewDecoder(bytes.NewReader(req.examples))
	if _, err := dec.Token(); err != nil { // '['
		return nil, invalid("examples: %v", err)
	}
	var held int64
	for dec.More() {
		if int64(len(batch.wire)) >= b.maxElements {
			return nil, fmt.Errorf("%w: the request holds more than %d examples", errTooLarge, b.maxElements)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, invalid("examples: %v", err)
		}
		ex, err := exampleFromJSON(raw)
		if err != nil {
			return nil, err
		}
		held += int64(cap(ex)) + 24
		if err := reserve(held); err != nil {
			return nil, err
		}
		batch.wire = append(batch.wire, ex)
		batch.bytes += int64(len(batch.context) + len(ex))
	}
	if len(batch.wire) == 0 {
		return nil, invalid("'examples' value is an empty array")
	}
	return batch, nil
}

// exampleFromJSON is TF Serving's MakeExampleFromJsonObject, serialized:
// each member a feature, its value (or each value of its list) added to
// the feature. Members come out in the body's order; of two with one name
// the last wins when the example is parsed, as in TF Serving's map.
func exampleFromJSON(raw json.RawMessage) ([]byte, error) {
	if t := jsonType(raw); t != "Object" {
		return nil, invalid("Example must be JSON object but got JSON %s", t)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, invalid("example: %v", err)
	}
	var features []byte // tensorflow.Features: map<string, Feature> feature = 1
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid("example: %v", err)
		}
		name, _ := tok.(string) // an object's keys are strings
		var content json.RawMessage
		if err := dec.Decode(&content); err != nil {
			return nil, invalid("example: %v", err)
		}
		var f featureBuilder
		if jsonType(content) == "Array" {
			var items []json.RawMessage
			if err := json.Unmarshal(content, &items); err != nil {
				return nil, invalid("feature %s: %v", name, err)
			}
			for _, it := range items {
				if err := f.add(name, it); err != nil {
					return nil, err
				}
			}
		} else if err := f.add(name, content); err != nil {
			return nil, err
		}
		var entry []byte // the map entry: key = 1, value = 2
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, name)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, f.wire())
		features = protowire.AppendTag(features, 1, protowire.BytesType)
		features = protowire.AppendBytes(features, entry)
	}
	if features == nil { // no members: TF Serving leaves features unset
		return []byte{}, nil
	}
	ex := protowire.AppendTag(nil, 1, protowire.BytesType) // Example: Features features = 1
	return protowire.AppendBytes(ex, features), nil
}

// The kinds of a feature's list, numbered as tensorflow.Feature's fields.
const (
	kindUnset = iota
	kindBytes
	kindFloat
	kindInt64
)

var kindNames = [...]string{"UNKNOWN", "bytes", "float", "int64"}

// featureBuilder collects one feature's values, all of one kind.
type featureBuilder struct {
	kind   int
	bytes  [][]byte
	floats []float32
	ints   []int64
}

func (f *featureBuilder) is(name string, kind int) error {
	if f.kind != kindUnset && f.kind != kind {
		return invalid("Unexpected element type in feature: %s expecting type: %s", name, kindNames[f.kind])
	}
	f.kind = kind
	return nil
}

// add is TF Serving's AddValueToFeature.
func (f *featureBuilder) add(name string, raw json.RawMessage) error {
	unexpected := func(t string) error {
		return invalid("Feature: %s has element with unexpected JSON type: %s", name, t)
	}
	switch t := jsonType(raw); t {
	case "Null", "Array":
		return unexpected(t)
	case "True", "False":
		if err := f.is(name, kindInt64); err != nil {
			return err
		}
		f.ints = append(f.ints, map[bool]int64{true: 1, false: 0}[t == "True"])
	case "Object":
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return invalid("feature %s: %v", name, err)
		}
		b64, ok := obj["b64"]
		if !ok || len(obj) != 1 || jsonType(b64) != "String" {
			return unexpected(t)
		}
		if err := f.is(name, kindBytes); err != nil {
			return err
		}
		var enc string
		if err := json.Unmarshal(b64, &enc); err != nil {
			return invalid("feature %s: %v", name, err)
		}
		// absl::Base64Unescape takes the standard alphabet, padded or not.
		dec, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(enc, "="))
		if err != nil {
			return invalid("Unable to base64 decode")
		}
		f.bytes = append(f.bytes, dec)
	case "String":
		if err := f.is(name, kindBytes); err != nil {
			return err
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return invalid("feature %s: %v", name, err)
		}
		f.bytes = append(f.bytes, []byte(s))
	default: // Number
		text := string(bytes.TrimSpace(raw))
		if !strings.ContainsAny(text, ".eE") { // rapidjson's integers
			if i, err := strconv.ParseInt(text, 10, 64); err == nil {
				if err := f.is(name, kindInt64); err != nil {
					return err
				}
				f.ints = append(f.ints, i)
				return nil
			}
			if _, err := strconv.ParseUint(text, 10, 64); err == nil {
				if err := f.is(name, kindInt64); err != nil {
					return err
				}
				return invalid("Feature: %s has uint64 element. Only int64 is supported.", name)
			}
			// Past uint64, rapidjson reads the number as a double.
		}
		if err := f.is(name, kindFloat); err != nil {
			return err
		}
		v, err := strconv.ParseFloat(text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return invalid("feature %s: bad number %s", name, text)
		}
		if math.IsInf(v, 0) || math.Abs(v) > math.MaxFloat32 {
			return invalid("Cannot convert JSON value: %s to float without loss of precision.", text)
		}
		f.floats = append(f.floats, float32(v))
	}
	return nil
}

// wire serializes the feature: tensorflow.Feature's oneof kind, bytes_list
// = 1, float_list = 2, int64_list = 3, each a message whose repeated value
// = 1 is packed for numbers. A feature with no values has no kind.
func (f *featureBuilder) wire() []byte {
	var list []byte
	switch f.kind {
	case kindBytes:
		for _, v := range f.bytes {
			list = protowire.AppendTag(list, 1, protowire.BytesType)
			list = protowire.AppendBytes(list, v)
		}
	case kindFloat:
		packed := make([]byte, 0, 4*len(f.floats))
		for _, v := range f.floats {
			packed = protowire.AppendFixed32(packed, math.Float32bits(v))
		}
		list = protowire.AppendTag(list, 1, protowire.BytesType)
		list = protowire.AppendBytes(list, packed)
	case kindInt64:
		var packed []byte
		for _, v := range f.ints {
			packed = protowire.AppendVarint(packed, uint64(v))
		}
		list = protowire.AppendTag(list, 1, protowire.BytesType)
		list = protowire.AppendBytes(list, packed)
	default:
		return nil
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, protowire.Number(f.kind), protowire.BytesType), list)
}

// appendDecimal writes a float as TF Serving's WriteDecimal does: six
// significant digits if they read back as the same float32, else nine;
// ".0" after a whole number not in exponent form. NaN and infinities,
// which JSON lacks, are written null, as this server's predict does (TF
// Serving writes NaN and Infinity).
func appendDecimal(b []byte, v float32) []byte {
	f := float64(v)
	if nf, ok := restjson.AppendNonFinite(b, f); ok {
		return nf
	}
	s := strconv.FormatFloat(f, 'g', 6, 64)
	if back, err := strconv.ParseFloat(s, 32); err != nil || float32(back) != v {
		s = strconv.FormatFloat(f, 'g', 9, 64)
	}
	b = append(b, s...)
	if !strings.ContainsAny(s, ".e") {
		b = append(b, ".0"...)
	}
	return b
}

// classifyJSON is MakeJsonFromClassificationResult's answer.
func classifyJSON(res *tfspb.ClassificationResult) []byte {
	b := []byte(`{"results": [`)
	for i, c := range res.GetClassifications() {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '[')
		for j, cl := range c.GetClasses() {
			if j > 0 {
				b = append(b, ", "...)
			}
			label, _ := json.Marshal(cl.GetLabel()) // a string cannot fail
			b = append(append(append(b, '['), label...), ", "...)
			b = append(appendDecimal(b, cl.GetScore()), ']')
		}
		b = append(b, ']')
	}
	return append(b, "]}"...)
}

// regressJSON is MakeJsonFromRegressionResult's answer.
func regressJSON(res *tfspb.RegressionResult) []byte {
	b := []byte(`{"results": [`)
	for i, r := range res.GetRegressions() {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendDecimal(b, r.GetValue())
	}
	return append(b, "]}"...)
}

// restExamples is the REST transport of classify and regress (verb): the
// body is read and its top level checked before a slot is taken; the
// examples are converted once the signature has passed, within the
// request's budget.
func (s *Server) restExamples(w http.ResponseWriter, r *http.Request, name string, version int64, verb string) {
	body, err := s.readRESTBody(w, r)
	var req *examplesRequest
	if err == nil {
		req, err = splitExamples(body)
	}
	if err != nil {
		s.count(name, verb, time.Now(), &err)
		s.fail(w, err)
		return
	}
	method := classifyMethod
	if verb == "regress" {
		method = regressMethod
	}
	res, n, err := s.runExamples(r.Context(), exampleRun{api: verb, model: name, version: version,
		signature: req.signature, method: method,
		input: req.input})
	if err != nil {
		s.fail(w, err)
		return
	}
	var out []byte
	if method == classifyMethod {
		var c *tfspb.ClassificationResult
		if c, err = classifyResult(n, res.outputs); err == nil {
			out = classifyJSON(c)
		}
	} else {
		var g *tfspb.RegressionResult
		if g, err = regressResult(n, res.outputs); err == nil {
			out = regressJSON(g)
		}
	}
	if err == nil {
		err = s.holdAnswer(r, len(out))
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
