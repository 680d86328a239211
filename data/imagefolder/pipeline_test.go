package imagefolder

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tfgo-project/gotf/data/shapes"
)

// TestPipelineRefusesSpecialFiles: a FIFO named like an image is an error,
// not a read that never returns; a corrupt JPEG among good ones is named.
func TestPipelineRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := shapes.Write(dir, shapes.Options{Shapes: []string{"circle", "bar"}, PerClass: 3, Size: 16, JPEG: true}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bar", "bar_0001.jpg")
	if err := os.WriteFile(bad, []byte("\xff\xd8\xff not a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir, Options{Height: 8, Width: 8})
	if err == nil || !strings.Contains(err.Error(), "bar_0001.jpg") {
		t.Errorf("corrupt JPEG: %v", err)
	}
	os.Remove(bad)
	fifo := filepath.Join(dir, "circle", "pipe.jpg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	_, err = Load(dir, Options{Height: 8, Width: 8})
	if err == nil || !strings.Contains(err.Error(), "pipe.jpg is not a regular file") {
		t.Errorf("FIFO: %v", err)
	}
}
