package models

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
)

// TestModelsMatchKeras checks the course's models layer by layer against
// the same models built by Keras: names, types, output shapes, parameter
// counts, and that Summary prints them.
func TestModelsMatchKeras(t *testing.T) {
	var ref map[string]struct {
		Layers []struct {
			Name   string  `json:"name"`
			Type   string  `json:"type"`
			Shape  []int64 `json:"shape"`
			Params int64   `json:"params"`
		} `json:"layers"`
		Total int64 `json:"total"`
	}
	if err := pyref.Run("keras_summary.py", nil, &ref); err != nil {
		t.Fatal(err)
	}
	build := map[string]func() (*Sequential, error){
		"perceptron": func() (*Sequential, error) { return Classifier(784, 10) },
		"mlp":        MLP, "cnn": CNN,
	}
	for name, f := range build {
		t.Run(name, func(t *testing.T) {
			m, err := f()
			if err != nil {
				t.Fatal(err)
			}
			want := ref[name]
			if len(m.Layers()) != len(want.Layers) {
				t.Fatalf("%d layers, Keras has %d", len(m.Layers()), len(want.Layers))
			}
			summary := m.Summary()
			in := m.InputShape()
			for i, c := range m.Layers() {
				w := want.Layers[i]
				l := c.(layers.Layer)
				tr, nt := l.ParamCount(in)
				shape, _ := l.OutputShape(in)
				in = shape
				if l.Name() != w.Name || l.Type() != w.Type || fmt.Sprint(shape) != fmt.Sprint(w.Shape) || tr+nt != w.Params {
					t.Fatalf("layer %d: Go %s (%s) %v %d params; Keras %s (%s) %v %d", i, l.Name(), l.Type(), shape, tr+nt, w.Name, w.Type, w.Shape, w.Params)
				}
				if !strings.Contains(summary, fmt.Sprintf("%s (%s)", w.Name, w.Type)) {
					t.Fatalf("summary lacks %s:\n%s", w.Name, summary)
				}
			}
			tr, nt := m.ParamCount()
			if tr+nt != want.Total || !strings.Contains(summary, "Total params: "+commas(want.Total)) {
				t.Fatalf("total %d, Keras %d\n%s", tr+nt, want.Total, summary)
			}
		})
	}
}
