package savedmodels

import (
	"testing"

	"github.com/tfgo-project/gotf/internal/layering"
)

// TestLinksTfwrapOnly keeps savedmodels below models: loading and
// predicting need tfwrap (and internal helpers) only, so a server that
// loads SavedModels does not link the Keras layer. Exporting and
// checkpointing a model live in models, the backbone in models/transfer.
func TestLinksTfwrapOnly(t *testing.T) {
	deps, err := layering.Deps(".")
	if err != nil {
		t.Fatal(err)
	}
	if out := layering.Outside(deps, "savedmodels", "tfwrap", "internal"); len(out) > 0 {
		t.Fatalf("savedmodels links %v; it may link only tfwrap and internal packages", out)
	}
}
