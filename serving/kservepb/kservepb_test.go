package kservepb_test

import (
	"encoding/base64"
	"encoding/json"
	"os/exec"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/serving/kservepb"
)

// TestDescriptorsMatchWheel checks that the generated files carry exactly
// the descriptors of the tritonclient wheel (json_name aside, which protoc
// fills in): same messages, field numbers and types, services and methods,
// so the wire format is the official client's.
func TestDescriptorsMatchWheel(t *testing.T) {
	py, err := pyref.Python()
	if err != nil {
		t.Skip(err)
	}
	out, err := exec.Command(py, "testdata/descriptors.py").Output()
	if err != nil {
		t.Fatalf("testdata/descriptors.py: %v", err)
	}
	var wheel map[string]string
	if err := json.Unmarshal(out, &wheel); err != nil {
		t.Fatal(err)
	}
	files := map[string]protoreflect.FileDescriptor{
		"grpc_service.proto": kservepb.File_grpc_service_proto,
		"model_config.proto": kservepb.File_model_config_proto,
	}
	if len(wheel) != len(files) {
		t.Fatalf("the wheel has %d files, kservepb %d", len(wheel), len(files))
	}
	for path, fd := range files {
		raw, err := base64.StdEncoding.DecodeString(wheel[path])
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		want := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(raw, want); err != nil {
			t.Fatal(err)
		}
		got := protodesc.ToFileDescriptorProto(fd)
		for _, f := range []*descriptorpb.FileDescriptorProto{want, got} {
			clearJSONNames(f.GetMessageType())
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s: kservepb's descriptor differs from the wheel's; run scripts/gen_kserve_proto.sh", path)
		}
	}
}

func clearJSONNames(ms []*descriptorpb.DescriptorProto) {
	for _, m := range ms {
		for _, f := range m.GetField() {
			f.JsonName = nil
		}
		clearJSONNames(m.GetNestedType())
	}
}

// TestService checks the service's wire name and the methods the server
// implements: a client calls /inference.GRPCInferenceService/ModelInfer.
func TestService(t *testing.T) {
	d := kservepb.GRPCInferenceService_ServiceDesc
	if d.ServiceName != "inference.GRPCInferenceService" {
		t.Errorf("service name %q", d.ServiceName)
	}
	var got []string
	for _, m := range d.Methods[:6] {
		got = append(got, m.MethodName)
	}
	want := []string{"ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("methods %v, want %v first", got, want)
	}
	if kservepb.GRPCInferenceService_ModelInfer_FullMethodName != "/inference.GRPCInferenceService/ModelInfer" {
		t.Errorf("ModelInfer's full method name is %q", kservepb.GRPCInferenceService_ModelInfer_FullMethodName)
	}
}
