package serving

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	tensorpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_go_proto"
	shapepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/kservepb"
	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/serving/tfspb"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/dtype"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// The gRPC side implements TF Serving's tensorflow.serving.PredictionService
// (Predict and GetModelMetadata here; Classify, Regress and MultiInference
// in classify.go) on the messages and stubs generated in tfspb, so the
// official tensorflow-serving-api client works unchanged. Beside it run the
// standard gRPC health service and server reflection.

// predictionService is the tfspb.PredictionServiceServer of one Server. It
// holds no state of its own and is safe for concurrent use.
type predictionService struct {
	tfspb.UnimplementedPredictionServiceServer
	s *Server
}

// NewGRPCServer returns a gRPC server with the PredictionService of s, its
// KServe v2 GRPCInferenceService (kserve_grpc.go), the standard health
// service (for "" and for the PredictionService: SERVING
// while /readyz would answer 200 for models, NOT_SERVING before every
// model has a version and while shutting down) and server reflection. The caller owns the returned server: it serves
// and stops it.
func (s *Server) NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	codec := newBudgetCodec(s.mem) // decoding is charged to the shared memory first
	opts = append(opts, grpc.MaxRecvMsgSize(int(s.cfg.MaxBodyBytes)), grpc.ForceServerCodecV2(codec), grpc.StatsHandler(codecStats{codec}),
		grpc.ChainUnaryInterceptor(codec.unary), grpc.ChainStreamInterceptor(codec.stream))
	g := grpc.NewServer(opts...)
	tfspb.RegisterPredictionServiceServer(g, predictionService{s: s})
	tfspb.RegisterModelServiceServer(g, modelService{s: s})
	s.registerKserve(g) // inference.GRPCInferenceService, kserve_grpc.go
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	s.healthMu.Lock()
	s.healths = append(s.healths, hs)
	s.healthMu.Unlock()
	s.updateHealth()
	reflection.Register(g)
	return g
}

// grpcStatus maps an error to a gRPC status, as codeOf to HTTP, with its
// message scrubbed of file-system paths.
func (s *Server) grpcStatus(err error) error {
	c, ok := grpcCodes[codeOf(err)]
	if !ok {
		c = codes.Internal
	}
	return status.Error(c, s.reg.scrub(err.Error()))
}

// grpcCodes maps the HTTP statuses codeOf gives to gRPC codes.
var grpcCodes = map[int]codes.Code{
	400: codes.InvalidArgument, 403: codes.PermissionDenied, 404: codes.NotFound,
	408: codes.DeadlineExceeded, 412: codes.FailedPrecondition, 413: codes.ResourceExhausted, 429: codes.ResourceExhausted,
	499: codes.Canceled, 503: codes.Unavailable, 504: codes.DeadlineExceeded,
}

// resolveSpec returns the version a model_spec asks for: its version, the
// version its label names now, or 0 for the served one.
func (s *Server) resolveSpec(sp *tfspb.ModelSpec) (int64, error) {
	if sp.GetName() == "" {
		return 0, fmt.Errorf("%w: model_spec.name is empty", restjson.ErrBadRequest)
	}
	if l, ok := sp.GetVersionChoice().(*tfspb.ModelSpec_VersionLabel); ok {
		return s.reg.resolve(sp.GetName(), l.VersionLabel)
	}
	if v := sp.GetVersion(); v != nil && v.GetValue() <= 0 {
		return 0, fmt.Errorf("%w: model_spec.version %d: versions are positive numbers", restjson.ErrBadRequest, v.GetValue())
	}
	return sp.GetVersion().GetValue(), nil
}

func pbShape(dims []int64) *shapepb.TensorShapeProto {
	sh := &shapepb.TensorShapeProto{Dim: make([]*shapepb.TensorShapeProto_Dim, len(dims))}
	for i, d := range dims {
		sh.Dim[i] = &shapepb.TensorShapeProto_Dim{Size: d}
	}
	return sh
}

// values fills n elements from a typed repeated field (or a single value
// repeated, as tf.make_tensor_proto writes scalars broadcast). n has
// passed the request's budget.
func values[T any](name string, got []T, n int64) ([]T, error) {
	switch int64(len(got)) {
	case n:
		return got, nil
	case 1:
		out := make([]T, n)
		for i := range out {
			out[i] = got[0]
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: input %q holds %d values for %d elements", restjson.ErrBadRequest, name, len(got), n)
}

// protoBytes returns n little-endian elements of T from a TensorProto: its
// tensor_content when set, else its typed repeated field.
func protoBytes[T tfwrap.Elem](name string, content []byte, typed []T, n int64) ([]byte, error) {
	if len(content) == 0 {
		v, err := values(name, typed, n)
		if err != nil {
			return nil, err
		}
		return le(v), nil
	}
	var z T
	if int64(len(content)) != n*int64(binary.Size(z)) {
		return nil, fmt.Errorf("%w: input %q has %d bytes of content for %d elements", restjson.ErrBadRequest, name, len(content), n)
	}
	return content, nil
}

// tensorHeader reads an input TensorProto's dtype and shape: what the
// budget checks before any element is materialised.
func tensorHeader(name string, tp *tensorpb.TensorProto) (tfwrap.DType, []int64, error) {
	dt, ok := dtype.FromProto(tp.GetDtype())
	if !ok {
		return 0, nil, fmt.Errorf("%w: input %q has dtype %v, which the server does not take", restjson.ErrBadRequest, name, tp.GetDtype())
	}
	sp := tp.GetTensorShape()
	if sp.GetUnknownRank() {
		return 0, nil, fmt.Errorf("%w: input %q has an unknown rank", restjson.ErrBadRequest, name)
	}
	if len(sp.GetDim()) > maxRank {
		return 0, nil, fmt.Errorf("%w: input %q has rank %d", restjson.ErrBadRequest, name, len(sp.GetDim()))
	}
	dims := make([]int64, len(sp.GetDim()))
	for i, d := range sp.GetDim() {
		dims[i] = d.GetSize()
	}
	return dt, dims, nil
}

// protoInputs reads the headers of TensorProto inputs, in name order.
func protoInputs(ins map[string]*tensorpb.TensorProto) ([]wireInput, error) {
	ws := make([]wireInput, 0, len(ins))
	for _, k := range sortedKeys(ins) {
		tp := ins[k]
		dt, dims, err := tensorHeader(k, tp)
		if err != nil {
			return nil, err
		}
		w := wireInput{name: k, dt: dt, dims: dims,
			fill: func() (Tensor, error) { return tensorFromProto(k, tp, dt, dims) }}
		if dt == tfwrap.String {
			w.payload = stringBytes(tp.GetStringVal(), dims)
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// stringBytes is the bytes a string_val will take once broadcast to the
// shape (its values' own bytes when it holds one per element).
func stringBytes(vals [][]byte, dims []int64) int64 {
	if len(vals) == 1 {
		n, err := shape.NumElements(dims)
		if err != nil {
			return 0
		}
		return n * int64(len(vals[0]))
	}
	var sum int64
	for _, v := range vals {
		sum += int64(len(v))
	}
	return sum
}

// tensorFromProto materialises an input whose header has been admitted.
func tensorFromProto(name string, tp *tensorpb.TensorProto, dt tfwrap.DType, dims []int64) (Tensor, error) {
	n, err := shape.NumElements(dims)
	if err != nil {
		return Tensor{}, fmt.Errorf("%w: input %q: %v", restjson.ErrBadRequest, name, err)
	}
	t := Tensor{DType: dt, Shape: dims}
	c := tp.GetTensorContent()
	switch dt {
	case tfwrap.Float32:
		t.Data, err = protoBytes(name, c, tp.GetFloatVal(), n)
	case tfwrap.Float64:
		t.Data, err = protoBytes(name, c, tp.GetDoubleVal(), n)
	case tfwrap.Int32:
		t.Data, err = protoBytes(name, c, tp.GetIntVal(), n)
	case tfwrap.Int64:
		t.Data, err = protoBytes(name, c, tp.GetInt64Val(), n)
	case tfwrap.Bool:
		t.Data, err = protoBytes(name, c, tp.GetBoolVal(), n)
	case tfwrap.Uint8:
		if len(c) > 0 {
			t.Data, err = protoBytes[uint8](name, c, nil, n)
			break
		}
		var iv []int32
		if iv, err = values(name, tp.GetIntVal(), n); err != nil { // TF keeps uint8 values in int_val
			break
		}
		for _, x := range iv {
			if x < 0 || x > 255 {
				return t, fmt.Errorf("%w: input %q: %d is out of range for uint8", restjson.ErrBadRequest, name, x)
			}
		}
		t.Data = tfwrap.Convert[uint8](iv)
	default: // String
		var sv [][]byte
		if sv, err = values(name, tp.GetStringVal(), n); err != nil {
			break
		}
		t.Strings = make([]string, len(sv))
		for i, b := range sv {
			t.Strings[i] = string(b)
		}
	}
	return t, err
}

// tensorToProto converts one output: numbers in tensor_content, strings
// in string_val.
func tensorToProto(t Tensor) (*tensorpb.TensorProto, error) {
	tp := &tensorpb.TensorProto{Dtype: t.DType.Proto(), TensorShape: pbShape(t.Shape)}
	switch {
	case t.DType == tfwrap.String:
		tp.StringVal = make([][]byte, len(t.Strings))
		for i, x := range t.Strings {
			tp.StringVal[i] = []byte(x)
		}
	case t.DType.ByteSize() > 0:
		tp.TensorContent = t.Data
	default:
		return nil, fmt.Errorf("an output has an unsupported dtype")
	}
	return tp, nil
}

// Predict is the gRPC transport of predict: it decodes the request's
// inputs against the signature, each admitted by the budget before it is
// materialised, and encodes the outputs.
func (p predictionService) Predict(ctx context.Context, req *tfspb.PredictRequest) (*tfspb.PredictResponse, error) {
	s, sp := p.s, req.GetModelSpec()
	version, err := s.resolveSpec(sp)
	if err != nil {
		s.count(sp.GetName(), "grpc_predict", time.Now(), &err)
		return nil, s.grpcStatus(err)
	}
	ins := req.GetInputs()
	res, err := s.predict(ctx, &predictCall{
		api: "grpc_predict", model: sp.GetName(), version: version, signature: sp.GetSignatureName(), filter: req.GetOutputFilter(),
		decode: func(sig *savedmodels.Signature, b *budget) (map[string]Tensor, error) {
			ws, err := protoInputs(ins)
			if err != nil {
				return nil, err
			}
			return decodeInputs(sig, b, ws)
		},
	})
	if err != nil {
		return nil, s.grpcStatus(err)
	}
	resp := &tfspb.PredictResponse{
		Outputs: make(map[string]*tensorpb.TensorProto, len(res.outputs)),
		ModelSpec: &tfspb.ModelSpec{Name: sp.GetName(), SignatureName: res.signature,
			VersionChoice: &tfspb.ModelSpec_Version{Version: wrapperspb.Int64(res.version)}},
	}
	for k, t := range res.outputs {
		tp, err := tensorToProto(t)
		if err != nil {
			return nil, s.grpcStatus(err)
		}
		resp.Outputs[k] = tp
	}
	return resp, nil
}

// GetModelMetadata answers the signature_def metadata of a model version:
// a tfspb.SignatureDefMap packed in an Any, as TF Serving does.
func (p predictionService) GetModelMetadata(_ context.Context, req *tfspb.GetModelMetadataRequest) (*tfspb.GetModelMetadataResponse, error) {
	s, sp := p.s, req.GetModelSpec()
	version, err := s.resolveSpec(sp)
	if err != nil {
		return nil, s.grpcStatus(err)
	}
	for _, f := range req.GetMetadataField() {
		if f != "signature_def" {
			return nil, s.grpcStatus(fmt.Errorf("%w: metadata field %q is not supported (only signature_def)", restjson.ErrBadRequest, f))
		}
	}
	if len(req.GetMetadataField()) == 0 {
		return nil, s.grpcStatus(fmt.Errorf("%w: metadata_field must list signature_def", restjson.ErrBadRequest))
	}
	resp, err := s.metadataResponse(sp.GetName(), version)
	if err != nil {
		return nil, s.grpcStatus(err)
	}
	return resp, nil
}

// metadataResponse is a version's GetModelMetadataResponse, for gRPC and
// (as JSON) REST: the SignatureDefs as the SavedModel has them, packed in
// an Any, as TF Serving answers.
func (s *Server) metadataResponse(name string, version int64) (*tfspb.GetModelMetadataResponse, error) {
	v, release, err := s.reg.acquire(name, version)
	if err != nil {
		return nil, err
	}
	defer release()
	sigs := &tfspb.SignatureDefMap{SignatureDef: v.signatureDefs()}
	packed, err := anypb.New(sigs)
	if err != nil {
		return nil, err
	}
	return &tfspb.GetModelMetadataResponse{
		ModelSpec: &tfspb.ModelSpec{Name: name, VersionChoice: &tfspb.ModelSpec_Version{Version: wrapperspb.Int64(v.n)}},
		Metadata:  map[string]*anypb.Any{"signature_def": packed},
	}, nil
}

// signatureDefs returns the SavedModel's signature_def map as its
// saved_model.pb has it; if that cannot be read (a saved_model.pbtxt), one
// made from the signatures the model runs.
func (v *version) signatureDefs() map[string]*corepb.SignatureDef {
	v.defsOnce.Do(func() {
		if defs, err := savedmodels.SignatureDefs(v.dir); err == nil {
			v.defs = defs
			return
		}
		v.defs = map[string]*corepb.SignatureDef{}
		for _, sig := range v.run.signatures() {
			def := &corepb.SignatureDef{Inputs: map[string]*corepb.TensorInfo{}, Outputs: map[string]*corepb.TensorInfo{}, MethodName: sig.Method}
			for _, part := range []struct {
				from []savedmodels.TensorInfo
				to   map[string]*corepb.TensorInfo
			}{{sig.Inputs, def.Inputs}, {sig.Outputs, def.Outputs}} {
				for _, t := range part.from {
					sh := pbShape(t.Shape)
					sh.UnknownRank = t.Shape == nil
					part.to[t.Name] = &corepb.TensorInfo{Encoding: &corepb.TensorInfo_Name{Name: t.Tensor}, Dtype: t.DType.Proto(), TensorShape: sh}
				}
			}
			v.defs[sig.Key] = def
		}
	})
	return v.defs
}

// updateHealth sets every gRPC health service from the models' readiness.
func (s *Server) updateHealth() {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if !s.draining.Load() && s.reg.ready(s.cfg.StrictReadiness) == "" {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.healthMu.Lock()
	defer s.healthMu.Unlock()
	for _, hs := range s.healths {
		hs.SetServingStatus("", st)
		hs.SetServingStatus(tfspb.PredictionService_ServiceDesc.ServiceName, st)
		hs.SetServingStatus(tfspb.ModelService_ServiceDesc.ServiceName, st)
		hs.SetServingStatus(kservepb.GRPCInferenceService_ServiceDesc.ServiceName, st)
	}
}
