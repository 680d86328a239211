package serving

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/tfspb"
	"github.com/tfgo-project/gotf/serving/tfspb/examplepb"
	"github.com/tfgo-project/gotf/tfwrap"
)

// featSpec, exSpec and caseSpec describe examples to the reference
// scripts (scripts/reference/estimator_savedmodel.py) and to Go.
type featSpec struct {
	Float []float32 `json:"float,omitempty"`
	Int64 []int64   `json:"int64,omitempty"`
	Bytes []string  `json:"bytes,omitempty"`
}

type exSpec map[string]featSpec

type caseSpec struct {
	Context  exSpec   `json:"context,omitempty"`
	Examples []exSpec `json:"examples"`
}

func (e exSpec) example() *examplepb.Example {
	ex := &examplepb.Example{Features: &examplepb.Features{Feature: map[string]*examplepb.Feature{}}}
	for name, f := range e {
		switch {
		case f.Float != nil:
			ex.Features.Feature[name] = &examplepb.Feature{Kind: &examplepb.Feature_FloatList{FloatList: &examplepb.FloatList{Value: f.Float}}}
		case f.Int64 != nil:
			ex.Features.Feature[name] = &examplepb.Feature{Kind: &examplepb.Feature_Int64List{Int64List: &examplepb.Int64List{Value: f.Int64}}}
		default:
			var b [][]byte
			for _, s := range f.Bytes {
				b = append(b, []byte(s))
			}
			ex.Features.Feature[name] = &examplepb.Feature{Kind: &examplepb.Feature_BytesList{BytesList: &examplepb.BytesList{Value: b}}}
		}
	}
	return ex
}

func (c caseSpec) input() *tfspb.Input {
	var exs []*examplepb.Example
	for _, e := range c.Examples {
		exs = append(exs, e.example())
	}
	if c.Context != nil {
		return &tfspb.Input{Kind: &tfspb.Input_ExampleListWithContext{ExampleListWithContext: &tfspb.ExampleListWithContext{
			Examples: exs, Context: c.Context.example()}}}
	}
	return &tfspb.Input{Kind: &tfspb.Input_ExampleList{ExampleList: &tfspb.ExampleList{Examples: exs}}}
}

// The cases every transport sends, and the same as REST bodies. In "ctx"
// the context gives k and tag to both examples, and the second example's
// own tag wins over the context's.
var (
	classifyCases = map[string]caseSpec{
		"plain": {Examples: []exSpec{
			{"x": {Float: []float32{1, 2}}, "k": {Int64: []int64{3}}, "tag": {Bytes: []string{"hi"}}},
			{"x": {Float: []float32{-0.5, 0.25}}},
		}},
		"ctx": {Context: exSpec{"k": {Int64: []int64{2}}, "tag": {Bytes: []string{"hi"}}}, Examples: []exSpec{
			{"x": {Float: []float32{1, 0}}},
			{"x": {Float: []float32{0, 1}}, "tag": {Bytes: []string{"lo"}}},
		}},
	}
	plainJSON = `"examples": [{"x": [1.0, 2.0], "k": 3, "tag": "hi"}, {"x": [-0.5, 0.25]}]`
	ctxJSON   = `"context": {"k": [2], "tag": {"b64": "aGk="}}, "examples": [{"x": [1.0, 0.0]}, {"x": [0.0, 1.0], "tag": "lo"}]`
)

// reference is what TF computes for a case by running the model's
// classify and regress signatures directly.
type reference struct {
	Classes [][]string  `json:"classes"`
	Scores  [][]float64 `json:"scores"`
	Outputs []float64   `json:"outputs"`
}

func near(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-5 {
			t.Fatalf("%s[%d] = %v, want %v (all: %v, want %v)", what, i, got[i], want[i], got, want)
		}
	}
}

func flat(rows [][]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// checkClassification compares a ClassificationResult with the reference:
// labels and scores, or empty labels (scores only), or zero scores
// (classes only).
func checkClassification(t *testing.T, what string, res *tfspb.ClassificationResult, ref reference, labels, scores bool) {
	t.Helper()
	var got []float64
	var gotLabels, want []string
	for _, c := range res.GetClassifications() {
		for _, cl := range c.GetClasses() {
			got = append(got, float64(cl.GetScore()))
			gotLabels = append(gotLabels, cl.GetLabel())
		}
	}
	wantScores := flat(ref.Scores)
	if !scores {
		wantScores = make([]float64, len(wantScores))
	}
	for _, row := range ref.Classes {
		for _, l := range row {
			if !labels {
				l = ""
			}
			want = append(want, l)
		}
	}
	near(t, what+" scores", got, wantScores)
	if fmt.Sprint(gotLabels) != fmt.Sprint(want) {
		t.Fatalf("%s labels %q, want %q", what, gotLabels, want)
	}
	if len(res.GetClassifications()) != len(ref.Scores) {
		t.Fatalf("%s: %d classifications, want %d", what, len(res.GetClassifications()), len(ref.Scores))
	}
}

// TestClassifyRegress serves an Estimator-style SavedModel written by
// Python TF and checks Classify, Regress and MultiInference over gRPC
// (TF Serving's official Python client under process isolation, the Go
// client in process) and :classify and :regress over REST against what
// TF computes running the same signatures, then the errors of bad
// requests, the server serving on afterwards.
func TestClassifyRegress(t *testing.T) {
	base := t.TempDir()
	var ref map[string]reference
	if err := pyref.Run("estimator_savedmodel.py", map[string]any{"dir": filepath.Join(base, "est", "1"), "cases": classifyCases}, &ref); err != nil {
		t.Fatal(err)
	}
	if ref["ctx"].Outputs[0] == ref["ctx"].Outputs[1] || ref["plain"].Scores[0][0] == ref["ctx"].Scores[0][0] {
		t.Fatalf("the reference cases do not tell features apart: %+v", ref)
	}
	for _, iso := range []Isolation{IsolationProcess, IsolationNone} {
		t.Run(string(iso), func(t *testing.T) {
			srv, hs := start(t, Config{Models: []ModelConfig{{Name: "est", BasePath: filepath.Join(base, "est")}}, Isolation: iso,
				MaxElements: 1000, MaxBodyBytes: 1 << 20, MaxInputBytes: 4 << 20})
			addr := listenGRPC(t, srv)
			if iso == IsolationProcess {
				t.Run("official client", func(t *testing.T) { officialClient(t, addr, ref) })
			} else {
				t.Run("go client", func(t *testing.T) { goClient(t, srv, ref) })
			}
			t.Run("rest", func(t *testing.T) { restClassify(t, hs.URL, ref) })
			t.Run("rest errors", func(t *testing.T) { restClassifyErrors(t, hs.URL) })
			t.Run("hostile context", func(t *testing.T) { hostileContext(t, srv) })
		})
	}
}

func officialClient(t *testing.T, addr string, ref map[string]reference) {
	type spec struct {
		Name      string `json:"name"`
		Signature string `json:"signature"`
		Version   int64  `json:"version"`
	}
	type answer struct {
		Spec    spec        `json:"spec"`
		Classes [][]string  `json:"classes"`
		Scores  [][]float64 `json:"scores"`
		Values  []float64   `json:"values"`
	}
	var out struct {
		Answers map[string]answer    `json:"answers"`
		Multi   []answer             `json:"multi"`
		Errors  map[string][2]string `json:"errors"`
	}
	if err := pyref.Run("classify_client.py", map[string]any{"address": addr, "model": "est", "cases": classifyCases, "too_many": 1001}, &out); err != nil {
		t.Fatal(err)
	}
	asResult := func(a answer) *tfspb.ClassificationResult {
		res := &tfspb.ClassificationResult{}
		for i := range a.Scores {
			c := &tfspb.Classifications{}
			for j := range a.Scores[i] {
				c.Classes = append(c.Classes, &tfspb.Class{Label: a.Classes[i][j], Score: float32(a.Scores[i][j])})
			}
			res.Classifications = append(res.Classifications, c)
		}
		return res
	}
	for name, c := range map[string]struct {
		ref            string
		signature      string
		labels, scores bool
	}{
		"classify_default": {"plain", "serving_default", true, true},
		"classify_context": {"ctx", "classify", true, true},
		"scores_only":      {"plain", "classify_scores", false, true},
		"classes_only":     {"plain", "classify_classes", true, false},
	} {
		a := out.Answers[name]
		if a.Spec != (spec{"est", c.signature, 1}) {
			t.Fatalf("%s: model_spec %+v", name, a.Spec)
		}
		checkClassification(t, name, asResult(a), ref[c.ref], c.labels, c.scores)
	}
	near(t, "regress_plain", out.Answers["regress_plain"].Values, ref["plain"].Outputs)
	near(t, "regress_context", out.Answers["regress_context"].Values, ref["ctx"].Outputs)
	if s := out.Answers["regress_plain"].Spec; s != (spec{"est", "regress", 1}) {
		t.Fatalf("regress model_spec %+v", s)
	}
	if len(out.Multi) != 2 || out.Multi[0].Spec != (spec{"est", "classify", 1}) || out.Multi[1].Spec != (spec{"est", "regress", 1}) {
		t.Fatalf("MultiInference results %+v", out.Multi)
	}
	checkClassification(t, "multi classify", asResult(out.Multi[0]), ref["ctx"], true, true)
	near(t, "multi regress", out.Multi[1].Values, ref["ctx"].Outputs)

	for name, want := range map[string][2]string{
		"unknown_model":        {"NOT_FOUND", "nope"},
		"unknown_signature":    {"INVALID_ARGUMENT", "nope"},
		"classify_on_regress":  {"INVALID_ARGUMENT", "Expected classification signature method_name to be tensorflow/serving/classify. Was: tensorflow/serving/regress"},
		"classify_on_predict":  {"INVALID_ARGUMENT", "Expected classification signature method_name to be tensorflow/serving/classify. Was: tensorflow/serving/predict"},
		"regress_on_classify":  {"INVALID_ARGUMENT", "Expected regression signature method_name to be tensorflow/serving/regress. Was: tensorflow/serving/classify"},
		"empty_list":           {"INVALID_ARGUMENT", "Input is empty."},
		"context_only":         {"INVALID_ARGUMENT", "Input is empty."},
		"no_input":             {"INVALID_ARGUMENT", "Input is empty."},
		"too_many":             {"RESOURCE_EXHAUSTED", "more than the limit of 1000"},
		"classify_bad_output":  {"INVALID_ARGUMENT", "Expected classes output batch size of 2. Got: 1"},
		"regress_bad_output":   {"INVALID_ARGUMENT", "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got [2,2]"},
		"multi_same_signature": {"INVALID_ARGUMENT", "Duplicate evaluation of signature: classify"},
		"multi_two_models":     {"INVALID_ARGUMENT", "must access the same model name"},
		"multi_unknown_method": {"UNIMPLEMENTED", "Unsupported signature method_name: tensorflow/serving/predict"},
		"multi_wrong_method":   {"INVALID_ARGUMENT", "Expected classification signature method_name"},
		"multi_no_tasks":       {"INVALID_ARGUMENT", "no tasks"},
		"multi_no_input":       {"INVALID_ARGUMENT", "Input is empty."},
		"after":                {"OK", ""},
	} {
		got := out.Errors[name]
		if got[0] != want[0] || !strings.Contains(got[1], want[1]) {
			t.Errorf("%s: got %s %q, want %s %q", name, got[0], got[1], want[0], want[1])
		}
	}
}

func goClient(t *testing.T, srv *Server, ref map[string]reference) {
	client := tfspb.NewPredictionServiceClient(serveGRPC(t, srv))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.Classify(ctx, &tfspb.ClassificationRequest{ModelSpec: &tfspb.ModelSpec{Name: "est"}, Input: classifyCases["plain"].input()})
	if err != nil {
		t.Fatal(err)
	}
	if c.GetModelSpec().GetSignatureName() != "serving_default" || c.GetModelSpec().GetVersion().GetValue() != 1 {
		t.Fatalf("model_spec %v", c.GetModelSpec())
	}
	checkClassification(t, "classify", c.GetResult(), ref["plain"], true, true)
	r, err := client.Regress(ctx, &tfspb.RegressionRequest{ModelSpec: &tfspb.ModelSpec{Name: "est", SignatureName: "regress"}, Input: classifyCases["ctx"].input()})
	if err != nil {
		t.Fatal(err)
	}
	var vals []float64
	for _, x := range r.GetResult().GetRegressions() {
		vals = append(vals, float64(x.GetValue()))
	}
	near(t, "regress", vals, ref["ctx"].Outputs)
	m, err := client.MultiInference(ctx, &tfspb.MultiInferenceRequest{Input: classifyCases["ctx"].input(), Tasks: []*tfspb.InferenceTask{
		{ModelSpec: &tfspb.ModelSpec{Name: "est", SignatureName: "classify_scores"}, MethodName: classifyMethod},
		{ModelSpec: &tfspb.ModelSpec{Name: "est", SignatureName: "regress"}, MethodName: regressMethod},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.GetResults()) != 2 {
		t.Fatalf("%d results", len(m.GetResults()))
	}
	checkClassification(t, "multi classify", m.GetResults()[0].GetClassificationResult(), ref["ctx"], false, true)
	vals = nil
	for _, x := range m.GetResults()[1].GetRegressionResult().GetRegressions() {
		vals = append(vals, float64(x.GetValue()))
	}
	near(t, "multi regress", vals, ref["ctx"].Outputs)
	_, err = client.Classify(ctx, &tfspb.ClassificationRequest{ModelSpec: &tfspb.ModelSpec{Name: "est", SignatureName: "regress"}, Input: classifyCases["plain"].input()})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "Expected classification signature method_name") {
		t.Fatalf("classify on a regress signature: %v", err)
	}
}

// restClassify checks :classify and :regress answers against TF's.
func restClassify(t *testing.T, url string, ref map[string]reference) {
	u := url + "/v1/models/est"
	classify := func(path, body string, want reference, labels, scores bool) {
		t.Helper()
		code, out := call(t, "POST", u+path, body)
		if code != 200 {
			t.Fatalf("%s: %d %v", path, code, out)
		}
		rows, _ := out["results"].([]any)
		res := &tfspb.ClassificationResult{}
		for _, row := range rows {
			c := &tfspb.Classifications{}
			for _, pair := range row.([]any) {
				p := pair.([]any)
				c.Classes = append(c.Classes, &tfspb.Class{Label: p[0].(string), Score: float32(p[1].(float64))})
			}
			res.Classifications = append(res.Classifications, c)
		}
		checkClassification(t, path+" "+body, res, want, labels, scores)
	}
	classify(":classify", "{"+plainJSON+"}", ref["plain"], true, true)
	classify("/versions/1:classify", `{"signature_name": "classify", `+ctxJSON+`}`, ref["ctx"], true, true)
	classify(":classify", `{"signature_name": "classify_classes", `+plainJSON+`}`, ref["plain"], true, false)
	for path, c := range map[string]struct {
		body string
		want []float64
	}{
		":regress":            {`{"signature_name": "regress", ` + plainJSON + `}`, ref["plain"].Outputs},
		"/versions/1:regress": {`{"signature_name": "regress", "ignored": 1, ` + ctxJSON + `}`, ref["ctx"].Outputs},
	} {
		code, out := call(t, "POST", u+path, c.body)
		if code != 200 {
			t.Fatalf("%s: %d %v", path, code, out)
		}
		near(t, path, flatten(out["results"]), c.want)
	}
}

func restClassifyErrors(t *testing.T, url string) {
	examples := func(ex string) string { return `{"examples": [` + ex + `]}` }
	for _, c := range []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"unknown model", "POST", "/v1/models/nope:classify", "{" + plainJSON + "}", 404, "model not found"},
		{"unknown version", "POST", "/v1/models/est/versions/9:regress", "{" + plainJSON + "}", 404, "no loaded version 9"},
		{"get", "GET", "/v1/models/est:classify", "", 405, "not allowed"},
		{"classify on regress", "POST", "/v1/models/est:classify", `{"signature_name": "regress", ` + plainJSON + `}`, 400,
			"Expected classification signature method_name to be tensorflow/serving/classify. Was: tensorflow/serving/regress"},
		{"classify on predict", "POST", "/v1/models/est:classify", `{"signature_name": "predict", ` + plainJSON + `}`, 400,
			"Was: tensorflow/serving/predict"},
		{"regress on classify", "POST", "/v1/models/est:regress", "{" + plainJSON + "}", 400,
			"Expected regression signature method_name to be tensorflow/serving/regress. Was: tensorflow/serving/classify"},
		{"unknown signature", "POST", "/v1/models/est:classify", `{"signature_name": "nope", ` + plainJSON + `}`, 400, "signature not found"},
		{"empty examples", "POST", "/v1/models/est:classify", `{"examples": []}`, 400, "'examples' value is an empty array"},
		{"no examples", "POST", "/v1/models/est:classify", `{"context": {"k": 1}}`, 400, "key 'examples' is expected"},
		{"examples not a list", "POST", "/v1/models/est:classify", `{"examples": {"x": 1}}`, 400, "Expecting 'examples' value to be an list/array"},
		{"malformed json", "POST", "/v1/models/est:classify", `{"examples": [{"x": [1.0, 2.0]}`, 400, "JSON Parse error"},
		{"empty body", "POST", "/v1/models/est:classify", ``, 400, "The document is empty"},
		{"not an object", "POST", "/v1/models/est:classify", `[1, 2]`, 400, "Is not object"},
		{"null body", "POST", "/v1/models/est:classify", `null`, 400, "Is not object"},
		{"signature not a string", "POST", "/v1/models/est:classify", `{"signature_name": 3, ` + plainJSON + `}`, 400, "'signature_name' key must be a string value"},
		{"example not an object", "POST", "/v1/models/est:classify", examples(`[1.0, 2.0]`), 400, "Example must be JSON object but got JSON Array"},
		{"context not an object", "POST", "/v1/models/est:classify", `{"context": null, ` + plainJSON + `}`, 400, "Example must be JSON object but got JSON Null"},
		{"mixed float and string", "POST", "/v1/models/est:classify", examples(`{"x": [1.0, "a"]}`), 400, "Unexpected element type in feature: x expecting type: float"},
		{"mixed int and float", "POST", "/v1/models/est:classify", examples(`{"x": [1, 2.5]}`), 400, "Unexpected element type in feature: x expecting type: int64"},
		{"mixed bytes and bool", "POST", "/v1/models/est:classify", examples(`{"tag": [{"b64": "aGk="}, true]}`), 400, "feature: tag expecting type: bytes"},
		{"bad b64", "POST", "/v1/models/est:classify", examples(`{"x": [1.0, 2.0], "tag": {"b64": "a!b"}}`), 400, "Unable to base64 decode"},
		{"object not b64", "POST", "/v1/models/est:classify", examples(`{"tag": {"b64": "aGk=", "x": 1}}`), 400, "Feature: tag has element with unexpected JSON type: Object"},
		{"null value", "POST", "/v1/models/est:classify", examples(`{"x": [1.0, null]}`), 400, "Feature: x has element with unexpected JSON type: Null"},
		{"nested list", "POST", "/v1/models/est:classify", examples(`{"x": [[1.0, 2.0]]}`), 400, "Feature: x has element with unexpected JSON type: Array"},
		{"uint64", "POST", "/v1/models/est:classify", examples(`{"k": 18446744073709551615}`), 400, "Feature: k has uint64 element. Only int64 is supported."},
		{"lossy float", "POST", "/v1/models/est:classify", examples(`{"x": [1e300, 1.0]}`), 400, "to float without loss of precision"},
		{"feature the model cannot parse", "POST", "/v1/models/est:classify", examples(`{"x": [1.0, 2.0, 3.0]}`), 400, ""},
		{"bad classes output", "POST", "/v1/models/est:classify", `{"signature_name": "classify_bad", ` + plainJSON + `}`, 400, "Expected classes output batch size of 2. Got: 1"},
		{"bad regress output", "POST", "/v1/models/est:regress", `{"signature_name": "regress_bad", ` + plainJSON + `}`, 400, "but got [2,2]"},
		{"too many examples", "POST", "/v1/models/est:classify", examples(strings.Repeat(`{},`, 1000) + `{}`), 413, "more than 1000 examples"},
		{"context broadcast past the input limit", "POST", "/v1/models/est:classify",
			`{"context": {"tag": "` + strings.Repeat("z", 500<<10) + `"}, "examples": [` + strings.Repeat(`{},`, 899) + `{}]}`, 413, "more than the limit of 4194304"},
		{"body too large", "POST", "/v1/models/est:regress", examples(`{"tag": "` + strings.Repeat("a", 1<<20) + `"}`), 413, "larger than"},
		{"still serving", "POST", "/v1/models/est:regress", `{"signature_name": "regress", ` + plainJSON + `}`, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := call(t, c.method, url+c.path, c.body)
			if code != c.code || (c.code != 200 && !strings.Contains(fmt.Sprint(out["error"]), c.want)) {
				t.Fatalf("got %d %v, want %d %q", code, out, c.code, c.want)
			}
		})
	}
}

// hostileContext sends a small message whose context, repeated into each
// example, would take far more memory than the request may: it is refused
// before the examples are serialized.
func hostileContext(t *testing.T, srv *Server) {
	client := tfspb.NewPredictionServiceClient(serveGRPC(t, srv))
	big := exSpec{"tag": {Bytes: []string{strings.Repeat("z", 200<<10)}}}
	exs := make([]exSpec, 900)
	for i := range exs {
		exs[i] = exSpec{}
	}
	req := &tfspb.ClassificationRequest{ModelSpec: &tfspb.ModelSpec{Name: "est"}, Input: caseSpec{Context: big, Examples: exs}.input()}
	if n := proto.Size(req); n > 300<<10 {
		t.Fatalf("the request takes %d bytes", n)
	}
	before := vmRSS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := client.Classify(ctx, req)
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "more than the limit") {
		t.Fatalf("got %v, want ResourceExhausted", err)
	}
	if grew := vmRSS(t) - before; grew > 50<<20 {
		t.Fatalf("RSS grew by %d MiB refusing a %d-byte request", grew>>20, proto.Size(req))
	}
}

// TestExamplesTensor checks the conversion of Inputs (including hostile
// ones: nil lists, nil examples, a context without examples) without TF.
func TestExamplesTensor(t *testing.T) {
	ctxEx := exSpec{"k": {Int64: []int64{2}}, "tag": {Bytes: []string{"hi"}}}.example()
	own := exSpec{"tag": {Bytes: []string{"lo"}}}.example()
	in := &tfspb.Input{Kind: &tfspb.Input_ExampleListWithContext{ExampleListWithContext: &tfspb.ExampleListWithContext{
		Examples: []*examplepb.Example{own, nil, {}}, Context: ctxEx}}}
	x, err := examplesTensor(in)
	if err != nil {
		t.Fatal(err)
	}
	if x.DType != tfwrap.String || fmt.Sprint(x.Shape) != "[3]" || x.check() != nil {
		t.Fatalf("tensor %v %v %v", x.DType, x.Shape, x.check())
	}
	// Each element parses as the context merged with the example, the
	// example's features winning.
	for i, want := range []string{"lo", "hi", "hi"} {
		var ex examplepb.Example
		if err := proto.Unmarshal([]byte(x.Strings[i]), &ex); err != nil {
			t.Fatal(err)
		}
		f := ex.GetFeatures().GetFeature()
		if got := string(f["tag"].GetBytesList().GetValue()[0]); got != want || f["k"].GetInt64List().GetValue()[0] != 2 {
			t.Fatalf("example %d: %v", i, &ex)
		}
	}
	for name, in := range map[string]*tfspb.Input{
		"nil":                 nil,
		"no kind":             {},
		"nil list":            {Kind: &tfspb.Input_ExampleList{}},
		"empty list":          {Kind: &tfspb.Input_ExampleList{ExampleList: &tfspb.ExampleList{}}},
		"nil context list":    {Kind: &tfspb.Input_ExampleListWithContext{}},
		"context, no example": {Kind: &tfspb.Input_ExampleListWithContext{ExampleListWithContext: &tfspb.ExampleListWithContext{Context: ctxEx}}},
	} {
		if _, err := examplesTensor(in); err == nil || !strings.Contains(err.Error(), "Input is empty.") || codeOf(err) != 400 {
			t.Errorf("%s: %v, want Input is empty (400)", name, err)
		}
	}
	// A nil context is no context.
	x, err = examplesTensor(&tfspb.Input{Kind: &tfspb.Input_ExampleListWithContext{ExampleListWithContext: &tfspb.ExampleListWithContext{
		Examples: []*examplepb.Example{own}}}})
	if err != nil || len(x.Strings) != 1 {
		t.Fatalf("nil context: %v %v", x, err)
	}
	if b, _ := proto.Marshal(own); x.Strings[0] != string(b) {
		t.Fatal("an example without context is not its own serialization")
	}
	// A huge repeated field is counted, then serialized whole.
	huge := exSpec{"x": {Float: make([]float32, 1<<20)}}.example()
	b, err := countExamples(caseSpec{Examples: []exSpec{{}, {}}, Context: exSpec{"x": {Float: make([]float32, 1<<20)}}}.input())
	if err != nil || b.bytes < 2*(4<<20) {
		t.Fatalf("a context of 4 MiB counted as %d bytes for two examples (%v)", b.bytes, err)
	}
	x, err = examplesTensor(&tfspb.Input{Kind: &tfspb.Input_ExampleList{ExampleList: &tfspb.ExampleList{Examples: []*examplepb.Example{huge}}}})
	if err != nil || len(x.Strings) != 1 || int64(len(x.Strings[0])) != int64(proto.Size(huge)) {
		t.Fatalf("huge example: %v", err)
	}
}

// TestExampleResults feeds classifyResult and regressResult outputs a
// model could return, odd ones included: never a panic, TF Serving's
// errors.
func TestExampleResults(t *testing.T) {
	f32 := func(dims []int64, v ...float32) Tensor {
		return Tensor{DType: tfwrap.Float32, Shape: dims, Data: le(v)}
	}
	str := func(dims []int64, v ...string) Tensor { return Tensor{DType: tfwrap.String, Shape: dims, Strings: v} }
	for _, c := range []struct {
		name string
		out  map[string]Tensor
		want string
	}{
		{"ok", map[string]Tensor{"classes": str([]int64{2, 1}, "a", "b"), "scores": f32([]int64{2, 1}, 0.5, 0.25)}, ""},
		{"classes rank 1", map[string]Tensor{"classes": str([]int64{2}, "a", "b")}, "Expected Tensor shape: [batch_size num_classes] but got [2]"},
		{"scores dtype", map[string]Tensor{"scores": {DType: tfwrap.Float64, Shape: []int64{2, 1}, Data: make([]byte, 16)}}, "Expected scores Tensor of DT_FLOAT. Got: DT_DOUBLE"},
		{"classes dtype", map[string]Tensor{"classes": f32([]int64{2, 1}, 1, 2)}, "Expected classes Tensor of DT_STRING. Got: DT_FLOAT"},
		{"batch", map[string]Tensor{"scores": f32([]int64{1, 2}, 1, 2)}, "Expected scores output batch size of 2. Got: 1"},
		{"num classes", map[string]Tensor{"classes": str([]int64{2, 1}, "a", "b"), "scores": f32([]int64{2, 2}, 1, 2, 3, 4)}, "Tensors class and score should match in dim_size(1). Got 1 vs. 2"},
		{"short data", map[string]Tensor{"scores": f32([]int64{2, 2}, 1)}, "output \"scores\""},
		{"short strings", map[string]Tensor{"classes": str([]int64{2, 2}, "a")}, "output \"classes\""},
		{"nothing", map[string]Tensor{"other": f32([]int64{2}, 1, 2)}, "neither"},
	} {
		res, err := classifyResult(2, c.out)
		if c.want == "" {
			if err != nil || len(res.GetClassifications()) != 2 || res.Classifications[1].Classes[0].Label != "b" || res.Classifications[1].Classes[0].Score != 0.25 {
				t.Fatalf("%s: %v %v", c.name, res, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("classify %s: %v, want %q", c.name, err, c.want)
		}
	}
	for _, c := range []struct {
		name string
		out  map[string]Tensor
		want string
	}{
		{"ok [2]", map[string]Tensor{"outputs": f32([]int64{2}, 1.5, 2.5)}, ""},
		{"ok [2,1]", map[string]Tensor{"outputs": f32([]int64{2, 1}, 1.5, 2.5)}, ""},
		{"missing", map[string]Tensor{"x": f32([]int64{2}, 1, 2)}, "Could not find output tensor 'outputs'"},
		{"[2,2]", map[string]Tensor{"outputs": f32([]int64{2, 2}, 1, 2, 3, 4)}, "but got [2,2]"},
		{"scalar", map[string]Tensor{"outputs": f32(nil, 1)}, "but got []"},
		{"batch", map[string]Tensor{"outputs": f32([]int64{3}, 1, 2, 3)}, "Input batch size did not match output batch size: 2 vs. 3"},
		{"dtype", map[string]Tensor{"outputs": {DType: tfwrap.Int32, Shape: []int64{2}, Data: make([]byte, 8)}}, "Expected output Tensor of DT_FLOAT.  Got: DT_INT32"},
		{"short data", map[string]Tensor{"outputs": f32([]int64{2}, 1)}, "output \"outputs\""},
	} {
		res, err := regressResult(2, c.out)
		if c.want == "" {
			if err != nil || len(res.GetRegressions()) != 2 || res.Regressions[1].Value != 2.5 {
				t.Fatalf("%s: %v %v", c.name, res, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("regress %s: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestExamplesJSON checks the JSON → Example conversion and the number
// formatting of answers, after TF Serving's json_tensor.cc.
func TestExamplesJSON(t *testing.T) {
	req, err := splitExamples([]byte(`{"context": {"c": "x"}, "examples": [{"i": 3, "f": [1.5, 2e3], "b": [true, false], "s": ["a", {"b64": "AAE"}], "e": []}, {}]}`))
	if err != nil {
		t.Fatal(err)
	}
	batch, err := req.input(&budget{maxElements: 10, maxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	x, err := batch.tensor()
	if err != nil || batch.count() != 2 || len(x.Strings) != 2 || int64(len(x.Strings[0])+len(x.Strings[1])) != batch.bytes {
		t.Fatalf("batch of %d: %v %v", batch.count(), x, err)
	}
	// Each serialized example parses as the Example TF Serving builds (the
	// context's features merged in), and the wire is what Go's
	// serialization of that Example parses to.
	var exs [2]examplepb.Example
	for i := range exs {
		if err := proto.Unmarshal([]byte(x.Strings[i]), &exs[i]); err != nil {
			t.Fatal(err)
		}
	}
	f := exs[0].GetFeatures().GetFeature()
	if got := fmt.Sprintln(f["i"].GetInt64List().GetValue(), f["f"].GetFloatList().GetValue(), f["b"].GetInt64List().GetValue(),
		f["s"].GetBytesList().GetValue(), f["e"].GetKind() == nil, f["e"] != nil, string(f["c"].GetBytesList().GetValue()[0])); got != "[3] [1.5 2000] [1 0] [[97] [0 1]] true true x\n" {
		t.Fatalf("features %s", got)
	}
	if f := exs[1].GetFeatures().GetFeature(); len(f) != 1 || string(f["c"].GetBytesList().GetValue()[0]) != "x" {
		t.Fatalf("an empty example with the context: %v", &exs[1])
	}
	want := &examplepb.Example{Features: &examplepb.Features{Feature: map[string]*examplepb.Feature{
		"i": {Kind: &examplepb.Feature_Int64List{Int64List: &examplepb.Int64List{Value: []int64{-3, 1 << 40}}}},
		"f": {Kind: &examplepb.Feature_FloatList{FloatList: &examplepb.FloatList{Value: []float32{-1.25}}}},
		"s": {Kind: &examplepb.Feature_BytesList{BytesList: &examplepb.BytesList{Value: [][]byte{[]byte("é"), {}}}}},
		"e": {},
	}}}
	w, err := exampleFromJSON([]byte(`{"i": [-3, 1099511627776], "f": -1.25, "s": ["é", ""], "e": []}`))
	var back examplepb.Example
	if err != nil || proto.Unmarshal(w, &back) != nil || !proto.Equal(&back, want) {
		t.Fatalf("wire %x parses as %v, want %v (%v)", w, &back, want, err)
	}
	if w, err := exampleFromJSON([]byte(`{}`)); err != nil || len(w) != 0 {
		t.Fatalf("an empty example serializes as %x %v", w, err)
	}
	if _, err := req.input(&budget{maxElements: 1, maxBytes: 1 << 20}); err == nil || codeOf(err) != 413 {
		t.Fatalf("two examples past a limit of one: %v", err)
	}
	for v, want := range map[float32]string{
		0.944061: "0.944061", 3.8: "3.8", 1: "1.0", -2: "-2.0", 1e6: "1e+06", 100000: "100000.0", 0.1: "0.1",
		1.0 / 3: "0.333333343", 1234567: "1234567.0", 3e-5: "3e-05", float32(math.Inf(1)): "Infinity",
		float32(math.Inf(-1)): "-Infinity", float32(math.NaN()): "NaN",
	} {
		if got := string(appendDecimal(nil, v)); got != want {
			t.Errorf("appendDecimal(%v) = %s, want %s", v, got, want)
		}
	}
	res := &tfspb.ClassificationResult{Classifications: []*tfspb.Classifications{{Classes: []*tfspb.Class{{Label: "a\"", Score: 0.5}, {Score: 1}}}}}
	if got := string(classifyJSON(res)); got != `{"results": [[["a\"", 0.5], ["", 1.0]]]}` {
		t.Fatalf("classify JSON %s", got)
	}
	var decoded map[string]any
	if err := json.Unmarshal(regressJSON(&tfspb.RegressionResult{Regressions: []*tfspb.Regression{{Value: 2}, {Value: -0.25}}}), &decoded); err != nil || fmt.Sprint(decoded) != "map[results:[2 -0.25]]" {
		t.Fatalf("regress JSON %v %v", decoded, err)
	}
}

// TestCheckMethod checks signatures as TF Serving's PreProcessClassification
// and PreProcessRegression do, with their codes.
func TestCheckMethod(t *testing.T) {
	in := func(names ...string) []savedmodels.TensorInfo {
		var out []savedmodels.TensorInfo
		for _, n := range names {
			out = append(out, savedmodels.TensorInfo{Name: n, DType: tfwrap.String, Shape: []int64{-1}})
		}
		return out
	}
	sig := func(method string, ins, outs []savedmodels.TensorInfo) *savedmodels.Signature {
		return &savedmodels.Signature{Key: "k", Method: method, Inputs: ins, Outputs: outs}
	}
	for _, c := range []struct {
		name   string
		sig    *savedmodels.Signature
		method string
		fetch  string
		code   codes.Code
		want   string
	}{
		{"classify both", sig(classifyMethod, in("inputs"), in("classes", "scores")), classifyMethod, "[]", codes.OK, ""},
		{"classify scores and another", sig(classifyMethod, in("inputs"), in("other", "scores")), classifyMethod, "[scores]", codes.OK, ""},
		{"classify wrong method", sig(regressMethod, in("inputs"), in("outputs")), classifyMethod, "", codes.InvalidArgument, "Was: tensorflow/serving/regress"},
		{"classify two inputs", sig(classifyMethod, in("inputs", "b"), in("scores")), classifyMethod, "", codes.InvalidArgument, "Expected one input Tensor."},
		{"classify three outputs", sig(classifyMethod, in("inputs"), in("a", "classes", "scores")), classifyMethod, "", codes.InvalidArgument, "Expected one or two output Tensors, found 3"},
		{"classify input key", sig(classifyMethod, in("x"), in("scores")), classifyMethod, "", codes.FailedPrecondition, "No classification inputs found in SignatureDef"},
		{"classify output keys", sig(classifyMethod, in("inputs"), in("probabilities")), classifyMethod, "", codes.FailedPrecondition, `at least one of "classes" or "scores"`},
		{"regress", sig(regressMethod, in("inputs"), in("outputs")), regressMethod, "[]", codes.OK, ""},
		{"regress wrong method", sig(classifyMethod, in("inputs"), in("scores")), regressMethod, "", codes.InvalidArgument, "Expected regression signature method_name to be tensorflow/serving/regress. Was: tensorflow/serving/classify"},
		{"regress two outputs", sig(regressMethod, in("inputs"), in("outputs", "b")), regressMethod, "", codes.InvalidArgument, "Expected one output Tensor."},
		{"regress input key", sig(regressMethod, in("x"), in("outputs")), regressMethod, "", codes.FailedPrecondition, "No regression inputs found"},
		{"regress output key", sig(regressMethod, in("inputs"), in("y")), regressMethod, "", codes.FailedPrecondition, "No regression outputs found"},
		{"predict method", sig("tensorflow/serving/predict", in("inputs"), in("y")), "tensorflow/serving/predict", "", codes.Unimplemented, "Unsupported signature method_name"},
	} {
		fetch, err := checkMethod(c.sig, c.method)
		if c.code == codes.OK {
			if err != nil || fmt.Sprint(fetch) != c.fetch {
				t.Errorf("%s: fetch %v, %v", c.name, fetch, err)
			}
			continue
		}
		code := codes.InvalidArgument
		var ce *codedError
		if errors.As(err, &ce) {
			code = ce.code
		}
		if err == nil || code != c.code || !strings.Contains(err.Error(), c.want) || codeOf(err) != 400 {
			t.Errorf("%s: %v (%v), want %v %q", c.name, err, code, c.code, c.want)
		}
	}
}
