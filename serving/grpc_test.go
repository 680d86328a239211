package serving

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	rhpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/resource_handle_go_proto"
	tensorpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_go_proto"
	shapepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tfgo-project/gotf/internal/procmem"
	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/serving/tfspb"
)

// TestGRPCWithOfficialClient serves a model over gRPC and calls it with TF
// Serving's own Python client (tensorflow-serving-api): Predict,
// GetModelMetadata, and the status codes of bad requests.
func TestGRPCWithOfficialClient(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	m := export(t, base, 1, 5)
	srv, _ := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}})
	addr := listenGRPC(t, srv)
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
	in := map[string]any{"address": addr, "model": "clf", "signature": "serving_default", "input": "inputs",
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
	wire := func(tp *tensorpb.TensorProto) *tensorpb.TensorProto {
		b, err := proto.Marshal(tp)
		if err != nil {
			t.Fatal(err)
		}
		back := &tensorpb.TensorProto{}
		if err := proto.Unmarshal(b, back); err != nil {
			t.Fatal(err)
		}
		return back
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
			x, err := fromProto("x", wire(c.tp))
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
			y, err := fromProto("x", wire(back))
			if err != nil {
				t.Fatal(err)
			}
			again := float64s(t, y)
			same(t, c.name+" round trip", again, c.want)
		})
	}
}

// fromProto decodes a TensorProto as Predict does, without a budget.
func fromProto(name string, tp *tensorpb.TensorProto) (Tensor, error) {
	dt, dims, err := tensorHeader(name, tp)
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

// listenGRPC serves srv over gRPC on a loopback port until the test ends
// and returns the address.
func listenGRPC(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := srv.NewGRPCServer()
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	return ln.Addr().String()
}

// serveGRPC serves srv over gRPC on a loopback port and returns a client
// connection to it; both close when the test ends.
func serveGRPC(t *testing.T, srv *Server) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(listenGRPC(t, srv), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestGRPCStandardServices checks that the standard health service and
// server reflection run beside the PredictionService, and that reflection
// can resolve the PredictionService's descriptors (TF Serving's files and
// the TF bindings' files they import), as grpcurl needs.
func TestGRPCStandardServices(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 5)
	srv, _ := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}})
	conn := serveGRPC(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const service = "tensorflow.serving.PredictionService"

	t.Run("health", func(t *testing.T) {
		h := healthpb.NewHealthClient(conn)
		for _, name := range []string{"", service} {
			resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
			if err != nil {
				t.Fatalf("Check(%q): %v", name, err)
			}
			if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("Check(%q) = %v, want SERVING", name, resp.GetStatus())
			}
		}
		_, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("Check of an unknown service: %v, want NotFound", err)
		}
	})

	t.Run("reflection", func(t *testing.T) { reflectionListsServices(t, ctx, conn, service) })

	t.Run("health follows shutdown", func(t *testing.T) {
		srv.beginShutdown()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("Check while draining: %v %v, want NOT_SERVING", resp.GetStatus(), err)
		}
	})
}

func reflectionListsServices(t *testing.T, ctx context.Context, conn *grpc.ClientConn, service string) {
	t.Helper()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	ask := func(req *reflectionpb.ServerReflectionRequest) *reflectionpb.ServerReflectionResponse {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if e := resp.GetErrorResponse(); e != nil {
			t.Fatalf("reflection error %d: %s", e.GetErrorCode(), e.GetErrorMessage())
		}
		return resp
	}
	list := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
	var names []string
	for _, sv := range list.GetListServicesResponse().GetService() {
		names = append(names, sv.GetName())
	}
	for _, want := range []string{service, "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Fatalf("ListServices = %v, missing %s", names, want)
		}
	}
	files := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: service}})
	if len(files.GetFileDescriptorResponse().GetFileDescriptorProto()) == 0 {
		t.Fatalf("no file descriptor for %s", service)
	}
}

// vmRSS returns the process's resident set size in bytes.
func vmRSS(t *testing.T) int64 {
	t.Helper()
	n, err := procmem.RSS(0)
	if err != nil {
		t.Skipf("no RSS: %v", err)
	}
	return n
}

// TestGRPCBadRequests sends requests the server must refuse with a
// status, not serve: tiny messages that declare huge inputs (refused
// before a single element is allocated, so the process's memory does not
// grow) and model specs it cannot honour.
func TestGRPCBadRequests(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 5)
	srv, _ := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}})
	client := tfspb.NewPredictionServiceClient(serveGRPC(t, srv))
	spec := &tfspb.ModelSpec{Name: "clf"}
	ok := []float32{1, 2, 3, 4}
	dims := func(d ...int64) *shapepb.TensorShapeProto {
		sh := &shapepb.TensorShapeProto{}
		for _, n := range d {
			sh.Dim = append(sh.Dim, &shapepb.TensorShapeProto_Dim{Size: n})
		}
		return sh
	}
	float := func(v []float32, d ...int64) *tensorpb.TensorProto {
		return &tensorpb.TensorProto{Dtype: typespb.DataType_DT_FLOAT, TensorShape: dims(d...), FloatVal: v}
	}
	str := func(d ...int64) *tensorpb.TensorProto {
		return &tensorpb.TensorProto{Dtype: typespb.DataType_DT_STRING, TensorShape: dims(d...), StringVal: [][]byte{[]byte("x")}}
	}

	t.Run("hostile", func(t *testing.T) {
		for _, c := range []struct {
			name string
			in   map[string]*tensorpb.TensorProto
		}{
			{"float [1<<28]", map[string]*tensorpb.TensorProto{"inputs": float([]float32{1}, 1<<28)}},
			{"string [1<<28]", map[string]*tensorpb.TensorProto{"inputs": str(1 << 28)}},
			// Shapes the signature takes, so that only the budget stands
			// between them and 4 GiB.
			{"float [1<<28, 4]", map[string]*tensorpb.TensorProto{"inputs": float([]float32{1}, 1<<28, 4)}},
			{"misnamed string [1<<28]", map[string]*tensorpb.TensorProto{"x": str(1 << 28)}},
		} {
			t.Run(c.name, func(t *testing.T) {
				req := &tfspb.PredictRequest{ModelSpec: spec, Inputs: c.in}
				if n := proto.Size(req); n >= 100 {
					t.Fatalf("the request takes %d bytes; the case wants under 100", n)
				}
				before := vmRSS(t)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				_, err := client.Predict(ctx, req)
				if code := status.Code(err); code != codes.InvalidArgument && code != codes.ResourceExhausted {
					t.Fatalf("got %v, want InvalidArgument or ResourceExhausted", err)
				}
				if grew := vmRSS(t) - before; grew > 50<<20 {
					t.Fatalf("RSS grew by %d MiB answering a %d-byte request", grew>>20, proto.Size(req))
				}
			})
		}
	})

	t.Run("specs", func(t *testing.T) {
		in := map[string]*tensorpb.TensorProto{"inputs": float(ok, 1, 4)}
		for _, c := range []struct {
			name string
			call func(context.Context) error
			code codes.Code
			msg  string
		}{
			{"served", func(ctx context.Context) error {
				_, err := client.Predict(ctx, &tfspb.PredictRequest{ModelSpec: spec, Inputs: in})
				return err
			}, codes.OK, ""},
			{"version label", func(ctx context.Context) error {
				_, err := client.Predict(ctx, &tfspb.PredictRequest{Inputs: in,
					ModelSpec: &tfspb.ModelSpec{Name: "clf", VersionChoice: &tfspb.ModelSpec_VersionLabel{VersionLabel: "stable"}}})
				return err
			}, codes.InvalidArgument, "Unrecognized servable version label: stable"},
			{"no name", func(ctx context.Context) error {
				_, err := client.Predict(ctx, &tfspb.PredictRequest{ModelSpec: &tfspb.ModelSpec{}, Inputs: in})
				return err
			}, codes.InvalidArgument, "model_spec.name is empty"},
			{"no spec", func(ctx context.Context) error {
				_, err := client.Predict(ctx, &tfspb.PredictRequest{Inputs: in})
				return err
			}, codes.InvalidArgument, "model_spec.name is empty"},
			{"missing version", func(ctx context.Context) error {
				_, err := client.Predict(ctx, &tfspb.PredictRequest{Inputs: in,
					ModelSpec: &tfspb.ModelSpec{Name: "clf", VersionChoice: &tfspb.ModelSpec_Version{Version: wrapperspb.Int64(7)}}})
				return err
			}, codes.NotFound, ""},
			{"metadata version label", func(ctx context.Context) error {
				_, err := client.GetModelMetadata(ctx, &tfspb.GetModelMetadataRequest{MetadataField: []string{"signature_def"},
					ModelSpec: &tfspb.ModelSpec{Name: "clf", VersionChoice: &tfspb.ModelSpec_VersionLabel{VersionLabel: "stable"}}})
				return err
			}, codes.InvalidArgument, "Unrecognized servable version label: stable"},
			{"metadata field", func(ctx context.Context) error {
				_, err := client.GetModelMetadata(ctx, &tfspb.GetModelMetadataRequest{ModelSpec: spec, MetadataField: []string{"signature_def", "other"}})
				return err
			}, codes.InvalidArgument, "only signature_def"},
			{"metadata no field", func(ctx context.Context) error {
				_, err := client.GetModelMetadata(ctx, &tfspb.GetModelMetadataRequest{ModelSpec: spec})
				return err
			}, codes.InvalidArgument, "must list signature_def"},
			{"classify on a predict signature", func(ctx context.Context) error {
				_, err := client.Classify(ctx, &tfspb.ClassificationRequest{ModelSpec: spec})
				return err
			}, codes.InvalidArgument, "Expected classification signature method_name to be tensorflow/serving/classify"},
		} {
			t.Run(c.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				err := c.call(ctx)
				if st := status.Convert(err); st.Code() != c.code || !strings.Contains(st.Message(), c.msg) {
					t.Fatalf("got %v, want %v %q", err, c.code, c.msg)
				}
			})
		}
	})
}

// A gRPC message that grows many times over when decoded is refused from
// its wire bytes, before it is decoded (issue 23: 8M empty
// resource_handle_val of 2 bytes each became 879 MB): RESOURCE_EXHAUSTED,
// the shared memory given back, and the next request served.
func TestGRPCExpandingMessageRefused(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 1)
	srv, _ := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, MaxInFlightBytes: 64 << 20})
	client := tfspb.NewPredictionServiceClient(serveGRPC(t, srv))
	handles := make([]*rhpb.ResourceHandleProto, 500_000) // 1 MB on the wire
	for i := range handles {
		handles[i] = &rhpb.ResourceHandleProto{}
	}
	req := &tfspb.PredictRequest{ModelSpec: &tfspb.ModelSpec{Name: "clf"},
		Inputs: map[string]*tensorpb.TensorProto{"inputs": {Dtype: typespb.DataType_DT_RESOURCE, ResourceHandleVal: handles}}}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	_, err := client.Predict(context.Background(), req)
	runtime.ReadMemStats(&m1)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "decoding the request would take") {
		t.Fatalf("got %v, want RESOURCE_EXHAUSTED before decoding", err)
	}
	// The client's own message and its 1 MB encoding, not the ~90 MB the
	// server's decoding would have allocated.
	if d := m1.TotalAlloc - m0.TotalAlloc; d > 48<<20 {
		t.Errorf("the call allocated %d MB in this process", d>>20)
	}
	good := &tfspb.PredictRequest{ModelSpec: &tfspb.ModelSpec{Name: "clf"}, Inputs: map[string]*tensorpb.TensorProto{"inputs": {
		Dtype: typespb.DataType_DT_FLOAT, TensorShape: &shapepb.TensorShapeProto{Dim: []*shapepb.TensorShapeProto_Dim{{Size: 1}, {Size: 4}}},
		FloatVal: []float32{1, 2, 3, 4}}}}
	if _, err := client.Predict(context.Background(), good); err != nil {
		t.Fatalf("a good request after the refused one: %v", err)
	}
	srv.mem.mu.Lock()
	used := srv.mem.used
	srv.mem.mu.Unlock()
	if used != 0 {
		t.Fatalf("%d bytes of the shared memory still held", used)
	}
}

// A client that sends part of a large gRPC message and stalls is cut off
// at the message deadline, and its bytes are let go (issue 23: such
// streams were held 90 s and more). The client speaks raw HTTP/2 to stall
// mid-message, as an attacker would.
func TestGRPCStalledMessageDropped(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 1)
	srv, _ := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := srv.NewGRPCServer(messageDeadline(time.Second)...)
	go g.Serve(ln)
	t.Cleanup(g.Stop)

	// The message prefix says 16 MiB - 1 byte; 16,000 bytes of it follow.
	msg := append([]byte{0, 0, 0xff, 0xff, 0xff}, make([]byte, 16000)...)
	c, fr := rawGRPC(t, ln.Addr().String(), "/tensorflow.serving.PredictionService/Predict", msg, false)
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no end of the stalled stream after %v: %v", time.Since(start), err)
		}
		if f.Header().StreamID != 1 {
			continue
		}
		if _, ok := f.(*http2.RSTStreamFrame); ok {
			break
		}
		if h, ok := f.(*http2.HeadersFrame); ok && h.StreamEnded() {
			break
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the stalled stream ended after %v, want about the 1 s deadline", d)
	}
	// A whole request is served as before, under the same deadline.
	if err := predictOneRow(ln.Addr().String()); err != nil {
		t.Fatalf("a whole request: %v", err)
	}
}
