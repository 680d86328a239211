package serving

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	tensorpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_go_proto"
	shapepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/serving/restjson"
)

// TestGRPCWithOfficialClient serves a model over gRPC and calls it with TF
// Serving's own Python client (tensorflow-serving-api): Predict,
// GetModelMetadata, and the status codes of bad requests.
func TestGRPCWithOfficialClient(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	m := export(t, base, 1, 5)
	srv, _ := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := srv.NewGRPCServer()
	go g.Serve(ln)
	defer g.Stop()
	rows := [][]float32{{1, 2, 3, 4}, {0.5, -1, 2, 0}}
	var ref struct {
		Outputs map[string]struct {
			Shape []int64   `json:"shape"`
			Data  []float64 `json:"data"`
		} `json:"outputs"`
		Version    int64 `json:"version"`
		Signatures map[string]struct {
			Inputs  map[string][]int64 `json:"inputs"`
			Outputs []string           `json:"outputs"`
		} `json:"signatures"`
		Errors map[string]string `json:"errors"`
	}
	in := map[string]any{"address": ln.Addr().String(), "model": "clf", "signature": "serving_default", "input": "inputs",
		"x": map[string]any{"shape": []int{2, 4}, "data": []float32{1, 2, 3, 4, 0.5, -1, 2, 0}}}
	if err := pyref.Run("grpc_client.py", in, &ref); err != nil {
		t.Fatal(err)
	}
	out, ok := ref.Outputs["outputs"]
	if !ok || len(out.Shape) != 2 || out.Shape[0] != 2 || out.Shape[1] != 3 {
		t.Fatalf("outputs %+v", ref.Outputs)
	}
	same(t, "gRPC predictions", out.Data, predictions(t, m, rows))
	if ref.Version != 1 {
		t.Fatalf("version %d", ref.Version)
	}
	sig := ref.Signatures["serving_default"]
	if len(sig.Inputs["inputs"]) != 2 || sig.Inputs["inputs"][1] != 4 || len(sig.Outputs) != 1 {
		t.Fatalf("metadata %+v", ref.Signatures)
	}
	want := map[string]string{"unknown_model": "NOT_FOUND", "misspelt_input": "INVALID_ARGUMENT", "wrong_shape": "INVALID_ARGUMENT", "wrong_dtype": "INVALID_ARGUMENT"}
	for k, v := range want {
		if ref.Errors[k] != v {
			t.Fatalf("%s: got %s, want %s", k, ref.Errors[k], v)
		}
	}
}

// TestTensorFromProto covers the encodings the Python client does not use:
// typed repeated fields, one value broadcast, uint8 in int_val, and bad
// content sizes.
func TestTensorFromProto(t *testing.T) {
	dims := &shapepb.TensorShapeProto{Dim: []*shapepb.TensorShapeProto_Dim{{Size: 2}, {Size: 2}}}
	enc := func(tp *tensorpb.TensorProto) []byte {
		b, err := proto.Marshal(tp)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name string
		tp   *tensorpb.TensorProto
		want []float64
		err  string
	}{
		{"float_val", &tensorpb.TensorProto{Dtype: typespb.DataType_DT_FLOAT, TensorShape: dims, FloatVal: []float32{1, 2, 3, 4}}, []float64{1, 2, 3, 4}, ""},
		{"broadcast", &tensorpb.TensorProto{Dtype: typespb.DataType_DT_INT64, TensorShape: dims, Int64Val: []int64{7}}, []float64{7, 7, 7, 7}, ""},
		{"uint8 int_val", &tensorpb.TensorProto{Dtype: typespb.DataType_DT_UINT8, TensorShape: dims, IntVal: []int32{0, 1, 254, 255}}, []float64{0, 1, 254, 255}, ""},
		{"bool content", &tensorpb.TensorProto{Dtype: typespb.DataType_DT_BOOL, TensorShape: dims, TensorContent: []byte{1, 0, 0, 1}}, []float64{1, 0, 0, 1}, ""},
		{"uint8 range", &tensorpb.TensorProto{Dtype: typespb.DataType_DT_UINT8, TensorShape: dims, IntVal: []int32{0, 1, 2, 256}}, nil, "out of range for uint8"},
		{"short content", &tensorpb.TensorProto{Dtype: typespb.DataType_DT_FLOAT, TensorShape: dims, TensorContent: make([]byte, 12)}, nil, "12 bytes of content for 4 elements"},
		{"long content", &tensorpb.TensorProto{Dtype: typespb.DataType_DT_INT32, TensorShape: dims, TensorContent: make([]byte, 20)}, nil, "20 bytes of content"},
		{"too few values", &tensorpb.TensorProto{Dtype: typespb.DataType_DT_DOUBLE, TensorShape: dims, DoubleVal: []float64{1, 2}}, nil, "2 values for 4 elements"},
		{"negative dim", &tensorpb.TensorProto{Dtype: typespb.DataType_DT_FLOAT, TensorShape: &shapepb.TensorShapeProto{Dim: []*shapepb.TensorShapeProto_Dim{{Size: -2}}}}, nil, "negative"},
		{"unknown rank", &tensorpb.TensorProto{Dtype: typespb.DataType_DT_FLOAT, TensorShape: &shapepb.TensorShapeProto{UnknownRank: true}}, nil, "unknown rank"},
		{"dtype", &tensorpb.TensorProto{Dtype: typespb.DataType_DT_HALF, TensorShape: dims}, nil, "does not take"},
	} {
		t.Run(c.name, func(t *testing.T) {
			x, err := fromProto("x", enc(c.tp))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, restjson.ErrBadRequest) {
					t.Fatalf("got %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := float64s(t, x)
			same(t, c.name, got, c.want)
			back, err := tensorToProto(x)
			if err != nil {
				t.Fatal(err)
			}
			y, err := fromProto("x", back)
			if err != nil {
				t.Fatal(err)
			}
			again := float64s(t, y)
			same(t, c.name+" round trip", again, c.want)
		})
	}
}

// fromProto decodes a TensorProto as grpcPredict does, without a budget.
func fromProto(name string, raw []byte) (Tensor, error) {
	tp, dt, dims, err := protoHeader(name, raw)
	if err != nil {
		return Tensor{}, err
	}
	return tensorFromProto(name, tp, dt, dims)
}

func float64s(t *testing.T, x Tensor) []float64 {
	t.Helper()
	tt, err := x.toTF()
	if err != nil {
		t.Fatal(err)
	}
	v, err := tt.Float64sAny()
	if err != nil {
		t.Fatal(err)
	}
	return v
}
