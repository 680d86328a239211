package serving

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

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

func grpcStatus(err error) error {
	switch codeOf(err) {
	case 400, 413:
		return status.Error(codes.InvalidArgument, err.Error())
	case 404:
		return status.Error(codes.NotFound, err.Error())
	case 429:
		return status.Error(codes.ResourceExhausted, err.Error())
	case 503:
		return status.Error(codes.Unavailable, err.Error())
	case 504:
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if errors.Is(err, context.Canceled) {
		return status.Error(codes.Canceled, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
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
// repeated, as tf.make_tensor_proto writes scalars broadcast).
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

// protoValues reads n elements of T from a TensorProto: its little-endian
// tensor_content when set, else its typed repeated field.
func protoValues[T tfwrap.Elem](name string, content []byte, typed []T, n int64) ([]T, error) {
	if len(content) == 0 {
		return values(name, typed, n)
	}
	out := make([]T, n)
	if used, err := binary.Decode(content, binary.LittleEndian, out); err != nil || used != len(content) {
		return nil, fmt.Errorf("%w: input %q has %d bytes of content for %d elements", restjson.ErrBadRequest, name, len(content), n)
	}
	return out, nil
}

func newTensor[T tfwrap.Elem](v []T, err error, dims []int64) (*tfwrap.Tensor, error) {
	if err != nil {
		return nil, err
	}
	return tfwrap.NewTensor(v, dims...)
}

// tensorFromProto converts and checks one input TensorProto.
func tensorFromProto(name string, raw []byte) (*tfwrap.Tensor, error) {
	tp := &tensorpb.TensorProto{}
	if err := proto.Unmarshal(raw, tp); err != nil {
		return nil, fmt.Errorf("%w: input %q: %v", restjson.ErrBadRequest, name, err)
	}
	dt, ok := pbTypes[tp.Dtype]
	if !ok {
		return nil, fmt.Errorf("%w: input %q has dtype %v, which the server does not take", restjson.ErrBadRequest, name, tp.Dtype)
	}
	sp := tp.GetTensorShape()
	if sp.GetUnknownRank() {
		return nil, fmt.Errorf("%w: input %q has an unknown rank", restjson.ErrBadRequest, name)
	}
	dims := make([]int64, len(sp.GetDim()))
	for i, d := range sp.GetDim() {
		dims[i] = d.Size
	}
	n, err := shape.NumElements(dims)
	if err != nil {
		return nil, fmt.Errorf("%w: input %q: %v", restjson.ErrBadRequest, name, err)
	}
	if n > 1<<28 {
		return nil, fmt.Errorf("%w: input %q has %d elements, more than the server takes", restjson.ErrBadRequest, name, n)
	}
	c := tp.TensorContent
	switch dt {
	case tfwrap.Float32:
		v, err := protoValues(name, c, tp.FloatVal, n)
		return newTensor(v, err, dims)
	case tfwrap.Float64:
		v, err := protoValues(name, c, tp.DoubleVal, n)
		return newTensor(v, err, dims)
	case tfwrap.Int32:
		v, err := protoValues(name, c, tp.IntVal, n)
		return newTensor(v, err, dims)
	case tfwrap.Int64:
		v, err := protoValues(name, c, tp.Int64Val, n)
		return newTensor(v, err, dims)
	case tfwrap.Bool:
		v, err := protoValues(name, c, tp.BoolVal, n)
		return newTensor(v, err, dims)
	case tfwrap.Uint8:
		if len(c) > 0 {
			v, err := protoValues[uint8](name, c, nil, n)
			return newTensor(v, err, dims)
		}
		iv, err := values(name, tp.IntVal, n) // TF keeps uint8 values in int_val
		if err != nil {
			return nil, err
		}
		for _, x := range iv {
			if x < 0 || x > 255 {
				return nil, fmt.Errorf("%w: input %q: %d is out of range for uint8", restjson.ErrBadRequest, name, x)
			}
		}
		return tfwrap.NewTensor(tfwrap.Convert[uint8](iv), dims...)
	default: // String
		sv, err := values(name, tp.StringVal, n)
		if err != nil {
			return nil, err
		}
		strs := make([]string, len(sv))
		for i, b := range sv {
			strs[i] = string(b)
		}
		return tfwrap.NewStrings(strs, dims...)
	}
}

// content encodes a tensor's elements little-endian, as tensor_content.
func content[T tfwrap.Elem](t *tfwrap.Tensor) ([]byte, error) {
	v, err := tfwrap.Values[T](t)
	if err != nil {
		return nil, err
	}
	return binary.Append(nil, binary.LittleEndian, v)
}

// tensorToProto converts one output.
func tensorToProto(t *tfwrap.Tensor) ([]byte, error) {
	tp := &tensorpb.TensorProto{Dtype: pbType(t.DType()), TensorShape: &shapepb.TensorShapeProto{}}
	for _, d := range t.Shape() {
		tp.TensorShape.Dim = append(tp.TensorShape.Dim, &shapepb.TensorShapeProto_Dim{Size: d})
	}
	var err error
	switch t.DType() {
	case tfwrap.Float32:
		tp.TensorContent, err = content[float32](t)
	case tfwrap.Float64:
		tp.TensorContent, err = content[float64](t)
	case tfwrap.Int32:
		tp.TensorContent, err = content[int32](t)
	case tfwrap.Int64:
		tp.TensorContent, err = content[int64](t)
	case tfwrap.Uint8:
		tp.TensorContent, err = content[uint8](t)
	case tfwrap.Bool:
		tp.TensorContent, err = content[bool](t)
	case tfwrap.String:
		var v []string
		v, err = t.Strings()
		for _, x := range v {
			tp.StringVal = append(tp.StringVal, []byte(x))
		}
	default:
		err = fmt.Errorf("an output has an unsupported dtype")
	}
	if err != nil {
		return nil, err
	}
	return proto.Marshal(tp)
}

func (s *Server) grpcPredict(ctx context.Context, in []byte) ([]byte, error) {
	start := time.Now()
	name := "?"
	code := "200"
	defer func() {
		s.m.requests.WithLabelValues(name, "grpc_predict", code).Inc()
		s.m.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}()
	fail := func(err error) ([]byte, error) {
		code = fmt.Sprint(codeOf(err))
		return nil, grpcStatus(err)
	}
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
		return fail(err)
	}
	name = sp.name
	if !s.takeSlot() {
		return fail(errOverloaded(s.cfg.MaxInFlight))
	}
	handedOff := false
	defer func() {
		if !handedOff {
			<-s.slots
		}
	}()
	v, release, err := s.reg.acquire(sp.name, sp.version)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if !handedOff {
			release()
		}
	}()
	key := sp.signature
	if key == "" {
		key = savedmodels.DefaultSignature
	}
	if _, err := v.model.Signature(key); err != nil {
		return fail(err)
	}
	feeds := map[string]*tfwrap.Tensor{}
	for k, b := range raw {
		if feeds[k], err = tensorFromProto(k, b); err != nil {
			return fail(err)
		}
	}
	handedOff = true
	out, err := s.execute(ctx, v, key, feeds, func() { release(); <-s.slots })
	if err != nil {
		return fail(err)
	}
	keep := map[string]bool{}
	for _, f := range filter {
		if _, ok := out[f]; !ok {
			return fail(fmt.Errorf("%w: output_filter names %q, which signature %q lacks", restjson.ErrBadRequest, f, key))
		}
		keep[f] = true
	}
	var resp []byte
	for _, k := range sortedKeys(out) {
		if len(keep) > 0 && !keep[k] {
			continue
		}
		b, err := tensorToProto(out[k])
		if err != nil {
			return fail(err)
		}
		resp = appendEntry(resp, 1, k, b)
	}
	resp = appendSpec(resp, 2, modelSpec{name: sp.name, version: v.n, signature: key})
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
		return nil, grpcStatus(err)
	}
	if !wantSigs {
		return nil, grpcStatus(fmt.Errorf("%w: metadata_field must list signature_def", restjson.ErrBadRequest))
	}
	v, release, err := s.reg.acquire(sp.name, sp.version)
	if err != nil {
		return nil, grpcStatus(err)
	}
	defer release()
	var sigMap []byte
	for _, sig := range v.model.Signatures() {
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
			return nil, grpcStatus(err)
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
