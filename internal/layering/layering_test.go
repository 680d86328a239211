package layering

import (
	"slices"
	"testing"
)

func TestDepsAndOutside(t *testing.T) {
	deps, err := Deps(".")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(deps, []string{"internal/layering"}) {
		t.Fatalf("deps of internal/layering: %v", deps)
	}
	got := Outside([]string{"tfwrap", "tfwrap/dtype", "tfwrapper", "models/layers", "internal/fsync"}, "tfwrap", "internal")
	if !slices.Equal(got, []string{"tfwrapper", "models/layers"}) {
		t.Fatalf("outside tfwrap and internal: %v", got)
	}
	if _, err := Deps("./no/such/package"); err == nil {
		t.Fatal("a missing package listed")
	}
}
