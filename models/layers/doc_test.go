package layers_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/models/layers"
)

// `go doc` on the package (what a user types first) names every activation
// and shows how to pass one. A const block only shows its first line there,
// so the package comment has to list them.
func TestGoDocListsActivations(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goBin, "doc", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go doc unavailable: %v\n%s", err, out)
	}
	doc := string(out)
	names := []string{"Linear", "ReLU", "Sigmoid", "Tanh", "Softmax"}
	// Every activation String knows must be in the list above.
	known := 0
	for a := layers.Activation(0); a < 100; a++ {
		if a.String() != fmt.Sprintf("Activation(%d)", int(a)) {
			known++
		}
	}
	if known != len(names) {
		t.Fatalf("layers has %d activations, the test lists %d: update both the test and doc.go", known, len(names))
	}
	for _, want := range append(names, "WithActivation(layers.", "ActivationLayer(") {
		if !strings.Contains(doc, want) {
			t.Errorf("go doc ./models/layers does not mention %q:\n%s", want, doc)
		}
	}
}
