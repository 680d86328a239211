package serving

import (
	"slices"
	"testing"

	"github.com/tfgo-project/gotf/internal/layering"
)

// TestDoesNotLinkModels keeps the server free of the Keras layer: serving
// and cmd/serve load SavedModels through savedmodels, and never link
// models or its sub-packages.
func TestDoesNotLinkModels(t *testing.T) {
	deps, err := layering.Deps(".", "../cmd/serve")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(deps, "savedmodels") {
		t.Fatalf("serving does not link savedmodels? deps %v", deps)
	}
	for _, d := range deps {
		if len(layering.Outside([]string{d}, "models")) == 0 {
			t.Fatalf("serving or cmd/serve links %s (all: %v)", d, deps)
		}
	}
}
