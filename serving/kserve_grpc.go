package serving

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/kservepb"
	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/tfwrap"
)

// inferenceService is the KServe v2 inference.GRPCInferenceService of one
// Server: ServerLive, ServerReady, ModelReady, ServerMetadata,
// ModelMetadata and ModelInfer; the rest (streaming, model configuration,
// statistics, the repository, shared memory, tracing, logging) answer
// UNIMPLEMENTED. It holds no state of its own and is safe for concurrent
// use.
type inferenceService struct {
	kservepb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

// registerKserve adds the GRPCInferenceService of s to g.
func (s *Server) registerKserve(g *grpc.Server) {
	kservepb.RegisterGRPCInferenceServiceServer(g, inferenceService{s: s})
}

// ServerLive answers live: the server answers.
func (inferenceService) ServerLive(context.Context, *kservepb.ServerLiveRequest) (*kservepb.ServerLiveResponse, error) {
	return &kservepb.ServerLiveResponse{Live: true}, nil
}

// ServerReady answers ready as /readyz would answer 200.
func (p inferenceService) ServerReady(context.Context, *kservepb.ServerReadyRequest) (*kservepb.ServerReadyResponse, error) {
	return &kservepb.ServerReadyResponse{Ready: p.s.serverReady() == nil}, nil
}

// ModelReady answers whether a model version can serve now; an unknown
// model or version is NOT_FOUND.
func (p inferenceService) ModelReady(_ context.Context, req *kservepb.ModelReadyRequest) (*kservepb.ModelReadyResponse, error) {
	err := p.s.modelReady(req.GetName(), req.GetVersion())
	if code := codeOf(err); code != 200 && code != 503 {
		return nil, p.s.grpcStatus(err)
	}
	return &kservepb.ModelReadyResponse{Ready: err == nil}, nil
}

// ServerMetadata answers the server's name, version and extensions.
func (inferenceService) ServerMetadata(context.Context, *kservepb.ServerMetadataRequest) (*kservepb.ServerMetadataResponse, error) {
	return &kservepb.ServerMetadataResponse{Name: "gotf", Version: kserveVersionString(), Extensions: kserveExtensions}, nil
}

// ModelMetadata answers a model version's metadata, from its
// serving_default signature.
func (p inferenceService) ModelMetadata(_ context.Context, req *kservepb.ModelMetadataRequest) (*kservepb.ModelMetadataResponse, error) {
	m, err := p.s.modelMeta(req.GetName(), req.GetVersion())
	if err != nil {
		return nil, p.s.grpcStatus(err)
	}
	conv := func(ts []kserveTensorMeta) []*kservepb.ModelMetadataResponse_TensorMetadata {
		out := make([]*kservepb.ModelMetadataResponse_TensorMetadata, len(ts))
		for i, t := range ts {
			out[i] = &kservepb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
		}
		return out
	}
	return &kservepb.ModelMetadataResponse{Name: m.Name, Versions: m.Versions, Platform: m.Platform,
		Inputs: conv(m.Inputs), Outputs: conv(m.Outputs)}, nil
}

// ModelInfer is the gRPC transport of predict for the protocol: inputs in
// typed contents or in raw_input_contents (one per input, in order), each
// admitted by the budget before it is materialised; outputs in
// raw_output_contents, as Triton answers.
func (p inferenceService) ModelInfer(ctx context.Context, req *kservepb.ModelInferRequest) (*kservepb.ModelInferResponse, error) {
	const api = "grpc_kserve_infer"
	s, name := p.s, req.GetModelName()
	start := time.Now()
	version, err := kserveVersion(name, req.GetModelVersion())
	var filter []string
	var signature string
	if err == nil {
		filter, signature, err = checkInferRequest(req)
	}
	if err != nil {
		s.count(name, api, start, &err)
		return nil, s.grpcStatus(err)
	}
	ins, raws := req.GetInputs(), req.GetRawInputContents()
	res, err := s.predict(ctx, &predictCall{api: api, model: name, version: version, signature: signature, filter: filter,
		decode: func(sig *savedmodels.Signature, b *budget) (map[string]Tensor, error) {
			if err := checkOutputs(sig, filter); err != nil {
				return nil, err
			}
			ws := make([]wireInput, len(ins))
			for i, in := range ins {
				name, dims := in.GetName(), in.GetShape()
				dt, err := kserveHeader(sig, name, in.GetDatatype(), dims)
				if err != nil {
					return nil, err
				}
				ws[i] = wireInput{name: name, dt: dt, dims: dims, fill: func() (Tensor, error) {
					n := elements(dims)
					if len(raws) > 0 {
						return kserveRaw(b, name, dt, dims, n, raws[i])
					}
					return kserveContents(b, name, dt, dims, n, in.GetContents())
				}}
			}
			return decodeInputs(sig, b, ws)
		}})
	if err != nil {
		return nil, s.grpcStatus(err)
	}
	names := filter
	if len(names) == 0 {
		names = sortedKeys(res.outputs)
	}
	resp := &kservepb.ModelInferResponse{ModelName: name, ModelVersion: fmt.Sprint(res.version), Id: req.GetId()}
	for _, n := range names {
		t, ok := res.outputs[n]
		if !ok {
			err := fmt.Errorf("the model returned no output %q", n)
			return nil, s.grpcStatus(err)
		}
		sh := t.Shape
		if sh == nil {
			sh = []int64{}
		}
		resp.Outputs = append(resp.Outputs, &kservepb.ModelInferResponse_InferOutputTensor{Name: n, Datatype: kserveName(t.DType), Shape: sh})
		resp.RawOutputContents = append(resp.RawOutputContents, kserveRawOutput(t))
	}
	return resp, nil
}

// checkInferRequest checks a ModelInferRequest's structure (everything
// that needs no signature) and returns the outputs asked for and the
// signature named by the "signature_name" parameter.
func checkInferRequest(req *kservepb.ModelInferRequest) (filter []string, signature string, err error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{restjson.ErrBadRequest}, args...)...)
	}
	if req.GetModelName() == "" {
		return nil, "", bad("model_name is empty")
	}
	if p, ok := req.GetParameters()["signature_name"]; ok {
		sp, ok := p.GetParameterChoice().(*kservepb.InferParameter_StringParam)
		if !ok {
			return nil, "", bad("parameter \"signature_name\" must be a string")
		}
		signature = sp.StringParam
	}
	ins, raws := req.GetInputs(), req.GetRawInputContents()
	if len(ins) == 0 {
		return nil, "", bad("the request has no inputs")
	}
	if len(raws) > 0 && len(raws) != len(ins) {
		return nil, "", bad("raw_input_contents holds %d entries for %d inputs; give one per input, or none", len(raws), len(ins))
	}
	seen := map[string]bool{}
	for _, in := range ins {
		if seen[in.GetName()] {
			return nil, "", bad("input %q is given twice", in.GetName())
		}
		seen[in.GetName()] = true
		if len(raws) > 0 && in.GetContents() != nil {
			return nil, "", bad("input %q has contents as well as raw_input_contents", in.GetName())
		}
	}
	outSeen := map[string]bool{}
	for _, o := range req.GetOutputs() {
		if outSeen[o.GetName()] {
			return nil, "", bad("output %q is asked for twice", o.GetName())
		}
		outSeen[o.GetName()] = true
		if c, ok := o.GetParameters()["classification"]; ok && c.GetInt64Param() != 0 {
			return nil, "", bad("output %q: the classification extension is not supported", o.GetName())
		}
		filter = append(filter, o.GetName())
	}
	return filter, signature, nil
}

// kserveContents decodes an input's typed contents: n values in the field
// of its datatype (uint_contents for UINT8, each checked to fit).
func kserveContents(b *budget, name string, dt tfwrap.DType, dims []int64, n int64, c *kservepb.InferTensorContents) (Tensor, error) {
	t := Tensor{DType: dt, Shape: dims}
	count := func(field string, got int) error {
		if int64(got) != n {
			return fmt.Errorf("%w: input %q holds %d values in %s, its shape %v needs %d", restjson.ErrBadRequest, name, got, field, dims, n)
		}
		return nil
	}
	switch dt {
	case tfwrap.Float32:
		if err := count("fp32_contents", len(c.GetFp32Contents())); err != nil {
			return t, err
		}
		t.Data = le(c.GetFp32Contents())
	case tfwrap.Float64:
		if err := count("fp64_contents", len(c.GetFp64Contents())); err != nil {
			return t, err
		}
		t.Data = le(c.GetFp64Contents())
	case tfwrap.Int32:
		if err := count("int_contents", len(c.GetIntContents())); err != nil {
			return t, err
		}
		t.Data = le(c.GetIntContents())
	case tfwrap.Int64:
		if err := count("int64_contents", len(c.GetInt64Contents())); err != nil {
			return t, err
		}
		t.Data = le(c.GetInt64Contents())
	case tfwrap.Bool:
		if err := count("bool_contents", len(c.GetBoolContents())); err != nil {
			return t, err
		}
		t.Data = le(c.GetBoolContents())
	case tfwrap.Uint8:
		v := c.GetUintContents()
		if err := count("uint_contents", len(v)); err != nil {
			return t, err
		}
		t.Data = make([]byte, len(v))
		for i, x := range v {
			if x > 255 {
				return t, fmt.Errorf("%w: input %q: %d is out of range for UINT8", restjson.ErrBadRequest, name, x)
			}
			t.Data[i] = byte(x)
		}
	case tfwrap.String:
		v := c.GetBytesContents()
		if err := count("bytes_contents", len(v)); err != nil {
			return t, err
		}
		var sum int64
		for _, x := range v {
			sum += int64(len(x))
		}
		if err := b.payload(name, sum); err != nil {
			return t, err
		}
		t.Strings = make([]string, len(v))
		for i, x := range v {
			t.Strings[i] = string(x)
		}
	default:
		return t, fmt.Errorf("%w: input %q has an unsupported dtype", restjson.ErrBadRequest, name)
	}
	return t, nil
}

// ModelStatistics answers the statistics extension: every model's loaded
// versions when the name is empty.
func (p inferenceService) ModelStatistics(_ context.Context, req *kservepb.ModelStatisticsRequest) (*kservepb.ModelStatisticsResponse, error) {
	ms, err := p.s.modelStats(req.GetName(), req.GetVersion())
	if err != nil {
		return nil, p.s.grpcStatus(err)
	}
	return &kservepb.ModelStatisticsResponse{ModelStats: ms}, nil
}
