// Package csvdata reads a CSV file with a header into the float32
// features and labels a model trains on: the numeric feature columns the
// caller names (or every column but the label), and a label column of
// class ids, class names (numbered in sorted order, as Keras numbers
// class folders) or regression targets. A bad or missing value is an error
// naming the file, line, row and column. It needs no libtensorflow: turn a
// Table into tensors with tfwrap.NewTensor and into a models.Dataset with
// models.NewDataset (see the example).
package csvdata

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Labels says what the label column holds.
type Labels int

const (
	// Classes: class ids (non-negative integers, kept as they are) or
	// class names (any text; numbered 0, 1, … in sorted order).
	Classes Labels = iota
	// Targets: numbers, for regression.
	Targets
)

// Options say which columns to read.
type Options struct {
	Label    string   // the label column's name (required)
	Features []string // the feature columns, in this order; nil: every column but the label, in file order
	Labels   Labels   // Classes (the default) or Targets
	Comma    rune     // the field separator (0: ',')
	MaxRows  int      // refuse a file with more data rows than this (0: no limit)
}

// Table is a CSV file's data, row-major.
type Table struct {
	Columns []string  // the feature columns, in X's order
	Rows    int       // data rows
	X       []float32 // Rows × len(Columns) features
	// Y holds class ids (Labels: Classes); Targets the numbers (Labels:
	// Targets). Classes names each id when the labels were names.
	Y       []int32
	Targets []float32
	Classes []string
}

// ReadFile reads the CSV file at path; errors name it.
func ReadFile(path string, opts Options) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("csvdata: %w", err)
	}
	defer f.Close()
	t, err := read(f, path, opts)
	if err != nil {
		return nil, fmt.Errorf("csvdata: %s: %w", path, err)
	}
	return t, nil
}

// Read reads CSV text from r.
func Read(r io.Reader, opts Options) (*Table, error) {
	t, err := read(r, "", opts)
	if err != nil {
		return nil, fmt.Errorf("csvdata: %w", err)
	}
	return t, nil
}

func read(r io.Reader, name string, opts Options) (*Table, error) {
	if opts.Label == "" {
		return nil, errors.New("no label column named (Options.Label)")
	}
	cr := csv.NewReader(r)
	if opts.Comma != 0 {
		cr.Comma = opts.Comma
	}
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("the file is empty: want a header line")
	}
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	header = slices.Clone(header)
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a UTF-8 byte order mark
	}
	index := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		header[i] = h
		if _, dup := index[h]; dup {
			return nil, fmt.Errorf("header: column %q appears twice", h)
		}
		index[h] = i
	}
	label, ok := index[opts.Label]
	if !ok {
		return nil, fmt.Errorf("header: no label column %q; the columns are %s", opts.Label, quoteAll(header))
	}
	features := opts.Features
	if features == nil {
		for _, h := range header {
			if h != opts.Label {
				features = append(features, h)
			}
		}
	}
	if len(features) == 0 {
		return nil, errors.New("no feature columns: the file has only the label")
	}
	cols := make([]int, len(features))
	for i, f := range features {
		c, ok := index[f]
		if !ok {
			return nil, fmt.Errorf("header: no feature column %q; the columns are %s", f, quoteAll(header))
		}
		if c == label {
			return nil, fmt.Errorf("column %q is the label; it cannot be a feature too", f)
		}
		cols[i] = c
	}
	t := &Table{Columns: slices.Clone(features)}
	var names []string // labels as read, when they are class names
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("line %d (row %d): %v", pe.Line, t.Rows+1, pe.Err)
			}
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if opts.MaxRows > 0 && t.Rows >= opts.MaxRows {
			return nil, fmt.Errorf("more than %d rows (Options.MaxRows)", opts.MaxRows)
		}
		where := func(col int) string {
			return fmt.Sprintf("line %d (row %d), column %q", line, t.Rows+1, header[col])
		}
		for _, c := range cols {
			f, err := number(rec[c])
			if err != nil {
				return nil, fmt.Errorf("%s: %v", where(c), err)
			}
			t.X = append(t.X, f)
		}
		v := strings.TrimSpace(rec[label])
		if v == "" {
			return nil, fmt.Errorf("%s: the label is empty", where(label))
		}
		if opts.Labels == Targets {
			f, err := number(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", where(label), err)
			}
			t.Targets = append(t.Targets, f)
		} else {
			names = append(names, v)
		}
		t.Rows++
	}
	if t.Rows == 0 {
		return nil, errors.New("no data rows after the header")
	}
	if opts.Labels == Classes {
		t.Y, t.Classes = classIDs(names)
	}
	return t, nil
}

// number parses one feature or target: a finite number that fits float32.
func number(s string) (float32, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("the value is missing")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > math.MaxFloat32 {
		return 0, fmt.Errorf("%q is not a finite number that fits float32", s)
	}
	return float32(f), nil
}

// classIDs numbers the labels: as they are when every one is a
// non-negative integer (no class names then), else by the sorted names.
func classIDs(names []string) ([]int32, []string) {
	ids := make([]int32, len(names))
	numeric := true
	for i, n := range names {
		v, err := strconv.ParseInt(n, 10, 32)
		if err != nil || v < 0 {
			numeric = false
			break
		}
		ids[i] = int32(v)
	}
	if numeric {
		return ids, nil
	}
	set := map[string]int32{}
	for _, n := range names {
		set[n] = 0
	}
	classes := make([]string, 0, len(set))
	for n := range set {
		classes = append(classes, n)
	}
	sort.Strings(classes)
	for i, c := range classes {
		set[c] = int32(i)
	}
	for i, n := range names {
		ids[i] = set[n]
	}
	return ids, classes
}

func quoteAll(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(x))
	}
	return b.String()
}
