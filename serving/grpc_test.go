package serving

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
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
