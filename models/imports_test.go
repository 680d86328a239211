package models

import (
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/layering"
)

// models is the Keras-shaped library; data sets sit above it and build
// Datasets with NewDataset, so the package links none.
func TestModelsImportsNoDataSet(t *testing.T) {
	deps, err := layering.Deps(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "data/") || d == "data" {
			t.Errorf("models links %s", d)
		}
	}
}
