package serving

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/tfwrap"
)

// The KServe v2 side (the Open Inference Protocol, which Triton and
// tritonclient speak) serves the same models as TF Serving's API, through
// the same predict path: admission, the budget, the signature checks,
// execution and the mapping of errors to codes are shared. Every model is
// served by its serving_default signature (another one by the request
// parameter "signature_name"). REST:
//
//	GET  /v2                                    server metadata
//	GET  /v2/health/live, /v2/health/ready      200, or 503 as /readyz
//	GET  /v2/models/NAME[/versions/V]           model metadata
//	GET  /v2/models/NAME[/versions/V]/ready     200, 404 or 503
//	POST /v2/models/NAME[/versions/V]/infer     inference
//
// with the binary tensor data extension for inputs and outputs. Errors are
// {"error": "message"} with codeOf's status. The gRPC side is kserve_grpc.go.

// kservePlatform is the platform model metadata reports.
const kservePlatform = "tensorflow_savedmodel"

// kserveExtensions are the protocol extensions the server supports.
var kserveExtensions = []string{"binary_tensor_data", "statistics"}

// kserveTypes maps the protocol's datatypes that the server takes to
// dtypes; kserveOther lists the protocol's others, which it refuses.
var (
	kserveTypes = map[string]tfwrap.DType{
		"BOOL": tfwrap.Bool, "UINT8": tfwrap.Uint8, "INT32": tfwrap.Int32, "INT64": tfwrap.Int64,
		"FP32": tfwrap.Float32, "FP64": tfwrap.Float64, "BYTES": tfwrap.String,
	}
	kserveOther = map[string]bool{"UINT16": true, "UINT32": true, "UINT64": true, "INT8": true, "INT16": true, "FP16": true, "BF16": true}
)

// kserveDType returns the dtype of an input's datatype.
func kserveDType(name, datatype string) (tfwrap.DType, error) {
	if dt, ok := kserveTypes[datatype]; ok {
		return dt, nil
	}
	if kserveOther[datatype] {
		return 0, fmt.Errorf("%w: input %q has datatype %s, which this server does not take (it takes BOOL, UINT8, INT32, INT64, FP32, FP64 and BYTES)", restjson.ErrBadRequest, name, datatype)
	}
	return 0, fmt.Errorf("%w: input %q has datatype %q, which is not a datatype of the protocol", restjson.ErrBadRequest, name, datatype)
}

// kserveName is the protocol's name of a dtype ("" for none).
func kserveName(dt tfwrap.DType) string {
	for k, v := range kserveTypes {
		if v == dt {
			return k
		}
	}
	return ""
}

// kserveVersion reads a version as the protocol gives it, a string: ""
// is the served version; anything but a positive number is not found.
func kserveVersion(model, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: model %q has no version %q (versions are positive numbers)", ErrVersionNotFound, model, v)
	}
	return n, nil
}

// kserveVersionString is the server's version: the gotf module's, as the
// build records it.
func kserveVersionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	const mod = "github.com/tfgo-project/gotf"
	if bi.Main.Path == mod && bi.Main.Version != "" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == mod {
			return d.Version
		}
	}
	return "devel"
}

// kserveTensorMeta is one input or output of model metadata.
type kserveTensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// kserveModelMeta is a model version's metadata.
type kserveModelMeta struct {
	Name     string             `json:"name"`
	Versions []string           `json:"versions"`
	Platform string             `json:"platform"`
	Inputs   []kserveTensorMeta `json:"inputs"`
	Outputs  []kserveTensorMeta `json:"outputs"`
}

// kserveMetas describes a signature's tensors: -1 for a dimension of any
// size, and [-1] for a tensor of any rank, which the protocol cannot say.
func kserveMetas(ts []savedmodels.TensorInfo) []kserveTensorMeta {
	out := make([]kserveTensorMeta, 0, len(ts))
	for _, t := range ts {
		sh := t.Shape
		if sh == nil {
			sh = []int64{-1}
		}
		dt := kserveName(t.DType)
		if dt == "" {
			dt = "UNSUPPORTED"
		}
		out = append(out, kserveTensorMeta{Name: t.Name, Datatype: dt, Shape: sh})
	}
	return out
}

// modelMeta reads a model version's metadata from its serving_default
// signature.
func (s *Server) modelMeta(name, ver string) (*kserveModelMeta, error) {
	n, err := kserveVersion(name, ver)
	if err != nil {
		return nil, err
	}
	v, release, err := s.reg.acquire(name, n)
	if err != nil {
		return nil, err
	}
	defer release()
	sig, err := v.signature(signatureKey(""))
	if err != nil {
		return nil, err
	}
	// Every version that serves (a version policy may keep several).
	var versions []string
	if st, err := s.reg.status(name); err == nil {
		for _, e := range st {
			if e.state == "AVAILABLE" {
				versions = append(versions, strconv.FormatInt(e.n, 10))
			}
		}
	}
	if len(versions) == 0 {
		versions = []string{strconv.FormatInt(v.n, 10)}
	}
	return &kserveModelMeta{Name: name, Versions: versions, Platform: kservePlatform,
		Inputs: kserveMetas(sig.Inputs), Outputs: kserveMetas(sig.Outputs)}, nil
}

// modelReady reports whether a model version can serve now: nil, or why
// not (not found, or not ready).
func (s *Server) modelReady(name, ver string) error {
	n, err := kserveVersion(name, ver)
	if err != nil {
		return err
	}
	v, release, err := s.reg.acquire(name, n)
	if err != nil {
		return err
	}
	defer release()
	if err := v.run.down(); err != nil {
		return notReady(fmt.Sprintf("model %q version %d is not ready: %v", name, v.n, err))
	}
	return nil
}

// notReady is an ErrNotReady (503) with a message of its own.
type notReady string

func (e notReady) Error() string { return string(e) }
func (notReady) Unwrap() error   { return ErrNotReady }

// serverReady says why the server is not ready (as /readyz), or nil.
func (s *Server) serverReady() error {
	switch {
	case s.draining.Load():
		return notReady("shutting down")
	case s.reg.ready(s.cfg.StrictReadiness) != "":
		return notReady(s.reg.ready(s.cfg.StrictReadiness))
	case len(s.slots) == cap(s.slots):
		return notReady(fmt.Sprintf("all %d request slots are busy", cap(s.slots)))
	}
	return nil
}

// mountKserve adds the /v2 endpoints to mux.
func (s *Server) mountKserve(mux *http.ServeMux) {
	mux.HandleFunc("/v2", s.kserve)
	mux.HandleFunc("/v2/", s.kserve)
}

// kserve routes /v2[/...].
func (s *Server) kserve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/v2"), "/"), "/")
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	notAllowed := func() {
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here", r.Method))
	}
	switch {
	case len(parts) == 1 && parts[0] == "":
		if !get {
			notAllowed()
			return
		}
		b, _ := json.Marshal(map[string]any{"name": "gotf", "version": kserveVersionString(), "extensions": kserveExtensions})
		writeJSON(w, http.StatusOK, b)
		return
	case len(parts) == 2 && parts[0] == "health" && (parts[1] == "live" || parts[1] == "ready"):
		if !get {
			notAllowed()
			return
		}
		if parts[1] == "ready" {
			if err := s.serverReady(); err != nil {
				s.fail(w, err)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
		return
	case len(parts) < 2 || parts[0] != "models" || parts[1] == "":
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown path %q", r.URL.Path))
		return
	}
	if len(parts) == 2 && parts[1] == "stats" { // every model's statistics
		s.kserveStats(w, r, "", "")
		return
	}
	name, ver, rest := parts[1], "", parts[2:]
	if len(rest) >= 2 && rest[0] == "versions" {
		ver, rest = rest[1], rest[2:]
		if ver == "" {
			ver = "<empty>"
		}
	}
	action := ""
	if len(rest) == 1 {
		action, rest = rest[0], nil
	}
	if len(rest) != 0 || (action != "" && action != "ready" && action != "infer" && action != "stats") {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown path %q", r.URL.Path))
		return
	}
	switch {
	case action == "infer" && r.Method == http.MethodPost:
		s.kserveInfer(w, r, name, ver)
	case action == "infer" || !get:
		notAllowed()
	case action == "stats":
		s.kserveStats(w, r, name, ver)
	case action == "ready":
		if err := s.modelReady(name, ver); err != nil {
			s.fail(w, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		m, err := s.modelMeta(name, ver)
		if err != nil {
			s.fail(w, err)
			return
		}
		b, _ := json.Marshal(m)
		writeJSON(w, http.StatusOK, b)
	}
}

// kserveRequest is the JSON part of an inference request.
type kserveRequest struct {
	ID         string                     `json:"id"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Inputs     []struct {
		Name       string                     `json:"name"`
		Shape      []int64                    `json:"shape"`
		Datatype   string                     `json:"datatype"`
		Parameters map[string]json.RawMessage `json:"parameters"`
		Data       json.RawMessage            `json:"data"`
	} `json:"inputs"`
	Outputs []struct {
		Name       string                     `json:"name"`
		Parameters map[string]json.RawMessage `json:"parameters"`
	} `json:"outputs"`
}

// boolParam reads a boolean parameter; ok is false when it is absent.
func boolParam(p map[string]json.RawMessage, key string) (v, ok bool, err error) {
	raw, ok := p[key]
	if !ok {
		return false, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, false, fmt.Errorf("%w: parameter %q is %s, want true or false", restjson.ErrBadRequest, key, raw)
	}
	return v, true, nil
}

// readKserve reads an inference request's body within the limits, as
// readREST does, and splits it into the JSON header and the binary data
// that follows it when the Inference-Header-Content-Length header says so.
func (s *Server) readKserve(w http.ResponseWriter, r *http.Request) (*kserveRequest, []byte, error) {
	if enc := r.Header.Get("Content-Encoding"); enc != "" && enc != "identity" {
		return nil, nil, fmt.Errorf("%w: Content-Encoding %q is not supported; send the body uncompressed", restjson.ErrBadRequest, enc)
	}
	body, err := s.readRESTBody(w, r)
	if err != nil {
		return nil, nil, err
	}
	head, bin := body, []byte(nil)
	if h := r.Header.Get("Inference-Header-Content-Length"); h != "" {
		n, err := strconv.ParseInt(h, 10, 64)
		if err != nil || n < 0 || n > int64(len(body)) {
			return nil, nil, fmt.Errorf("%w: Inference-Header-Content-Length is %q, the body has %d bytes", restjson.ErrBadRequest, h, len(body))
		}
		head, bin = body[:n], body[n:]
	}
	// encoding/json would turn each "{}" of 2 bytes into a struct of ~100
	// bytes and a map: 16 MiB of them took 1.3 GB. Count first.
	if n := jsonObjects(head, maxKserveObjects); n > maxKserveObjects {
		return nil, nil, fmt.Errorf("%w: the request's JSON holds more than %d objects (inputs, outputs and parameters together)", restjson.ErrBadRequest, maxKserveObjects)
	}
	req := &kserveRequest{}
	if err := json.Unmarshal(head, req); err != nil {
		return nil, nil, fmt.Errorf("%w: the request is not valid JSON: %v", restjson.ErrBadRequest, err)
	}
	return req, bin, nil
}

// maxKserveObjects bounds the JSON objects of one inference request's
// header: an input, an output, a parameters map each take one.
const maxKserveObjects = 4096

// jsonObjects counts the objects ('{' outside strings) in b, stopping
// once past limit.
func jsonObjects(b []byte, limit int) int {
	n, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == '{':
			if n++; n > limit {
				return n
			}
		}
	}
	return n
}

// kserveInfer is the REST transport of predict for the protocol.
func (s *Server) kserveInfer(w http.ResponseWriter, r *http.Request, name, ver string) {
	const api = "kserve_infer"
	start := time.Now()
	req, bin, err := s.readKserve(w, r)
	var version int64
	if err == nil {
		version, err = kserveVersion(name, ver)
	}
	var plan *kservePlan
	if err == nil {
		plan, err = req.plan(bin)
	}
	if err != nil {
		s.count(name, api, start, &err)
		s.fail(w, err)
		return
	}
	res, err := s.predict(r.Context(), &predictCall{api: api, model: name, version: version,
		signature: plan.signature, filter: plan.filter, decode: plan.decode})
	if err != nil {
		s.fail(w, err)
		return
	}
	body, headLen, err := plan.encode(name, res, s.cfg.MaxResponseBytes)
	if err == nil {
		err = s.holdAnswer(r, len(body))
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	if headLen < len(body) {
		w.Header().Set("Inference-Header-Content-Length", strconv.Itoa(headLen))
		w.Header().Set("Content-Type", "application/octet-stream")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// kservePlan is a parsed REST inference request: what to decode from
// where, and how to answer.
type kservePlan struct {
	req       *kserveRequest
	id        string
	signature string
	chunks    [][]byte // each input's binary data; nil for JSON data
	filter    []string // the outputs asked for, in order
	binary    map[string]bool
	binaryAll bool
}

// plan checks the request's structure (everything but what needs the
// signature) and cuts the binary data into the inputs' chunks.
func (req *kserveRequest) plan(bin []byte) (*kservePlan, error) {
	p := &kservePlan{req: req, id: req.ID, binary: map[string]bool{}, chunks: make([][]byte, len(req.Inputs))}
	var err error
	if p.binaryAll, _, err = boolParam(req.Parameters, "binary_data_output"); err != nil {
		return nil, err
	}
	if raw, ok := req.Parameters["signature_name"]; ok {
		if err := json.Unmarshal(raw, &p.signature); err != nil {
			return nil, fmt.Errorf("%w: parameter \"signature_name\" is %s, want a string", restjson.ErrBadRequest, raw)
		}
	}
	if len(req.Inputs) == 0 {
		return nil, fmt.Errorf("%w: the request has no inputs", restjson.ErrBadRequest)
	}
	seen := map[string]bool{}
	off := 0
	for i, in := range req.Inputs {
		if seen[in.Name] {
			return nil, fmt.Errorf("%w: input %q is given twice", restjson.ErrBadRequest, in.Name)
		}
		seen[in.Name] = true
		raw, isBin := in.Parameters["binary_data_size"]
		if !isBin {
			if len(in.Data) == 0 || string(in.Data) == "null" {
				return nil, fmt.Errorf("%w: input %q has neither data nor a binary_data_size parameter", restjson.ErrBadRequest, in.Name)
			}
			continue
		}
		var size int64
		if err := json.Unmarshal(raw, &size); err != nil || size < 0 {
			return nil, fmt.Errorf("%w: input %q: binary_data_size is %s, want a byte count", restjson.ErrBadRequest, in.Name, raw)
		}
		if len(in.Data) != 0 && string(in.Data) != "null" {
			return nil, fmt.Errorf("%w: input %q has both data and binary_data_size", restjson.ErrBadRequest, in.Name)
		}
		if size > int64(len(bin)-off) {
			return nil, fmt.Errorf("%w: input %q: binary_data_size is %d, but only %d bytes of binary data are left (truncated body?)", restjson.ErrBadRequest, in.Name, size, len(bin)-off)
		}
		p.chunks[i] = bin[off : off+int(size) : off+int(size)]
		off += int(size)
	}
	if off != len(bin) {
		return nil, fmt.Errorf("%w: the body has %d bytes of binary data after the header, the inputs' binary_data_size add up to %d", restjson.ErrBadRequest, len(bin), off)
	}
	for _, o := range req.Outputs {
		if seen[" out "+o.Name] {
			return nil, fmt.Errorf("%w: output %q is asked for twice", restjson.ErrBadRequest, o.Name)
		}
		seen[" out "+o.Name] = true
		if raw, ok := o.Parameters["classification"]; ok && string(raw) != "0" {
			return nil, fmt.Errorf("%w: output %q: the classification extension is not supported", restjson.ErrBadRequest, o.Name)
		}
		b, ok, err := boolParam(o.Parameters, "binary_data")
		if err != nil {
			return nil, err
		}
		if !ok {
			b = p.binaryAll
		}
		p.binary[o.Name] = b
		p.filter = append(p.filter, o.Name)
	}
	return p, nil
}

// decode admits and decodes every input against the signature.
func (p *kservePlan) decode(sig *savedmodels.Signature, b *budget) (map[string]Tensor, error) {
	if err := checkOutputs(sig, p.filter); err != nil {
		return nil, err
	}
	ws := make([]wireInput, len(p.req.Inputs))
	for i, in := range p.req.Inputs {
		dt, err := kserveHeader(sig, in.Name, in.Datatype, in.Shape)
		if err != nil {
			return nil, err
		}
		ws[i] = wireInput{name: in.Name, dt: dt, dims: in.Shape}
		if p.chunks[i] != nil || len(in.Data) == 0 {
			chunk := p.chunks[i]
			ws[i].fill = func() (Tensor, error) { return kserveRaw(b, in.Name, dt, in.Shape, elements(in.Shape), chunk) }
			continue
		}
		if dt == tfwrap.String {
			ws[i].payload = int64(len(in.Data))
		}
		ws[i].fill = func() (Tensor, error) {
			return kserveJSONData(in.Name, dt, in.Shape, elements(in.Shape), in.Data)
		}
	}
	return decodeInputs(sig, b, ws)
}

// checkOutputs refuses output names the signature lacks.
func checkOutputs(sig *savedmodels.Signature, names []string) error {
	for _, n := range names {
		found := false
		for _, o := range sig.Outputs {
			found = found || o.Name == n
		}
		if !found {
			var have []string
			for _, o := range sig.Outputs {
				have = append(have, strconv.Quote(o.Name))
			}
			return fmt.Errorf("%w: signature %q has no output %q; its outputs are %s", savedmodels.ErrBadInput, sig.Key, n, strings.Join(have, ", "))
		}
	}
	return nil
}

// kserveHeader reads an input's declared datatype and shape (KServe's
// names, a shape that must be there) and returns its dtype;
// decodeInputs admits it against the signature and the budget.
func kserveHeader(sig *savedmodels.Signature, name, datatype string, dims []int64) (tfwrap.DType, error) {
	if dims == nil {
		return 0, fmt.Errorf("%w: input %q has no shape", restjson.ErrBadRequest, name)
	}
	if len(dims) > maxRank {
		return 0, fmt.Errorf("%w: input %q has rank %d", restjson.ErrBadRequest, name, len(dims))
	}
	if _, ok := sig.Input(name); !ok { // the signature's own message, naming its inputs
		if err := sig.CheckInput(name, savedmodels.Spec{}); err != nil {
			return 0, err
		}
	}
	dt, err := kserveDType(name, datatype)
	if err != nil {
		return 0, err
	}
	return dt, nil
}

// kserveRaw decodes an input's binary data (REST's binary extension or
// gRPC's raw_input_contents): n little-endian elements, or for BYTES n
// strings each after its 4-byte little-endian length. Every length is
// checked against what is left before it is used.
func kserveRaw(b *budget, name string, dt tfwrap.DType, dims []int64, n int64, raw []byte) (Tensor, error) {
	t := Tensor{DType: dt, Shape: dims}
	if dt != tfwrap.String {
		if size := int64(dt.ByteSize()); int64(len(raw)) != n*size {
			return t, fmt.Errorf("%w: input %q has %d bytes of data, its shape %v of %s needs %d", restjson.ErrBadRequest, name, len(raw), dims, kserveName(dt), n*size)
		}
		t.Data = raw
		if dt == tfwrap.Bool {
			t.Data = make([]byte, len(raw))
			for i, c := range raw {
				if c != 0 {
					t.Data[i] = 1
				}
			}
		}
		return t, nil
	}
	if err := b.payload(name, int64(len(raw))); err != nil {
		return t, err
	}
	t.Strings = make([]string, 0, n)
	for rest := raw; len(rest) > 0; {
		if int64(len(t.Strings)) == n {
			return t, fmt.Errorf("%w: input %q has %d bytes of data after its %d strings", restjson.ErrBadRequest, name, len(rest), n)
		}
		if len(rest) < 4 {
			return t, fmt.Errorf("%w: input %q: string %d has a truncated length (%d bytes)", restjson.ErrBadRequest, name, len(t.Strings), len(rest))
		}
		l := binary.LittleEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(l) > uint64(len(rest)) {
			return t, fmt.Errorf("%w: input %q: string %d has length %d, only %d bytes are left", restjson.ErrBadRequest, name, len(t.Strings), l, len(rest))
		}
		t.Strings = append(t.Strings, string(rest[:l]))
		rest = rest[l:]
	}
	if int64(len(t.Strings)) != n {
		return t, fmt.Errorf("%w: input %q holds %d strings, its shape %v needs %d", restjson.ErrBadRequest, name, len(t.Strings), dims, n)
	}
	return t, nil
}

// kserveJSONData decodes an input's JSON data, flat or nested (row-major),
// into n elements; it stops at the first element past n.
func kserveJSONData(name string, dt tfwrap.DType, dims []int64, n int64, raw json.RawMessage) (Tensor, error) {
	t := Tensor{DType: dt, Shape: dims}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var (
		nums  []byte
		strs  []string
		count int64
	)
	if dt == tfwrap.String {
		strs = make([]string, 0, n)
	} else {
		nums = make([]byte, 0, n*int64(dt.ByteSize()))
	}
	bad := func(tok any) error {
		return fmt.Errorf("%w: input %q is %s, element %d is %v", restjson.ErrBadRequest, name, kserveName(dt), count, tok)
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return t, fmt.Errorf("%w: input %q: %v", restjson.ErrBadRequest, name, err)
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' {
				return t, fmt.Errorf("%w: input %q: data holds an object; want an array of elements", restjson.ErrBadRequest, name)
			}
			continue
		}
		if count == n {
			return t, fmt.Errorf("%w: input %q has more than the %d elements of its shape %v", restjson.ErrBadRequest, name, n, dims)
		}
		switch dt {
		case tfwrap.String:
			v, ok := tok.(string)
			if !ok {
				return t, bad(tok)
			}
			strs = append(strs, v)
		case tfwrap.Bool:
			v, ok := tok.(bool)
			if !ok {
				return t, bad(tok)
			}
			c := byte(0)
			if v {
				c = 1
			}
			nums = append(nums, c)
		default:
			num, ok := tok.(json.Number)
			if !ok {
				return t, bad(tok)
			}
			if nums, err = appendNumber(nums, dt, string(num)); err != nil {
				return t, fmt.Errorf("%w: input %q element %d: %v", restjson.ErrBadRequest, name, count, err)
			}
		}
		count++
	}
	if count != n {
		return t, fmt.Errorf("%w: input %q holds %d elements, its shape %v needs %d", restjson.ErrBadRequest, name, count, dims, n)
	}
	t.Data, t.Strings = nums, strs
	return t, nil
}

// appendNumber appends one JSON number as a little-endian element of dt.
func appendNumber(b []byte, dt tfwrap.DType, s string) ([]byte, error) {
	switch dt {
	case tfwrap.Float32, tfwrap.Float64:
		bits := 64
		if dt == tfwrap.Float32 {
			bits = 32
		}
		f, err := strconv.ParseFloat(s, bits)
		if err != nil {
			return b, fmt.Errorf("%s is out of range for %s", s, kserveName(dt))
		}
		if dt == tfwrap.Float32 {
			return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(f))), nil
		}
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(f)), nil
	case tfwrap.Uint8:
		v, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return b, fmt.Errorf("%s is not a UINT8", s)
		}
		return append(b, byte(v)), nil
	case tfwrap.Int32:
		v, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return b, fmt.Errorf("%s is not an INT32", s)
		}
		return binary.LittleEndian.AppendUint32(b, uint32(v)), nil
	case tfwrap.Int64:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return b, fmt.Errorf("%s is not an INT64", s)
		}
		return binary.LittleEndian.AppendUint64(b, uint64(v)), nil
	}
	return b, fmt.Errorf("unsupported dtype %v", dt)
}

// kserveRawOutput is an output's bytes as the binary extension and gRPC's
// raw_output_contents carry them.
func kserveRawOutput(t Tensor) []byte {
	if t.DType != tfwrap.String {
		return t.Data
	}
	n := 0
	for _, s := range t.Strings {
		n += 4 + len(s)
	}
	b := make([]byte, 0, n)
	for _, s := range t.Strings {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// kserveJSONOutput writes an output's elements as a flat JSON array of at
// most limit bytes (JSON takes several times the bytes of the tensor).
func kserveJSONOutput(name string, t Tensor, limit int64) (json.RawMessage, error) {
	b := []byte{'['}
	add := func(i int) error {
		if int64(len(b)) > limit {
			return fmt.Errorf("%w: output %q takes more than %d bytes as JSON; ask for it as binary data", errTooLarge, name, limit)
		}
		if i > 0 {
			b = append(b, ',')
		}
		return nil
	}
	nonFinite := fmt.Errorf("%w: output %q holds NaN or infinity, which JSON cannot carry; ask for it as binary data", restjson.ErrBadRequest, name)
	switch t.DType {
	case tfwrap.Float32:
		v, err := fromLE[float32](t.Data)
		if err != nil {
			return nil, err
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, nonFinite
			}
			if err := add(i); err != nil {
				return nil, err
			}
			b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
		}
	case tfwrap.Float64:
		v, err := fromLE[float64](t.Data)
		if err != nil {
			return nil, err
		}
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, nonFinite
			}
			if err := add(i); err != nil {
				return nil, err
			}
			b = strconv.AppendFloat(b, x, 'g', -1, 64)
		}
	case tfwrap.Int32:
		v, err := fromLE[int32](t.Data)
		if err != nil {
			return nil, err
		}
		for i, x := range v {
			if err := add(i); err != nil {
				return nil, err
			}
			b = strconv.AppendInt(b, int64(x), 10)
		}
	case tfwrap.Int64:
		v, err := fromLE[int64](t.Data)
		if err != nil {
			return nil, err
		}
		for i, x := range v {
			if err := add(i); err != nil {
				return nil, err
			}
			b = strconv.AppendInt(b, x, 10)
		}
	case tfwrap.Uint8:
		for i, x := range t.Data {
			if err := add(i); err != nil {
				return nil, err
			}
			b = strconv.AppendUint(b, uint64(x), 10)
		}
	case tfwrap.Bool:
		for i, x := range t.Data {
			if err := add(i); err != nil {
				return nil, err
			}
			b = strconv.AppendBool(b, x != 0)
		}
	case tfwrap.String:
		for i, x := range t.Strings {
			if !utf8.ValidString(x) {
				return nil, fmt.Errorf("%w: output %q holds bytes that are not UTF-8, which JSON cannot carry; ask for it as binary data", restjson.ErrBadRequest, name)
			}
			if err := add(i); err != nil {
				return nil, err
			}
			q, _ := json.Marshal(x)
			b = append(b, q...)
		}
	default:
		return nil, fmt.Errorf("output %q has an unsupported dtype", name)
	}
	if err := add(0); err != nil {
		return nil, err
	}
	return append(b, ']'), nil
}

// encode writes the response: the JSON header, then the binary data of
// the outputs asked for as binary, in the header's order, in at most about
// limit bytes. headLen is the header's length (len(body) without binary
// data).
func (p *kservePlan) encode(model string, res *predictResult, limit int64) (body []byte, headLen int, err error) {
	type output struct {
		Name       string          `json:"name"`
		Datatype   string          `json:"datatype"`
		Shape      []int64         `json:"shape"`
		Parameters map[string]any  `json:"parameters,omitempty"`
		Data       json.RawMessage `json:"data,omitempty"`
	}
	names := p.filter
	if len(names) == 0 {
		names = sortedKeys(res.outputs)
	}
	var bin [][]byte
	outs := make([]output, 0, len(names))
	for _, n := range names {
		t, ok := res.outputs[n]
		if !ok {
			return nil, 0, fmt.Errorf("the model returned no output %q", n)
		}
		o := output{Name: n, Datatype: kserveName(t.DType), Shape: t.Shape}
		if o.Shape == nil {
			o.Shape = []int64{}
		}
		wantBin, asked := p.binary[n]
		if !asked {
			wantBin = p.binaryAll
		}
		if wantBin {
			raw := kserveRawOutput(t)
			o.Parameters = map[string]any{"binary_data_size": len(raw)}
			bin = append(bin, raw)
		} else {
			if o.Data, err = kserveJSONOutput(n, t, limit); err != nil {
				return nil, 0, err
			}
			limit -= int64(len(o.Data))
		}
		outs = append(outs, o)
	}
	head := map[string]any{"model_name": model, "model_version": strconv.FormatInt(res.version, 10), "outputs": outs}
	if p.id != "" {
		head["id"] = p.id
	}
	body, err = json.Marshal(head)
	if err != nil {
		return nil, 0, err
	}
	headLen = len(body)
	for _, b := range bin {
		body = append(body, b...)
	}
	return body, headLen, nil
}
