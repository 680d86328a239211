// Command service is a small HTTP service in a module of its own that
// serves a SavedModel with gotf, the way a Go team embeds TensorFlow:
//
//	go get github.com/tfgo-project/gotf@v0.1.0
//	go run github.com/tfgo-project/gotf/cmd/gotf setup
//	go build -o service .
//	./service --model path/to/saved_model --addr :8080
//
// POST /predict takes {"rows": [[…], …]}, one row of float32 features (or
// a flattened image) per example, for the model's default signature and
// its one float32 input, and answers {"outputs": {"name": [[…], …]}}.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

func main() {
	dir := flag.String("model", "", "the SavedModel folder")
	addr := flag.String("addr", "127.0.0.1:8080", "the address to listen on")
	flag.Parse()
	m, err := savedmodels.Load(*dir)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	svc, err := newService(m)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving %s on %s (libtensorflow %s)", *dir, *addr, tfwrap.Version())
	log.Fatal(http.ListenAndServe(*addr, svc))
}

type service struct {
	m     *savedmodels.Model
	input savedmodels.TensorInfo
	width int64 // elements per row
}

func newService(m *savedmodels.Model) (*service, error) {
	sig, err := m.Signature(savedmodels.DefaultSignature)
	if err != nil {
		return nil, err
	}
	if len(sig.Inputs) != 1 || sig.Inputs[0].DType != tfwrap.Float32 || len(sig.Inputs[0].Shape) < 2 {
		return nil, errors.New("the default signature must take one float32 input of rank 2 or more")
	}
	in := sig.Inputs[0]
	width := int64(1)
	for _, d := range in.Shape[1:] {
		if d < 0 {
			return nil, fmt.Errorf("input %q has a dimension of any size past the batch: %v", in.Name, in.Shape)
		}
		width *= d
	}
	return &service{m: m, input: in, width: width}, nil
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/predict" || r.Method != http.MethodPost {
		http.Error(w, `{"error": "POST /predict"}`, http.StatusNotFound)
		return
	}
	var req struct{ Rows [][]float32 }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20)).Decode(&req); err != nil || len(req.Rows) == 0 {
		fail(w, fmt.Errorf("the body must be {\"rows\": [[…], …]}: %v", err))
		return
	}
	flat := make([]float32, 0, int64(len(req.Rows))*s.width)
	for i, row := range req.Rows {
		if int64(len(row)) != s.width {
			fail(w, fmt.Errorf("row %d has %d values; the model takes %d", i, len(row), s.width))
			return
		}
		flat = append(flat, row...)
	}
	x, err := tfwrap.NewTensor(flat, append([]int64{int64(len(req.Rows))}, s.input.Shape[1:]...)...)
	if err != nil {
		fail(w, err)
		return
	}
	outs, err := s.m.Predict(savedmodels.DefaultSignature, map[string]*tfwrap.Tensor{s.input.Name: x})
	if err != nil {
		fail(w, err)
		return
	}
	ans := map[string][][]float32{}
	for name, t := range outs {
		v, err := t.Float32s()
		if err != nil {
			fail(w, fmt.Errorf("output %q: %w", name, err))
			return
		}
		per := len(v) / len(req.Rows)
		for i := range req.Rows {
			ans[name] = append(ans[name], v[i*per:(i+1)*per])
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"outputs": ans})
}

func fail(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
