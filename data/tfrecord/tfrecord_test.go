package tfrecord

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
)

// written has TensorFlow's own writer make a file of n examples and
// returns its path and the values written.
func written(t *testing.T, n int, names bool) (string, []float64, []int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data.tfrecord")
	var want struct {
		X []float64
		Y []int
	}
	if err := pyref.Run("tfrecord_write.py", map[string]any{"path": path, "n": n, "names": names}, &want); err != nil {
		t.Fatal(err)
	}
	return path, want.X, want.Y
}

// TestMatchesTensorFlow: files TensorFlow wrote read back as the values it
// wrote, bit for bit, with class ids and with class names.
func TestMatchesTensorFlow(t *testing.T) {
	for _, names := range []bool{false, true} {
		path, x, y := written(t, 2000, names)
		tb, err := ReadExamples([]string{path, path}, Options{Features: []string{"pixels", "count"}, Label: "label"})
		if err != nil {
			t.Fatal(err)
		}
		if tb.Rows != 4000 || strings.Join(tb.Columns, ",") != "pixels[0],pixels[1],pixels[2],count" {
			t.Fatalf("%d rows, columns %v", tb.Rows, tb.Columns)
		}
		for i, v := range append(x, x...) {
			if tb.X[i] != float32(v) {
				t.Fatalf("value %d: %v, TensorFlow wrote %v", i, tb.X[i], float32(v))
			}
		}
		for i, v := range append(y, y...) {
			if tb.Y[i] != int32(v) {
				t.Fatalf("label %d: %d, TensorFlow wrote %d", i, tb.Y[i], v)
			}
		}
		if names && fmt.Sprint(tb.Classes) != "[circle square triangle]" {
			t.Errorf("classes %v", tb.Classes)
		}
	}
}

// TestCorruptFiles: a flipped bit anywhere, or a cut anywhere, is an
// ErrCorrupt naming the file and the record's offset; nothing panics.
func TestCorruptFiles(t *testing.T) {
	path, _, _ := written(t, 20, false)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Features: []string{"pixels"}, Label: "label"}
	try := func(name string, b []byte) error {
		p := filepath.Join(t.TempDir(), name)
		os.WriteFile(p, b, 0o644)
		_, err := ReadExamples([]string{p}, opts)
		if err != nil && !strings.Contains(err.Error(), p) {
			t.Errorf("%s: the error does not name the file: %v", name, err)
		}
		return err
	}
	for i := 0; i < len(good); i += 7 {
		b := append([]byte(nil), good...)
		b[i] ^= 0x04
		if err := try("flip", b); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "record at byte") {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for _, cut := range []int{1, 11, 12, 13, len(good) / 2, len(good) - 1} {
		if err := try("cut", good[:cut]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: %v", cut, err)
		}
	}
	if err := try("empty", nil); err == nil || !strings.Contains(err.Error(), "no examples") {
		t.Errorf("an empty file: %v", err)
	}
}

// TestBadExamples: examples that do not fit the options are errors naming
// the example and the feature.
func TestBadExamples(t *testing.T) {
	path, _, _ := written(t, 3, false)
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{Features: []string{"nope"}, Label: "label"}, `example 0 (record at byte 0), feature "nope": missing`},
		{Options{Features: []string{"note"}, Label: "label"}, `feature "note": is not a float_list or int64_list`},
		{Options{Features: []string{"pixels"}, Label: "nope"}, `the example has no such label; it has "count", "label", "note", "pixels"`},
		{Options{Features: []string{"pixels"}, Label: "pixels"}, "a float_list label"},
		{Options{Features: []string{"pixels"}, Label: "count"}, "want one class id"},
		{Options{Features: []string{"pixels"}}, "name the label"},
	} {
		if _, err := ReadExamples([]string{path}, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.opts, err, c.want)
		}
	}
}
