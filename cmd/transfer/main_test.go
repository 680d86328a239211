package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/models/transfer"
)

// TestRunRefusesBeforeTraining: a version folder that exists and a
// backbone that does not are errors before any image is read or trained.
func TestRunRefusesBeforeTraining(t *testing.T) {
	dir := t.TempDir()
	exists := filepath.Join(dir, "1")
	if err := os.Mkdir(exists, 0o755); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), dir, 0.2, 1, "", exists, transfer.TrainOptions{Backbone: "nope.keras"})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("existing export folder: %v", err)
	}
	err = run(context.Background(), dir, 0.2, 1, "", "", transfer.TrainOptions{Backbone: filepath.Join(dir, "nope.keras")})
	if err == nil || !strings.Contains(err.Error(), "nope.keras") {
		t.Errorf("missing backbone: %v", err)
	}
}
