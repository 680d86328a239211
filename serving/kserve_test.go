package serving

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/serving/kservepb"
)

// kserveOut is one output as kserve_client.py reports it.
type kserveOut struct {
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
	Data     []any   `json:"data"`
}

// kserveMetaJSON is model metadata as either client reports it (the gRPC
// client's JSON gives int64s as strings).
type kserveMetaJSON struct {
	Name     string   `json:"name"`
	Versions []string `json:"versions"`
	Platform string   `json:"platform"`
	Inputs   []struct {
		Name     string        `json:"name"`
		Datatype string        `json:"datatype"`
		Shape    []json.Number `json:"shape"`
	} `json:"inputs"`
	Outputs []struct {
		Name     string        `json:"name"`
		Datatype string        `json:"datatype"`
		Shape    []json.Number `json:"shape"`
	} `json:"outputs"`
}

// tensors renders metadata's tensors as "name DATATYPE [d ...]" lines.
func (m kserveMetaJSON) tensors() string {
	var b strings.Builder
	for _, t := range m.Inputs {
		fmt.Fprintf(&b, "in %s %s %v;", t.Name, t.Datatype, t.Shape)
	}
	for _, t := range m.Outputs {
		fmt.Fprintf(&b, "out %s %s %v;", t.Name, t.Datatype, t.Shape)
	}
	return b.String()
}

// sameOutput compares a client's output with TF's: numbers within 1e-5,
// everything else exactly.
func sameOutput(t *testing.T, what string, got, want kserveOut) {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) || len(got.Data) != len(want.Data) {
		t.Fatalf("%s: shape %v with %d values, want %v with %d", what, got.Shape, len(got.Data), want.Shape, len(want.Data))
	}
	for i := range got.Data {
		g, gok := got.Data[i].(float64)
		w, wok := want.Data[i].(float64)
		if gok && wok {
			if math.Abs(g-w) > 1e-5 {
				t.Fatalf("%s[%d] = %v, want %v", what, i, g, w)
			}
			continue
		}
		if got.Data[i] != want.Data[i] {
			t.Fatalf("%s[%d] = %#v, want %#v", what, i, got.Data[i], want.Data[i])
		}
	}
}

// TestKserveOfficialClients serves three models (the Go-exported
// classifier, FP32 in and out, and two Python-exported ones, between them
// taking and answering every other datatype the server supports: BYTES,
// INT64, INT32, UINT8, BOOL and FP64) and calls them with
// tritonclient.http (binary and JSON tensors both ways, and its default of
// binary outputs) and tritonclient.grpc (raw contents), comparing every
// answer with Python TensorFlow's for the same SavedModel and inputs, and
// the classifier's with the Go model's own Predict.
func TestKserveOfficialClients(t *testing.T) {
	dir := t.TempDir()
	clfBase, mixedBase, typesBase := filepath.Join(dir, "clf"), filepath.Join(dir, "mixed"), filepath.Join(dir, "types")
	m := export(t, clfBase, 1, 5)
	var none struct{}
	if err := pyref.Run("kserve_client.py", map[string]any{"mode": "export", "dir": filepath.Join(mixedBase, "1"), "types_dir": filepath.Join(typesBase, "1")}, &none); err != nil {
		t.Fatal(err)
	}
	srv, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: clfBase}, {Name: "mixed", BasePath: mixedBase}, {Name: "types", BasePath: typesBase}}})
	conn := serveGRPC(t, srv)
	rows := [][]float32{{1, 2, 3, 4}, {0.5, -1, 2, 0}}
	models := []map[string]any{
		{"name": "clf", "dir": filepath.Join(clfBase, "1"), "outputs": []string{"outputs"},
			"inputs": map[string]any{"inputs": map[string]any{"datatype": "FP32", "shape": []int{2, 4}, "data": []float32{1, 2, 3, 4, 0.5, -1, 2, 0}}}},
		{"name": "mixed", "dir": filepath.Join(mixedBase, "1"), "outputs": []string{"len", "positive", "twice", "upper"},
			"inputs": map[string]any{
				"text": map[string]any{"datatype": "BYTES", "shape": []int{3}, "data": []string{"a", "héllo wörld", ""}},
				"n":    map[string]any{"datatype": "INT64", "shape": []int{3}, "data": []int64{1, -2, 1 << 40}},
			}},
		{"name": "types", "dir": filepath.Join(typesBase, "1"), "outputs": []string{"k_neg", "not_flag", "pix_inv", "x_half"},
			"inputs": map[string]any{
				"flag": map[string]any{"datatype": "BOOL", "shape": []int{2, 2}, "data": []bool{true, false, false, true}},
				"pix":  map[string]any{"datatype": "UINT8", "shape": []int{2, 2}, "data": []int{0, 1, 200, 255}},
				"k":    map[string]any{"datatype": "INT32", "shape": []int{2, 2}, "data": []int32{-5, 0, 7, math.MaxInt32}},
				"x":    map[string]any{"datatype": "FP64", "shape": []int{2, 2}, "data": []float64{1e-300, -3, 0.1, 1e300}},
			}},
	}
	var ref struct {
		Server struct {
			Live, Ready map[string]bool
			Metadata    map[string]struct {
				Name       string   `json:"name"`
				Version    string   `json:"version"`
				Extensions []string `json:"extensions"`
			}
		}
		Errors map[string]string
	}
	type modelRef struct {
		Reference map[string]kserveOut
		Infer     map[string]map[string]kserveOut
		Ready     map[string]bool
		Metadata  map[string]kserveMetaJSON
		Stats     map[string]struct {
			ModelStats []struct {
				Name           string
				InferenceCount any `json:"inference_count"`
				InferenceStats struct {
					Success struct{ Count any }
				} `json:"inference_stats"`
			} `json:"model_stats"`
		}
		ID string
	}
	var raw map[string]json.RawMessage
	in := map[string]any{"mode": "client", "http": strings.TrimPrefix(hs.URL, "http://"), "grpc": conn.Target(), "models": models}
	if err := pyref.Run("kserve_client.py", in, &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw["server"], &ref.Server); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw["errors"], &ref.Errors); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"http", "grpc"} {
		if !ref.Server.Live[c] || !ref.Server.Ready[c] {
			t.Fatalf("%s: live %v, ready %v", c, ref.Server.Live, ref.Server.Ready)
		}
		md := ref.Server.Metadata[c]
		if md.Name != "gotf" || md.Version == "" || !slices.Contains(md.Extensions, "binary_tensor_data") {
			t.Fatalf("%s server metadata %+v", c, md)
		}
	}
	wantMeta := map[string]string{
		"clf":   "in inputs FP32 [-1 4];out outputs FP32 [-1 3];",
		"mixed": "in n INT64 [-1];in text BYTES [-1];out len INT32 [-1];out positive BOOL [-1];out twice INT64 [-1];out upper BYTES [-1];",
		"types": "in flag BOOL [-1 2];in k INT32 [-1 2];in pix UINT8 [-1 2];in x FP64 [-1 2];out k_neg INT32 [-1 2];out not_flag BOOL [-1 2];out pix_inv UINT8 [-1 2];out x_half FP64 [-1 2];",
	}
	for _, spec := range models {
		name := spec["name"].(string)
		var mr modelRef
		if err := json.Unmarshal(raw[name], &mr); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			want := map[string]bool{"http": true, "grpc": true, "http_v1": true, "grpc_v1": true, "http_v9": false}
			for k, v := range want {
				if mr.Ready[k] != v {
					t.Errorf("is_model_ready %s = %v, want %v", k, mr.Ready[k], v)
				}
			}
			for _, c := range []string{"http", "grpc"} {
				md := mr.Metadata[c]
				if md.Name != name || md.Platform != "tensorflow_savedmodel" || !slices.Equal(md.Versions, []string{"1"}) || md.tensors() != wantMeta[name] {
					t.Errorf("%s model metadata %+v: %s, want %s", c, md, md.tensors(), wantMeta[name])
				}
			}
			// tritonclient's get_inference_statistics, after the 5 infers
			// above (protobuf's JSON prints gRPC's uint64 as strings).
			for _, c := range []string{"http", "grpc"} {
				ms := mr.Stats[c].ModelStats
				if len(ms) != 1 || ms[0].Name != name || fmt.Sprint(ms[0].InferenceStats.Success.Count) != "5" {
					t.Errorf("%s get_inference_statistics: %+v, want 5 successes of %s", c, ms, name)
				}
			}
			if mr.ID != "h-1" {
				t.Errorf("the response's id is %q, want the request's h-1", mr.ID)
			}
			if len(mr.Infer) != 5 {
				t.Fatalf("infer results %v", mr.Infer)
			}
			for how, outs := range mr.Infer {
				if len(outs) != len(mr.Reference) {
					t.Fatalf("%s: outputs %v, want %v", how, outs, mr.Reference)
				}
				for o, want := range mr.Reference {
					sameOutput(t, how+" "+o, outs[o], want)
				}
			}
			if name == "clf" {
				var got []float64
				for _, v := range mr.Infer["http_binary"]["outputs"].Data {
					got = append(got, v.(float64))
				}
				same(t, "Go Predict", got, predictions(t, m, rows))
			}
			if dt := mr.Infer["grpc"]["len"].Datatype; name == "mixed" && dt != "INT32" {
				t.Errorf("len's datatype is %q, want INT32", dt)
			}
		})
	}
	wantErr := map[string]string{
		"http_unknown_model": "404", "grpc_unknown_model": "StatusCode.NOT_FOUND",
		"http_unknown_version": "404", "grpc_unknown_version": "StatusCode.NOT_FOUND", "grpc_bad_version": "StatusCode.NOT_FOUND",
	}
	for k, v := range wantErr {
		if ref.Errors[k] != v {
			t.Errorf("%s: the client saw %q, want %q", k, ref.Errors[k], v)
		}
	}
}

// exportMixed writes, with Python TensorFlow, BASE/1: a model taking
// "text" (string, [-1]) and "n" (int64, [-1]).
func exportMixed(t *testing.T, base string) {
	t.Helper()
	var none struct{}
	if err := pyref.Run("kserve_client.py", map[string]any{"mode": "export", "dir": filepath.Join(base, "1")}, &none); err != nil {
		t.Fatal(err)
	}
}

// post sends a KServe request, with binary data after the JSON when bin
// is not nil, and returns the status, the headers and the body.
func post(t *testing.T, url, head string, bin []byte) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(append([]byte(head), bin...)))
	if bin != nil {
		req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(head)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// floats is n float32s, little-endian.
func floats(n int) []byte { return le(make([]float32, n)) }

// lengths encodes strings as BYTES raw content, then appends extra.
func lengths(extra []byte, ss ...string) []byte {
	var b []byte
	for _, s := range ss {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return append(b, extra...)
}

// TestKserveREST covers what the official client does not send: nested
// data, per-output binary choice, and the shape of the answer.
func TestKserveREST(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	m := export(t, base, 1, 5)
	srv, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}})
	want := predictions(t, m, [][]float32{{1, 2, 3, 4}, {0.5, -1, 2, 0}})

	code, _, body := post(t, hs.URL+"/v2/models/clf/versions/1/infer",
		`{"id":"x7","inputs":[{"name":"inputs","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[0.5,-1,2,0]]}],"outputs":[{"name":"outputs"}]}`, nil)
	var resp struct {
		ModelName    string `json:"model_name"`
		ModelVersion string `json:"model_version"`
		ID           string `json:"id"`
		Outputs      []struct {
			Name     string    `json:"name"`
			Datatype string    `json:"datatype"`
			Shape    []int64   `json:"shape"`
			Data     []float64 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(body, &resp); code != 200 || err != nil {
		t.Fatalf("%d %s", code, body)
	}
	if resp.ModelName != "clf" || resp.ModelVersion != "1" || resp.ID != "x7" || len(resp.Outputs) != 1 ||
		resp.Outputs[0].Name != "outputs" || resp.Outputs[0].Datatype != "FP32" || !slices.Equal(resp.Outputs[0].Shape, []int64{2, 3}) {
		t.Fatalf("response %s", body)
	}
	same(t, "nested JSON", resp.Outputs[0].Data, want)

	// Binary input, binary output by its own parameter.
	in := le([]float32{1, 2, 3, 4, 0.5, -1, 2, 0})
	code, h, body := post(t, hs.URL+"/v2/models/clf/infer",
		`{"inputs":[{"name":"inputs","shape":[2,4],"datatype":"FP32","parameters":{"binary_data_size":32}}],"outputs":[{"name":"outputs","parameters":{"binary_data":true}}]}`, in)
	n, err := strconv.Atoi(h.Get("Inference-Header-Content-Length"))
	if code != 200 || err != nil || n+24 != len(body) {
		t.Fatalf("%d %v %q: %s", code, h, h.Get("Inference-Header-Content-Length"), body)
	}
	if !strings.Contains(string(body[:n]), `"parameters":{"binary_data_size":24}`) {
		t.Fatalf("header %s", body[:n])
	}
	got, err := fromLE[float32](body[n:])
	if err != nil {
		t.Fatal(err)
	}
	var got64 []float64
	for _, v := range got {
		got64 = append(got64, float64(v))
	}
	same(t, "binary", got64, want)

	// An infinite input makes NaN, which only binary data can carry.
	inf := le([]float32{float32(math.Inf(1)), 0, 0, 0})
	head := `{"inputs":[{"name":"inputs","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}],"outputs":[{"name":"outputs","parameters":{"binary_data":%v}}]}`
	if code, _, body := post(t, hs.URL+"/v2/models/clf/infer", fmt.Sprintf(head, false), inf); code != 400 || !strings.Contains(string(body), "NaN or infinity") {
		t.Fatalf("NaN as JSON: %d %s", code, body)
	}
	if code, _, body := post(t, hs.URL+"/v2/models/clf/infer", fmt.Sprintf(head, true), inf); code != 200 {
		t.Fatalf("NaN as binary: %d %s", code, body)
	}

	// JSON takes more bytes than the tensor: the response limit holds for
	// what is sent. 12 bytes of outputs pass a 20-byte limit, their JSON
	// does not.
	_, small := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, MaxResponseBytes: 20})
	one := `{"inputs":[{"name":"inputs","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"parameters":{"binary_data_output":%v}}`
	if code, _, body := post(t, small.URL+"/v2/models/clf/infer", fmt.Sprintf(one, false), nil); code != 413 || !strings.Contains(string(body), "as JSON; ask for it as binary data") {
		t.Fatalf("JSON over the limit: %d %s", code, body)
	}
	if code, _, body := post(t, small.URL+"/v2/models/clf/infer", fmt.Sprintf(one, true), nil); code != 200 {
		t.Fatalf("binary under the limit: %d %s", code, body)
	}

	// Shutting down: live, not ready, over both transports.
	ready := kservepb.NewGRPCInferenceServiceClient(serveGRPC(t, srv))
	get := func(path string) (int, string) {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, draining := range []bool{false, true} {
		if draining {
			srv.beginShutdown()
		}
		wantReady := map[bool]int{false: 200, true: 503}[draining]
		if code, body := get("/v2/health/ready"); code != wantReady || (draining && !strings.Contains(body, `{"error":"shutting down"}`)) {
			t.Errorf("draining %v: /v2/health/ready %d %s", draining, code, body)
		}
		if code, _ := get("/v2/health/live"); code != 200 {
			t.Errorf("draining %v: /v2/health/live %d", draining, code)
		}
		r, err := ready.ServerReady(ctx, &kservepb.ServerReadyRequest{})
		if err != nil || r.GetReady() == draining {
			t.Errorf("draining %v: ServerReady %v %v", draining, r, err)
		}
	}
}

// TestKserveBadRequests sends each endpoint requests it must refuse, in
// the protocol's error format and with codeOf's status, and checks that
// the server still answers a good request afterwards.
func TestKserveBadRequests(t *testing.T) {
	dir := t.TempDir()
	base, mixedBase := filepath.Join(dir, "clf"), filepath.Join(dir, "mixed")
	export(t, base, 1, 5)
	exportMixed(t, mixedBase)
	srv, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}, {Name: "mixed", BasePath: mixedBase}}})
	client := kservepb.NewGRPCInferenceServiceClient(serveGRPC(t, srv))
	const good = `{"inputs":[{"name":"inputs","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`
	input := func(name, dt, shape, rest string) string {
		return fmt.Sprintf(`{"inputs":[{"name":%q,"shape":%s,"datatype":%q%s}]}`, name, shape, dt, rest)
	}
	binIn := func(dt, shape string, size int) string {
		return input("inputs", dt, shape, fmt.Sprintf(`,"parameters":{"binary_data_size":%d}`, size))
	}
	text := func(shape string, size int) string {
		return input("text", "BYTES", shape, fmt.Sprintf(`,"parameters":{"binary_data_size":%d}`, size))
	}
	const mixed = "/v2/models/mixed/infer"

	t.Run("REST", func(t *testing.T) {
		for _, c := range []struct {
			name, method, path, body string
			bin                      []byte
			code                     int
			msg                      string
		}{
			{"good", "POST", "/v2/models/clf/infer", good, nil, 200, ""},
			{"unknown model", "POST", "/v2/models/nope/infer", good, nil, 404, `model not found: "nope"`},
			{"unknown version", "POST", "/v2/models/clf/versions/9/infer", good, nil, 404, "no loaded version 9"},
			{"bad version", "POST", "/v2/models/clf/versions/one/infer", good, nil, 404, `no version "one"`},
			{"negative version", "GET", "/v2/models/clf/versions/-1", "", nil, 404, `no version "-1"`},
			{"metadata unknown model", "GET", "/v2/models/nope", "", nil, 404, "model not found"},
			{"ready unknown version", "GET", "/v2/models/clf/versions/9/ready", "", nil, 404, "no loaded version 9"},
			{"unknown path", "GET", "/v2/models/clf/statistics", "", nil, 404, "unknown path"},
			{"stats of an unknown version", "GET", "/v2/models/clf/versions/9/stats", "", nil, 404, "no loaded version 9"},
			{"unknown top path", "GET", "/v2/repository/index", "", nil, 404, "unknown path"},
			{"infer by GET", "GET", "/v2/models/clf/infer", "", nil, 405, "not allowed"},
			{"metadata by POST", "POST", "/v2/models/clf", good, nil, 405, "not allowed"},
			{"wrong input name", "POST", "/v2/models/clf/infer", input("input", "FP32", "[1,4]", `,"data":[1,2,3,4]`), nil, 400, `no input "input" (did you mean "inputs"?)`},
			{"wrong datatype", "POST", "/v2/models/clf/infer", input("inputs", "INT32", "[1,4]", `,"data":[1,2,3,4]`), nil, 400, "input \"inputs\" is int32, signature \"serving_default\" wants float32"},
			{"unsupported datatype", "POST", "/v2/models/clf/infer", input("inputs", "FP16", "[1,4]", `,"data":[1,2,3,4]`), nil, 400, "does not take"},
			{"unknown datatype", "POST", "/v2/models/clf/infer", input("inputs", "FLOAT", "[1,4]", `,"data":[1,2,3,4]`), nil, 400, "not a datatype of the protocol"},
			{"wrong shape", "POST", "/v2/models/clf/infer", input("inputs", "FP32", "[1,3]", `,"data":[1,2,3]`), nil, 400, "dimension 1 is 3"},
			{"too few values", "POST", "/v2/models/clf/infer", input("inputs", "FP32", "[2,4]", `,"data":[1,2,3,4]`), nil, 400, "holds 4 elements, its shape [2 4] needs 8"},
			{"too many values", "POST", "/v2/models/clf/infer", input("inputs", "FP32", "[1,4]", `,"data":[1,2,3,4,5]`), nil, 400, "more than the 4 elements"},
			{"string for FP32", "POST", "/v2/models/clf/infer", input("inputs", "FP32", "[1,4]", `,"data":[1,2,"3",4]`), nil, 400, "element 2 is 3"},
			{"object data", "POST", "/v2/models/clf/infer", input("inputs", "FP32", "[1,4]", `,"data":{"a":1}`), nil, 400, "holds an object"},
			{"no data", "POST", "/v2/models/clf/infer", input("inputs", "FP32", "[1,4]", ``), nil, 400, "neither data nor"},
			{"no shape", "POST", "/v2/models/clf/infer", `{"inputs":[{"name":"inputs","datatype":"FP32","data":[1,2,3,4]}]}`, nil, 400, "has no shape"},
			{"no inputs", "POST", "/v2/models/clf/infer", `{"inputs":[]}`, nil, 400, "no inputs"},
			{"twice", "POST", "/v2/models/clf/infer", `{"inputs":[{"name":"inputs","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]},{"name":"inputs","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, nil, 400, "given twice"},
			{"unknown output", "POST", "/v2/models/clf/infer", strings.TrimSuffix(good, "}") + `,"outputs":[{"name":"probs"}]}`, nil, 400, `no output "probs"`},
			{"huge shape", "POST", "/v2/models/clf/infer", input("inputs", "FP32", "[1099511627776,1099511627776]", `,"data":[1]`), nil, 400, ""},
			{"huge batch", "POST", "/v2/models/clf/infer", input("inputs", "FP32", "[1099511627776,4]", `,"data":[1]`), nil, 413, "more than the limit"},
			{"negative dim", "POST", "/v2/models/clf/infer", input("inputs", "FP32", "[-1,4]", `,"data":[1,2,3,4]`), nil, 400, "want at least 1"},
			{"malformed JSON", "POST", "/v2/models/clf/infer", `{"inputs":[{"name":"inputs",`, nil, 400, "not valid JSON"},
			{"float out of range", "POST", "/v2/models/clf/infer", input("inputs", "FP32", "[1,4]", `,"data":[1,2,3,1e99]`), nil, 400, "out of range for FP32"},
			{"binary good", "POST", "/v2/models/clf/infer", binIn("FP32", "[1,4]", 16), floats(4), 200, ""},
			{"binary truncated", "POST", "/v2/models/clf/infer", binIn("FP32", "[1,4]", 16), floats(3), 400, "only 12 bytes of binary data are left"},
			{"binary size short", "POST", "/v2/models/clf/infer", binIn("FP32", "[1,4]", 12), floats(3), 400, "has 12 bytes of data, its shape [1 4] of FP32 needs 16"},
			{"binary trailing", "POST", "/v2/models/clf/infer", binIn("FP32", "[1,4]", 16), floats(5), 400, "add up to 16"},
			{"binary and data", "POST", "/v2/models/clf/infer", input("inputs", "FP32", "[1,4]", `,"data":[1,2,3,4],"parameters":{"binary_data_size":16}`), floats(4), 400, "both data and binary_data_size"},
			{"BYTES for FP32", "POST", "/v2/models/clf/infer", binIn("BYTES", "[1,4]", 19), lengths(nil, "ab", "c", "", ""), 400, "is string"},
			{"header length, no binary", "POST", "/v2/models/clf/infer", good, []byte{}, 200, ""},
			{"bytes good", "POST", mixed, `{"inputs":[{"name":"text","shape":[2],"datatype":"BYTES","data":["a","b"]},{"name":"n","shape":[2],"datatype":"INT64","data":[1,2]}]}`, nil, 200, ""},
			{"bytes length past end", "POST", mixed, text("[2]", 10), lengths([]byte{200, 0, 0, 0}, "ab"), 400, "string 1 has length 200, only 0 bytes are left"},
			{"bytes length 4 GiB", "POST", mixed, text("[1]", 5), lengths([]byte{255, 255, 255, 255, 0}), 400, "string 0 has length 4294967295, only 1 bytes are left"},
			{"bytes truncated length", "POST", mixed, text("[2]", 8), lengths([]byte{1, 0}, "ab"), 400, "string 1 has a truncated length (2 bytes)"},
			{"bytes extra", "POST", mixed, text("[1]", 11), lengths(nil, "ab", "c"), 400, "5 bytes of data after its 1 strings"},
			{"bytes too few", "POST", mixed, text("[3]", 11), lengths(nil, "ab", "c"), 400, "holds 2 strings, its shape [3] needs 3"},
			{"bytes number in JSON", "POST", mixed, input("text", "BYTES", "[1]", `,"data":[1]`), nil, 400, "element 0 is 1"},
			{"missing input", "POST", mixed, input("text", "BYTES", "[1]", `,"data":["a"]`), nil, 400, `needs input "n"`},
			{"batch mismatch", "POST", mixed, `{"inputs":[{"name":"text","shape":[2],"datatype":"BYTES","data":["a","b"]},{"name":"n","shape":[1],"datatype":"INT64","data":[1]}]}`, nil, 400, "batch sizes"},
			{"int64 out of range", "POST", mixed, input("n", "INT64", "[1]", `,"data":[1e30]`), nil, 400, "is not an INT64"},
			{"bad binary_data_output", "POST", "/v2/models/clf/infer", strings.TrimSuffix(good, "}") + `,"parameters":{"binary_data_output":"yes"}}`, nil, 400, "want true or false"},
			{"classification", "POST", "/v2/models/clf/infer", strings.TrimSuffix(good, "}") + `,"outputs":[{"name":"outputs","parameters":{"classification":2}}]}`, nil, 400, "classification extension"},
		} {
			t.Run(c.name, func(t *testing.T) {
				var code int
				var body []byte
				if c.method == "POST" {
					code, _, body = post(t, hs.URL+c.path, c.body, c.bin)
				} else {
					req, _ := http.NewRequest(c.method, hs.URL+c.path, nil)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				if code != c.code {
					t.Fatalf("got %d %s, want %d", code, body, c.code)
				}
				if c.code == 200 {
					return
				}
				var e map[string]string
				if err := json.Unmarshal(body, &e); err != nil || len(e) != 1 || !strings.Contains(e["error"], c.msg) {
					t.Fatalf("body %s, want {\"error\": ...%s...}", body, c.msg)
				}
			})
		}
		if code, _, body := post(t, hs.URL+"/v2/models/clf/infer", good, nil); code != 200 {
			t.Fatalf("after the bad requests: %d %s", code, body)
		}
	})

	t.Run("REST headers", func(t *testing.T) {
		for _, c := range []struct {
			name, header, value string
			code                int
			msg                 string
		}{
			{"header length past end", "Inference-Header-Content-Length", "9999", 400, "Inference-Header-Content-Length is \"9999\""},
			{"header length not a number", "Inference-Header-Content-Length", "x", 400, "Inference-Header-Content-Length"},
			{"header length cuts the JSON", "Inference-Header-Content-Length", "10", 400, "not valid JSON"},
			{"gzip", "Content-Encoding", "gzip", 400, "Content-Encoding"},
		} {
			t.Run(c.name, func(t *testing.T) {
				req, _ := http.NewRequest("POST", hs.URL+"/v2/models/clf/infer", strings.NewReader(good))
				req.Header.Set(c.header, c.value)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var e map[string]string
				if resp.StatusCode != c.code || json.Unmarshal(body, &e) != nil || !strings.Contains(e["error"], c.msg) {
					t.Fatalf("got %d %s, want %d %q", resp.StatusCode, body, c.code, c.msg)
				}
			})
		}
	})

	t.Run("gRPC", func(t *testing.T) {
		f32 := func(v ...float32) *kservepb.InferTensorContents {
			return &kservepb.InferTensorContents{Fp32Contents: v}
		}
		tensor := func(name, dt string, shape []int64, c *kservepb.InferTensorContents) *kservepb.ModelInferRequest_InferInputTensor {
			return &kservepb.ModelInferRequest_InferInputTensor{Name: name, Datatype: dt, Shape: shape, Contents: c}
		}
		ok := tensor("inputs", "FP32", []int64{1, 4}, f32(1, 2, 3, 4))
		req := func(model, version string, raws [][]byte, ins ...*kservepb.ModelInferRequest_InferInputTensor) *kservepb.ModelInferRequest {
			return &kservepb.ModelInferRequest{ModelName: model, ModelVersion: version, Inputs: ins, RawInputContents: raws}
		}
		for _, c := range []struct {
			name string
			req  *kservepb.ModelInferRequest
			code codes.Code
			msg  string
		}{
			{"good contents", req("clf", "", nil, ok), codes.OK, ""},
			{"good raw", req("clf", "1", [][]byte{floats(4)}, tensor("inputs", "FP32", []int64{1, 4}, nil)), codes.OK, ""},
			{"unknown model", req("nope", "", nil, ok), codes.NotFound, "model not found"},
			{"no model", req("", "", nil, ok), codes.InvalidArgument, "model_name is empty"},
			{"unknown version", req("clf", "9", nil, ok), codes.NotFound, "no loaded version 9"},
			{"bad version", req("clf", "v1", nil, ok), codes.NotFound, `no version "v1"`},
			{"wrong input name", req("clf", "", nil, tensor("x", "FP32", []int64{1, 4}, f32(1, 2, 3, 4))), codes.InvalidArgument, `no input "x"`},
			{"wrong datatype", req("clf", "", nil, tensor("inputs", "FP64", []int64{1, 4}, &kservepb.InferTensorContents{Fp64Contents: []float64{1, 2, 3, 4}})), codes.InvalidArgument, "is float64"},
			{"contents in the wrong field", req("clf", "", nil, tensor("inputs", "FP32", []int64{1, 4}, &kservepb.InferTensorContents{IntContents: []int32{1, 2, 3, 4}})), codes.InvalidArgument, "holds 0 values in fp32_contents"},
			{"count mismatch", req("clf", "", nil, tensor("inputs", "FP32", []int64{2, 4}, f32(1, 2, 3, 4))), codes.InvalidArgument, "needs 8"},
			{"huge shape", req("clf", "", nil, tensor("inputs", "FP32", []int64{1 << 40, 1 << 40}, f32(1))), codes.InvalidArgument, ""},
			{"huge batch", req("clf", "", nil, tensor("inputs", "FP32", []int64{1 << 40, 4}, f32(1))), codes.ResourceExhausted, "more than the limit"},
			{"raw short", req("clf", "", [][]byte{floats(3)}, tensor("inputs", "FP32", []int64{1, 4}, nil)), codes.InvalidArgument, "has 12 bytes of data"},
			{"raw bytes past end", req("mixed", "", [][]byte{lengths([]byte{9, 0, 0, 0, 1}, "ab")}, tensor("text", "BYTES", []int64{2}, nil)), codes.InvalidArgument, "string 1 has length 9, only 1 bytes are left"},
			{"raw bytes truncated length", req("mixed", "", [][]byte{lengths([]byte{9}, "ab")}, tensor("text", "BYTES", []int64{2}, nil)), codes.InvalidArgument, "truncated length"},
			{"bytes contents count", req("mixed", "", nil, tensor("text", "BYTES", []int64{2}, &kservepb.InferTensorContents{BytesContents: [][]byte{[]byte("a")}})), codes.InvalidArgument, "holds 1 values in bytes_contents"},
			{"raw count", req("clf", "", [][]byte{floats(4), floats(4)}, tensor("inputs", "FP32", []int64{1, 4}, nil)), codes.InvalidArgument, "2 entries for 1 inputs"},
			{"raw and contents", req("clf", "", [][]byte{floats(4)}, ok), codes.InvalidArgument, "contents as well as raw"},
			{"twice", req("clf", "", nil, ok, ok), codes.InvalidArgument, "given twice"},
			{"no inputs", req("clf", "", nil), codes.InvalidArgument, "no inputs"},
			{"unknown output", &kservepb.ModelInferRequest{ModelName: "clf", Inputs: []*kservepb.ModelInferRequest_InferInputTensor{ok},
				Outputs: []*kservepb.ModelInferRequest_InferRequestedOutputTensor{{Name: "probs"}}}, codes.InvalidArgument, `no output "probs"`},
		} {
			t.Run(c.name, func(t *testing.T) {
				if n := proto.Size(c.req); n > 200 {
					t.Fatalf("the request takes %d bytes", n)
				}
				before := vmRSS(t)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				resp, err := client.ModelInfer(ctx, c.req)
				if st := status.Convert(err); st.Code() != c.code || !strings.Contains(st.Message(), c.msg) {
					t.Fatalf("got %v, want %v %q", err, c.code, c.msg)
				}
				if grew := vmRSS(t) - before; grew > 50<<20 {
					t.Fatalf("RSS grew by %d MiB", grew>>20)
				}
				if c.code == codes.OK && (len(resp.GetRawOutputContents()) != 1 || len(resp.GetRawOutputContents()[0]) != 12 || resp.GetModelVersion() != "1") {
					t.Fatalf("response %v", resp)
				}
			})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := client.ModelInfer(ctx, req("clf", "", nil, ok)); err != nil {
			t.Fatalf("after the bad requests: %v", err)
		}
		// Typed contents for BYTES and INT64, which tritonclient.grpc never
		// sends (it always uses raw_input_contents).
		resp, err := client.ModelInfer(ctx, &kservepb.ModelInferRequest{ModelName: "mixed", Id: "t1",
			Inputs: []*kservepb.ModelInferRequest_InferInputTensor{
				tensor("text", "BYTES", []int64{2}, &kservepb.InferTensorContents{BytesContents: [][]byte{[]byte("ab"), []byte("xyz")}}),
				tensor("n", "INT64", []int64{2}, &kservepb.InferTensorContents{Int64Contents: []int64{3, -4}}),
			},
			Outputs: []*kservepb.ModelInferRequest_InferRequestedOutputTensor{{Name: "upper"}, {Name: "twice"}}})
		if err != nil {
			t.Fatal(err)
		}
		outs, raw := resp.GetOutputs(), resp.GetRawOutputContents()
		if resp.GetId() != "t1" || len(outs) != 2 || len(raw) != 2 || outs[0].GetName() != "upper" || outs[0].GetDatatype() != "BYTES" ||
			outs[1].GetName() != "twice" || outs[1].GetDatatype() != "INT64" || !slices.Equal(outs[1].GetShape(), []int64{2}) {
			t.Fatalf("response %v", resp)
		}
		if !bytes.Equal(raw[0], lengths(nil, "AB", "XYZ")) || !bytes.Equal(raw[1], le([]int64{6, -8})) {
			t.Fatalf("raw outputs %q", raw)
		}
		if _, err := client.ModelMetadata(ctx, &kservepb.ModelMetadataRequest{Name: "clf", Version: "x"}); status.Code(err) != codes.NotFound {
			t.Errorf("metadata of version x: %v", err)
		}
		if _, err := client.ModelReady(ctx, &kservepb.ModelReadyRequest{Name: "nope"}); status.Code(err) != codes.NotFound {
			t.Errorf("ready of an unknown model: %v", err)
		}
		if _, err := client.ModelStatistics(ctx, &kservepb.ModelStatisticsRequest{Name: "nope"}); status.Code(err) != codes.NotFound {
			t.Errorf("statistics of an unknown model: %v", err)
		}
	})
}

// FuzzKserveDecode feeds the decoders of one input arbitrary bytes, as
// binary data and as JSON data, for every datatype: they must return an
// error or a tensor that fills its shape, and never panic. Under plain
// `go test` only the seeds run.
func FuzzKserveDecode(f *testing.F) {
	f.Add(uint8(6), int64(2), []byte(`[["a"],["b"]]`))
	f.Add(uint8(6), int64(2), lengths([]byte{200, 0, 0, 0}, "ab"))
	f.Add(uint8(0), int64(4), []byte(`[1,2,[3,4]]`))
	f.Add(uint8(3), int64(1), []byte(`1e400`))
	f.Add(uint8(5), int64(2), []byte(`[true,{"a":1}]`))
	dts := []string{"FP32", "FP64", "INT32", "INT64", "UINT8", "BOOL", "BYTES"}
	f.Fuzz(func(t *testing.T, which uint8, n int64, data []byte) {
		if n < 1 || n > 1<<10 {
			return
		}
		dt := kserveTypes[dts[int(which)%len(dts)]]
		dims := []int64{n}
		b := &budget{maxElements: 1 << 20, maxBytes: 1 << 20}
		for _, decode := range []func() (Tensor, error){
			func() (Tensor, error) { return kserveRaw(b, "x", dt, dims, n, data) },
			func() (Tensor, error) { return kserveJSONData("x", dt, dims, n, data) },
		} {
			x, err := decode()
			if err == nil {
				if err := x.check(); err != nil {
					t.Fatalf("%v %d %q: decoded a bad tensor: %v", dt, n, data, err)
				}
			}
		}
	})
}

// The statistics extension counts each loaded version's requests: the
// successes and their rows, the failures after the version was reached,
// over REST and gRPC alike (tritonclient's get_inference_statistics asks
// for these; it got UNIMPLEMENTED).
func TestKserveStatistics(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 1)
	srv, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}})
	infer := func(rows int, shape string) int {
		data := strings.TrimSuffix(strings.Repeat("1, 2, 3, 4, ", rows), ", ")
		code, _ := call(t, "POST", hs.URL+"/v2/models/clf/infer",
			`{"inputs": [{"name": "inputs", "shape": `+shape+`, "datatype": "FP32", "data": [`+data+`]}]}`)
		return code
	}
	for _, c := range []struct {
		rows  int
		shape string
		want  int
	}{{1, "[1, 4]", 200}, {2, "[2, 4]", 200}, {1, "[1, 4]", 200}, {1, "[2, 2]", 400}} {
		if code := infer(c.rows, c.shape); code != c.want {
			t.Fatalf("infer %s: %d, want %d", c.shape, code, c.want)
		}
	}
	var rest struct {
		ModelStats []struct {
			Name           string `json:"name"`
			Version        string `json:"version"`
			LastInference  uint64 `json:"last_inference"`
			InferenceCount uint64 `json:"inference_count"`
			ExecutionCount uint64 `json:"execution_count"`
			InferenceStats map[string]struct {
				Count uint64 `json:"count"`
				Ns    uint64 `json:"ns"`
			} `json:"inference_stats"`
		} `json:"model_stats"`
	}
	for _, path := range []string{"/v2/models/clf/stats", "/v2/models/clf/versions/1/stats", "/v2/models/stats"} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&rest)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(rest.ModelStats) != 1 {
			t.Fatalf("%s: %d %v %+v", path, resp.StatusCode, err, rest)
		}
		m := rest.ModelStats[0]
		is := m.InferenceStats
		if m.Name != "clf" || m.Version != "1" || m.InferenceCount != 4 || m.ExecutionCount != 3 || m.LastInference == 0 ||
			is["success"].Count != 3 || is["success"].Ns == 0 || is["fail"].Count != 1 || is["compute_infer"].Count != 3 {
			t.Errorf("%s: %+v", path, m)
		}
	}
	client := kservepb.NewGRPCInferenceServiceClient(serveGRPC(t, srv))
	resp, err := client.ModelStatistics(context.Background(), &kservepb.ModelStatisticsRequest{Name: "clf"})
	if err != nil {
		t.Fatal(err)
	}
	if ms := resp.GetModelStats(); len(ms) != 1 || ms[0].GetInferenceCount() != 4 || ms[0].GetInferenceStats().GetSuccess().GetCount() != 3 {
		t.Fatalf("gRPC statistics: %v", ms)
	}
}
