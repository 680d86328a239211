package tfspb_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"reflect"
	"testing"

	// The TF bindings that serving links, with every .proto they register:
	// a path or name registered twice would panic before any test runs.
	_ "github.com/galeone/tensorflow/tensorflow/go"
	tensorpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_go_proto"
	shapepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/serving/tfspb"
	"github.com/tfgo-project/gotf/serving/tfspb/examplepb"
)

// wireSpec, wireTensor and wirePredict are the JSON that
// testdata/predict_wire.py reads and writes: the fields of a ModelSpec, a
// float TensorProto and a PredictRequest or PredictResponse.
type wireSpec struct {
	Name          string `json:"name"`
	Version       *int64 `json:"version,omitempty"`
	SignatureName string `json:"signature_name"`
}

type wireTensor struct {
	DType    int32     `json:"dtype"`
	Shape    []int64   `json:"shape"`
	FloatVal []float32 `json:"float_val"`
}

type wirePredict struct {
	ModelSpec    wireSpec              `json:"model_spec"`
	Inputs       map[string]wireTensor `json:"inputs,omitempty"`
	Outputs      map[string]wireTensor `json:"outputs,omitempty"`
	OutputFilter []string              `json:"output_filter,omitempty"`
}

func specJSON(s *tfspb.ModelSpec) wireSpec {
	w := wireSpec{Name: s.GetName(), SignatureName: s.GetSignatureName()}
	if v := s.GetVersion(); v != nil {
		n := v.GetValue()
		w.Version = &n
	}
	return w
}

func tensorsJSON(m map[string]*tensorpb.TensorProto) map[string]wireTensor {
	out := make(map[string]wireTensor, len(m))
	for k, t := range m {
		w := wireTensor{DType: int32(t.GetDtype()), FloatVal: t.GetFloatVal()}
		for _, d := range t.GetTensorShape().GetDim() {
			w.Shape = append(w.Shape, d.GetSize())
		}
		out[k] = w
	}
	return out
}

func floatTensor(shape []int64, vals ...float32) *tensorpb.TensorProto {
	s := &shapepb.TensorShapeProto{}
	for _, n := range shape {
		s.Dim = append(s.Dim, &shapepb.TensorShapeProto_Dim{Size: n})
	}
	return &tensorpb.TensorProto{Dtype: typespb.DataType_DT_FLOAT, TensorShape: s, FloatVal: vals}
}

// unknownFields counts the fields, at any depth, that m's Go type did not
// know when it was parsed.
func unknownFields(m protoreflect.Message) int {
	n := len(m.GetUnknown())
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, e protoreflect.Value) bool {
					n += unknownFields(e.Message())
					return true
				})
			}
		case fd.Message() == nil:
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				n += unknownFields(v.List().Get(i).Message())
			}
		default:
			n += unknownFields(v.Message())
		}
		return true
	})
	return n
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPredictWireMatchesTFServing marshals a PredictRequest with the
// generated Go types and has TF Serving's own Python predict_pb2 parse it,
// then parses a PredictResponse that predict_pb2 marshalled: both sides must
// see the same fields and no unknown ones.
func TestPredictWireMatchesTFServing(t *testing.T) {
	py, err := pyref.Python()
	if err == nil {
		_, err = os.Stat(py)
	}
	if err != nil {
		t.Skipf("no reference Python: %v", err)
	}

	req := &tfspb.PredictRequest{
		ModelSpec: &tfspb.ModelSpec{
			Name:          "mnist",
			VersionChoice: &tfspb.ModelSpec_Version{Version: wrapperspb.Int64(3)},
			SignatureName: "serving_default",
		},
		Inputs:       map[string]*tensorpb.TensorProto{"x": floatTensor([]int64{1, 3}, 1.5, -2, 0.25)},
		OutputFilter: []string{"scores"},
	}
	reqBytes, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	version := int64(7)
	wantResp := wirePredict{
		ModelSpec: wireSpec{Name: "clf", Version: &version, SignatureName: "predict"},
		Outputs: map[string]wireTensor{
			"scores": {DType: int32(typespb.DataType_DT_FLOAT), Shape: []int64{2, 2}, FloatVal: []float32{0.1, 0.9, 0.75, 0.25}},
		},
	}

	in, err := json.Marshal(map[string]any{"request": base64.StdEncoding.EncodeToString(reqBytes), "response": wantResp})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "testdata/predict_wire.py")
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=3", "CUDA_VISIBLE_DEVICES=-1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("predict_wire.py: %v\n%s", err, stderr.String())
	}
	var out struct {
		Request       wirePredict `json:"request"`
		UnknownFields int         `json:"unknown_fields"`
		Response      string      `json:"response"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("predict_wire.py: %v\n%s", err, stdout.String())
	}

	t.Run("PredictRequest Go to Python", func(t *testing.T) {
		want := wirePredict{ModelSpec: specJSON(req.ModelSpec), Inputs: tensorsJSON(req.Inputs), OutputFilter: req.OutputFilter}
		if *want.ModelSpec.Version != 3 || len(want.Inputs["x"].FloatVal) != 3 {
			t.Fatalf("the Go request lost fields before marshalling: %s", jsonString(t, want))
		}
		if !reflect.DeepEqual(out.Request, want) {
			t.Errorf("Python parsed\n%s\nGo sent\n%s", jsonString(t, out.Request), jsonString(t, want))
		}
		if out.UnknownFields != 0 {
			t.Errorf("Python saw %d unknown fields", out.UnknownFields)
		}
	})

	t.Run("PredictResponse Python to Go", func(t *testing.T) {
		b, err := base64.StdEncoding.DecodeString(out.Response)
		if err != nil {
			t.Fatal(err)
		}
		var resp tfspb.PredictResponse
		if err := proto.Unmarshal(b, &resp); err != nil {
			t.Fatal(err)
		}
		got := wirePredict{ModelSpec: specJSON(resp.ModelSpec), Outputs: tensorsJSON(resp.Outputs)}
		if !reflect.DeepEqual(got, wantResp) {
			t.Errorf("Go parsed\n%s\nPython sent\n%s", jsonString(t, got), jsonString(t, wantResp))
		}
		if n := unknownFields(resp.ProtoReflect()); n != 0 {
			t.Errorf("Go saw %d unknown fields", n)
		}
	})
}

// TestServices checks the generated gRPC services against TF Serving's names:
// a client calls /tensorflow.serving.PredictionService/Predict, so a wrong
// package or method name is a wire break.
func TestServices(t *testing.T) {
	tests := []struct {
		desc    *grpc.ServiceDesc
		name    protoreflect.FullName
		methods []string
	}{
		{&tfspb.PredictionService_ServiceDesc, "tensorflow.serving.PredictionService",
			[]string{"Classify", "Regress", "Predict", "MultiInference", "GetModelMetadata"}},
		{&tfspb.ModelService_ServiceDesc, "tensorflow.serving.ModelService",
			[]string{"GetModelStatus", "HandleReloadConfigRequest"}},
		{&tfspb.SessionService_ServiceDesc, "tensorflow.serving.SessionService",
			[]string{"SessionRun"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.name), func(t *testing.T) {
			if tt.desc.ServiceName != string(tt.name) {
				t.Errorf("ServiceDesc.ServiceName = %q", tt.desc.ServiceName)
			}
			var got []string
			for _, m := range tt.desc.Methods {
				got = append(got, m.MethodName)
			}
			if !reflect.DeepEqual(got, tt.methods) || len(tt.desc.Streams) != 0 {
				t.Errorf("ServiceDesc methods %v, streams %d; want %v and none", got, len(tt.desc.Streams), tt.methods)
			}
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			sd, ok := d.(protoreflect.ServiceDescriptor)
			if !ok {
				t.Fatalf("%s is a %T", tt.name, d)
			}
			got = got[:0]
			for i := 0; i < sd.Methods().Len(); i++ {
				got = append(got, string(sd.Methods().Get(i).Name()))
			}
			if !reflect.DeepEqual(got, tt.methods) {
				t.Errorf("registered methods %v, want %v", got, tt.methods)
			}
		})
	}
	if tfspb.PredictionService_Predict_FullMethodName != "/tensorflow.serving.PredictionService/Predict" {
		t.Errorf("Predict's full method name is %q", tfspb.PredictionService_Predict_FullMethodName)
	}
}

// TestRegistry checks that each generated file resolves against the global
// registry the TF bindings fill: every type a serving file names (TensorProto,
// SignatureDef, tensorflow.error.Code, ...) is found where the file imports it.
func TestRegistry(t *testing.T) {
	var files []protoreflect.FileDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("tensorflow.serving", func(fd protoreflect.FileDescriptor) bool {
		files = append(files, fd)
		return true
	})
	for _, path := range []string{"tensorflow/core/example/example.proto", "tensorflow/core/example/feature.proto"} {
		fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		files = append(files, fd)
	}
	if len(files) != 21 {
		t.Errorf("%d files registered, want 19 of tensorflow.serving and 2 of tensorflow/core/example", len(files))
	}
	for _, fd := range files {
		if _, err := protodesc.NewFile(protodesc.ToFileDescriptorProto(fd), protoregistry.GlobalFiles); err != nil {
			t.Errorf("%s does not resolve: %v", fd.Path(), err)
		}
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName("tensorflow.Example")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mt.New().Interface().(*examplepb.Example); !ok {
		t.Errorf("tensorflow.Example is registered as %T", mt.New().Interface())
	}
}
