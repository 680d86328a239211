package serving

import (
	"context"
	"encoding/binary"
	"fmt"

	tensorpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_go_proto"
	shapepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// The gRPC side implements TF Serving's tensorflow.serving.PredictionService
// (Predict and GetModelMetadata) so that the official tensorflow-serving-api
// client works unchanged. TF Serving's request and response messages have
// no Go package here, so they are read and written field by field with
// protowire, following TF Serving's .proto field numbers; tensors use the
// TensorProto type the TF bindings ship.

// rawCodec hands message bytes to the handlers untouched.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// NewGRPCServer returns a gRPC server with the PredictionService of s.
func (s *Server) NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.ForceServerCodec(rawCodec{}), grpc.MaxRecvMsgSize(int(s.cfg.MaxBodyBytes)))
	g := grpc.NewServer(opts...)
	handler := func(f func(context.Context, []byte) ([]byte, error)) grpc.MethodHandler {
		return func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			var in []byte
			if err := dec(&in); err != nil {
				return nil, err
			}
			out, err := f(ctx, in)
			if err != nil {
				return nil, err
			}
			return &out, nil
		}
	}
	g.RegisterService(&grpc.ServiceDesc{
		ServiceName: "tensorflow.serving.PredictionService",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Predict", Handler: handler(s.grpcPredict)},
			{MethodName: "GetModelMetadata", Handler: handler(s.grpcMetadata)},
		},
		Metadata: "tensorflow_serving/apis/prediction_service.proto",
	}, s)
	return g
}

type modelSpec struct {
	name      string
	version   int64
	signature string
}

// grpcStatus maps an error to a gRPC status, as codeOf to HTTP, with its
// message scrubbed of file-system paths.
func (s *Server) grpcStatus(err error) error {
	msg := s.reg.scrub(err.Error())
	switch codeOf(err) {
	case 400:
		return status.Error(codes.InvalidArgument, msg)
	case 413:
		return status.Error(codes.ResourceExhausted, msg)
	case 403:
		return status.Error(codes.PermissionDenied, msg)
	case 404:
		return status.Error(codes.NotFound, msg)
	case 429:
		return status.Error(codes.ResourceExhausted, msg)
	case 499:
		return status.Error(codes.Canceled, msg)
	case 503:
		return status.Error(codes.Unavailable, msg)
	case 504:
		return status.Error(codes.DeadlineExceeded, msg)
	}
	return status.Error(codes.Internal, msg)
}

var errProto = fmt.Errorf("%w: malformed protobuf", restjson.ErrBadRequest)

// fields walks a message's fields.
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errProto
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errProto
		}
		b = b[n:]
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

func parseSpec(b []byte) (modelSpec, error) {
	var sp modelSpec
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			sp.name = string(v)
		case num == 2 && typ == protowire.BytesType: // google.protobuf.Int64Value
			return fields(v, func(n protowire.Number, t protowire.Type, _ []byte, x uint64) error {
				if n == 1 && t == protowire.VarintType {
					sp.version = int64(x)
				}
				return nil
			})
		case num == 3 && typ == protowire.BytesType:
			sp.signature = string(v)
		case num == 4:
			return fmt.Errorf("%w: version labels are not supported", restjson.ErrBadRequest)
		}
		return nil
	})
	if err == nil && sp.name == "" {
		err = fmt.Errorf("%w: model_spec.name is empty", restjson.ErrBadRequest)
	}
	return sp, err
}

func appendSpec(b []byte, num protowire.Number, sp modelSpec) []byte {
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.BytesType)
	m = protowire.AppendString(m, sp.name)
	var ver []byte
	ver = protowire.AppendTag(ver, 1, protowire.VarintType)
	ver = protowire.AppendVarint(ver, uint64(sp.version))
	m = protowire.AppendTag(m, 2, protowire.BytesType)
	m = protowire.AppendBytes(m, ver)
	m = protowire.AppendTag(m, 3, protowire.BytesType)
	m = protowire.AppendString(m, sp.signature)
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// mapEntry reads a map<string, bytes> entry.
func mapEntry(b []byte) (string, []byte, error) {
	var key string
	var val []byte
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ == protowire.BytesType && num == 1 {
			key = string(v)
		} else if typ == protowire.BytesType && num == 2 {
			val = v
		}
		return nil
	})
	return key, val, err
}

func appendEntry(b []byte, num protowire.Number, key string, val []byte) []byte {
	var e []byte
	e = protowire.AppendTag(e, 1, protowire.BytesType)
	e = protowire.AppendString(e, key)
	e = protowire.AppendTag(e, 2, protowire.BytesType)
	e = protowire.AppendBytes(e, val)
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, e)
}

var pbTypes = map[typespb.DataType]tfwrap.DType{
	typespb.DataType_DT_FLOAT: tfwrap.Float32, typespb.DataType_DT_DOUBLE: tfwrap.Float64,
	typespb.DataType_DT_INT32: tfwrap.Int32, typespb.DataType_DT_INT64: tfwrap.Int64,
	typespb.DataType_DT_UINT8: tfwrap.Uint8, typespb.DataType_DT_BOOL: tfwrap.Bool,
	typespb.DataType_DT_STRING: tfwrap.String,
}

func pbType(dt tfwrap.DType) typespb.DataType {
	for k, v := range pbTypes {
		if v == dt {
			return k
		}
	}
	return typespb.DataType_DT_INVALID
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

// protoHeader reads an input TensorProto's dtype and shape: what the
// budget checks before any element is materialised.
func protoHeader(name string, raw []byte) (*tensorpb.TensorProto, tfwrap.DType, []int64, error) {
	tp := &tensorpb.TensorProto{}
	if err := proto.Unmarshal(raw, tp); err != nil {
		return nil, 0, nil, fmt.Errorf("%w: input %q: %v", restjson.ErrBadRequest, name, err)
	}
	dt, ok := pbTypes[tp.Dtype]
	if !ok {
		return nil, 0, nil, fmt.Errorf("%w: input %q has dtype %v, which the server does not take", restjson.ErrBadRequest, name, tp.Dtype)
	}
	sp := tp.GetTensorShape()
	if sp.GetUnknownRank() {
		return nil, 0, nil, fmt.Errorf("%w: input %q has an unknown rank", restjson.ErrBadRequest, name)
	}
	if len(sp.GetDim()) > maxRank {
		return nil, 0, nil, fmt.Errorf("%w: input %q has rank %d", restjson.ErrBadRequest, name, len(sp.GetDim()))
	}
	dims := make([]int64, len(sp.GetDim()))
	for i, d := range sp.GetDim() {
		dims[i] = d.Size
	}
	return tp, dt, dims, nil
}

// tensorFromProto materialises an input whose header has been admitted.
func tensorFromProto(name string, tp *tensorpb.TensorProto, dt tfwrap.DType, dims []int64) (Tensor, error) {
	n, err := shape.NumElements(dims)
	if err != nil {
		return Tensor{}, fmt.Errorf("%w: input %q: %v", restjson.ErrBadRequest, name, err)
	}
	t := Tensor{DType: dt, Shape: dims}
	c := tp.TensorContent
	switch dt {
	case tfwrap.Float32:
		t.Data, err = protoBytes(name, c, tp.FloatVal, n)
	case tfwrap.Float64:
		t.Data, err = protoBytes(name, c, tp.DoubleVal, n)
	case tfwrap.Int32:
		t.Data, err = protoBytes(name, c, tp.IntVal, n)
	case tfwrap.Int64:
		t.Data, err = protoBytes(name, c, tp.Int64Val, n)
	case tfwrap.Bool:
		t.Data, err = protoBytes(name, c, tp.BoolVal, n)
	case tfwrap.Uint8:
		if len(c) > 0 {
			t.Data, err = protoBytes[uint8](name, c, nil, n)
			break
		}
		var iv []int32
		if iv, err = values(name, tp.IntVal, n); err != nil { // TF keeps uint8 values in int_val
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
		if sv, err = values(name, tp.StringVal, n); err != nil {
			break
		}
		t.Strings = make([]string, len(sv))
		for i, b := range sv {
			t.Strings[i] = string(b)
		}
	}
	return t, err
}

// tensorToProto converts one output.
func tensorToProto(t Tensor) ([]byte, error) {
	tp := &tensorpb.TensorProto{Dtype: pbType(t.DType), TensorShape: &shapepb.TensorShapeProto{}}
	for _, d := range t.Shape {
		tp.TensorShape.Dim = append(tp.TensorShape.Dim, &shapepb.TensorShapeProto_Dim{Size: d})
	}
	switch {
	case t.DType == tfwrap.String:
		for _, x := range t.Strings {
			tp.StringVal = append(tp.StringVal, []byte(x))
		}
	case t.DType.ByteSize() > 0:
		tp.TensorContent = t.Data
	default:
		return nil, fmt.Errorf("an output has an unsupported dtype")
	}
	return proto.Marshal(tp)
}

func (s *Server) grpcPredict(ctx context.Context, in []byte) ([]byte, error) {
	var sp modelSpec
	raw := map[string][]byte{}
	var filter []string
	err := fields(in, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			var err error
			sp, err = parseSpec(v)
			return err
		case 2:
			k, val, err := mapEntry(v)
			if err != nil {
				return err
			}
			if _, dup := raw[k]; dup {
				return fmt.Errorf("%w: input %q appears twice", restjson.ErrBadRequest, k)
			}
			raw[k] = val
		case 3:
			filter = append(filter, string(v))
		}
		return nil
	})
	if err != nil {
		return nil, s.grpcStatus(err)
	}
	res, err := s.predict(ctx, &predictCall{
		api: "grpc_predict", model: sp.name, version: sp.version, signature: sp.signature, filter: filter,
		decode: func(sig *savedmodels.Signature, b *budget) (map[string]Tensor, error) {
			type header struct {
				tp   *tensorpb.TensorProto
				dt   tfwrap.DType
				dims []int64
			}
			hs := make(map[string]header, len(raw))
			for _, k := range sortedKeys(raw) {
				tp, dt, dims, err := protoHeader(k, raw[k])
				if err != nil {
					return nil, err
				}
				if err := b.admit(sig, k, dt, dims); err != nil {
					return nil, err
				}
				hs[k] = header{tp, dt, dims}
			}
			out := make(map[string]Tensor, len(hs))
			for k, h := range hs {
				t, err := tensorFromProto(k, h.tp, h.dt, h.dims)
				if err != nil {
					return nil, err
				}
				out[k] = t
			}
			return out, nil
		},
	})
	if err != nil {
		return nil, s.grpcStatus(err)
	}
	var resp []byte
	for _, k := range sortedKeys(res.outputs) {
		b, err := tensorToProto(res.outputs[k])
		if err != nil {
			return nil, s.grpcStatus(err)
		}
		resp = appendEntry(resp, 1, k, b)
	}
	resp = appendSpec(resp, 2, modelSpec{name: sp.name, version: res.version, signature: res.signature})
	return resp, nil
}

func (s *Server) grpcMetadata(ctx context.Context, in []byte) ([]byte, error) {
	var sp modelSpec
	var wantSigs bool
	err := fields(in, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			var err error
			sp, err = parseSpec(v)
			return err
		case num == 2 && typ == protowire.BytesType:
			if string(v) != "signature_def" {
				return fmt.Errorf("%w: metadata field %q is not supported (only signature_def)", restjson.ErrBadRequest, v)
			}
			wantSigs = true
		}
		return nil
	})
	if err != nil {
		return nil, s.grpcStatus(err)
	}
	if !wantSigs {
		return nil, s.grpcStatus(fmt.Errorf("%w: metadata_field must list signature_def", restjson.ErrBadRequest))
	}
	v, release, err := s.reg.acquire(sp.name, sp.version)
	if err != nil {
		return nil, s.grpcStatus(err)
	}
	defer release()
	var sigMap []byte
	for _, sig := range v.run.signatures() {
		def := &corepb.SignatureDef{Inputs: map[string]*corepb.TensorInfo{}, Outputs: map[string]*corepb.TensorInfo{}, MethodName: sig.Method}
		for _, part := range []struct {
			from []savedmodels.TensorInfo
			to   map[string]*corepb.TensorInfo
		}{{sig.Inputs, def.Inputs}, {sig.Outputs, def.Outputs}} {
			for _, t := range part.from {
				ti := &corepb.TensorInfo{Encoding: &corepb.TensorInfo_Name{Name: t.Name}, Dtype: pbType(t.DType)}
				sh := &shapepb.TensorShapeProto{UnknownRank: t.Shape == nil}
				for _, d := range t.Shape {
					sh.Dim = append(sh.Dim, &shapepb.TensorShapeProto_Dim{Size: d})
				}
				ti.TensorShape = sh
				part.to[t.Name] = ti
			}
		}
		b, err := proto.Marshal(def)
		if err != nil {
			return nil, s.grpcStatus(err)
		}
		sigMap = appendEntry(sigMap, 1, sig.Key, b)
	}
	var anyMsg []byte
	anyMsg = protowire.AppendTag(anyMsg, 1, protowire.BytesType)
	anyMsg = protowire.AppendString(anyMsg, "type.googleapis.com/tensorflow.serving.SignatureDefMap")
	anyMsg = protowire.AppendTag(anyMsg, 2, protowire.BytesType)
	anyMsg = protowire.AppendBytes(anyMsg, sigMap)
	resp := appendSpec(nil, 1, modelSpec{name: sp.name, version: v.n})
	resp = appendEntry(resp, 2, "signature_def", anyMsg)
	return resp, nil
}
