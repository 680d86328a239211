package serving_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/serving"
)

// Example embeds the server: a model exported from Go in TF Serving's
// layout, served over TF Serving's REST API. (A program using the default
// process isolation calls serving.RunWorkerIfChild first thing in main and
// serves with Server.Serve.)
func Example() {
	dir, _ := os.MkdirTemp("", "serving-example")
	defer os.RemoveAll(dir)
	m, _ := models.NewSequential([]int64{4}, layers.Dense(3, layers.WithActivation(layers.Softmax)))
	m.Compile(models.CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.SGD(0.1), Seed: 1})
	defer m.Close()
	if err := m.Export(filepath.Join(dir, "iris", "1")); err != nil {
		fmt.Println(err)
		return
	}

	srv, err := serving.New(serving.Config{
		Models:    []serving.ModelConfig{{Name: "iris", BasePath: filepath.Join(dir, "iris")}},
		Isolation: serving.IsolationNone,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()

	resp, err := http.Post(hs.URL+"/v1/models/iris:predict", "application/json",
		strings.NewReader(`{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var out struct{ Predictions [][]float64 }
	json.NewDecoder(resp.Body).Decode(&out)
	fmt.Println(resp.Status, len(out.Predictions), "rows of", len(out.Predictions[0]), "class probabilities")

	bad, _ := http.Post(hs.URL+"/v1/models/iris:predict", "application/json", strings.NewReader(`{"instances": [[1, 2]]}`))
	msg, _ := io.ReadAll(bad.Body)
	bad.Body.Close()
	fmt.Println(bad.Status, strings.TrimSpace(string(msg)))
	// Output:
	// 200 OK 2 rows of 3 class probabilities
	// 400 Bad Request {"error":"bad request: input \"inputs\" has shape [1 2]: dimension 1 is 2, the signature wants 4 (shape [-1 4])"}
}
