package csvdata

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
)

// writeCSV makes a file of rows × 10 features in the forms numbers take in
// real files (integers, decimals, exponents, signs, spaces, quotes) and a
// label column in the middle.
func writeCSV(t *testing.T, rows int, label func(i int) string) string {
	t.Helper()
	r := rand.New(rand.NewSource(7))
	var b strings.Builder
	b.WriteString("\ufeffa,b, c ,d,e,label,f,g,h,i,j\n")
	for i := 0; i < rows; i++ {
		for j := 0; j < 10; j++ {
			if j == 5 {
				b.WriteString(label(i) + ",")
			}
			v := r.NormFloat64() * 100
			switch r.Intn(6) {
			case 0:
				fmt.Fprintf(&b, "%d", int(v))
			case 1:
				fmt.Fprintf(&b, "%.3f", v)
			case 2:
				fmt.Fprintf(&b, "%g", v/1e7)
			case 3:
				fmt.Fprintf(&b, "\"%.17g\"", v)
			case 4:
				fmt.Fprintf(&b, " %+.2e ", v)
			default:
				fmt.Fprintf(&b, "%v", float32(v))
			}
			if j < 9 {
				b.WriteByte(',')
			}
		}
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "data.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMatchesPython: 5,000 rows read by csvdata and by Python's csv module
// with numpy give the same float32 features bit for bit, and the same
// labels, for class ids, class names and regression targets.
func TestMatchesPython(t *testing.T) {
	shapes := []string{"circle", "square", "triangle"}
	for _, c := range []struct {
		name    string
		label   func(i int) string
		targets bool
	}{
		{"class ids", func(i int) string { return fmt.Sprint(i % 4) }, false},
		{"class names", func(i int) string { return shapes[(i*7)%3] }, false},
		{"targets", func(i int) string { return fmt.Sprintf("%.4f", float64(i)/7) }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeCSV(t, 5000, c.label)
			opts := Options{Label: "label"}
			if c.targets {
				opts.Labels = Targets
			}
			got, err := ReadFile(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			var want struct {
				X       [][]float64
				Y       []float64
				Classes []string
			}
			if err := pyref.Run("csv_read.py", map[string]any{"path": path, "label": "label", "targets": c.targets}, &want); err != nil {
				t.Fatal(err)
			}
			if got.Rows != len(want.X) || len(got.Columns) != 10 || got.Columns[2] != "c" {
				t.Fatalf("%d rows, columns %v; Python read %d rows", got.Rows, got.Columns, len(want.X))
			}
			for i, row := range want.X {
				for j, v := range row {
					if g := got.X[i*10+j]; g != float32(v) {
						t.Fatalf("row %d column %d: %v, Python %v", i, j, g, float32(v))
					}
				}
			}
			for i, v := range want.Y {
				if c.targets && got.Targets[i] != float32(v) || !c.targets && got.Y[i] != int32(v) {
					t.Fatalf("label %d: %v %v, Python %v", i, got.Y, got.Targets, v)
				}
			}
			if strings.Join(got.Classes, ",") != strings.Join(want.Classes, ",") {
				t.Errorf("classes %v, Python %v", got.Classes, want.Classes)
			}
		})
	}
}

// TestBadFiles: every bad or missing value is an error naming where it is.
func TestBadFiles(t *testing.T) {
	for _, c := range []struct {
		name, body string
		opts       Options
		want       string
	}{
		{"not a number", "x,y,label\n1,2,0\n3,abc,1\n", Options{Label: "label"}, `line 3 (row 2), column "y": "abc" is not a finite number`},
		{"missing value", "x,y,label\n1,,0\n", Options{Label: "label"}, `line 2 (row 1), column "y": the value is missing`},
		{"empty label", "x,label\n1, \n", Options{Label: "label"}, `line 2 (row 1), column "label": the label is empty`},
		{"bad target", "x,label\n1,high\n", Options{Label: "label", Labels: Targets}, `column "label": "high" is not a finite number`},
		{"NaN", "x,label\n1,0\nNaN,1\n", Options{Label: "label"}, `line 3 (row 2), column "x": "NaN"`},
		{"infinite", "x,label\ninf,0\n", Options{Label: "label"}, `"inf" is not a finite number`},
		{"beyond float32", "x,label\n1e39,0\n", Options{Label: "label"}, `"1e39" is not a finite number that fits float32`},
		{"short row", "x,y,label\n1,2,0\n1,2\n", Options{Label: "label"}, "line 3 (row 2): wrong number of fields"},
		{"bad quote", "x,label\n\"1,0\n", Options{Label: "label"}, "line 2 (row 1)"},
		{"no label column", "x,y\n1,2\n", Options{Label: "label"}, `no label column "label"; the columns are "x", "y"`},
		{"no label named", "x,y\n1,2\n", Options{}, "no label column named"},
		{"unknown feature", "x,label\n1,0\n", Options{Label: "label", Features: []string{"z"}}, `no feature column "z"`},
		{"label as feature", "x,label\n1,0\n", Options{Label: "label", Features: []string{"label"}}, "is the label"},
		{"duplicate column", "x,x,label\n1,2,0\n", Options{Label: "label"}, `column "x" appears twice`},
		{"only the label", "label\n0\n", Options{Label: "label"}, "no feature columns"},
		{"empty file", "", Options{Label: "label"}, "the file is empty"},
		{"header only", "x,label\n", Options{Label: "label"}, "no data rows"},
		{"too many rows", "x,label\n1,0\n2,1\n3,0\n", Options{Label: "label", MaxRows: 2}, "more than 2 rows"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.csv")
			os.WriteFile(path, []byte(c.body), 0o644)
			_, err := ReadFile(path, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("got %v, want an error naming %s and containing %q", err, path, c.want)
			}
		})
	}
}

// TestChosenFeatures: the features come in the order asked, and a
// semicolon file reads with Comma.
func TestChosenFeatures(t *testing.T) {
	tb, err := Read(strings.NewReader("a;b;y;c\n1;2;cat;3\n4;5;dog;6\n"), Options{Label: "y", Features: []string{"c", "a"}, Comma: ';'})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(tb.X) != "[3 1 6 4]" || fmt.Sprint(tb.Y) != "[0 1]" || fmt.Sprint(tb.Classes) != "[cat dog]" {
		t.Errorf("%+v", tb)
	}
}
