// Package tfrecord reads TFRecord files, the format TensorFlow users keep
// their data in, and the tf.train.Example records in them: every record's
// length and data are checked against their CRC-32C, and a truncated or
// corrupt file is an error naming the file and the byte offset of the
// record. ReadExamples turns fixed-length numeric features and a label
// into the same Table that data/csvdata makes. It needs no libtensorflow.
package tfrecord

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/data/csvdata"
	"github.com/tfgo-project/gotf/serving/tfspb/examplepb"
)

// MaxRecord bounds one record's declared length (1 GiB). The length's own
// CRC is checked before it is used; this bounds what a file whose CRCs
// are valid can make the reader allocate.
const MaxRecord = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// masked is TFRecord's masked CRC-32C.
func masked(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// ErrCorrupt: a record's framing or CRC is wrong, or the file ends inside
// a record.
var ErrCorrupt = errors.New("tfrecord: corrupt")

// Reader reads the records of one TFRecord stream.
type Reader struct {
	r      *bufio.Reader
	name   string
	offset int64 // of the next record
	buf    []byte
}

// NewReader reads records from r; name is what errors call it.
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 1<<16), name: name}
}

// Next returns the next record's data (valid until the next call), or
// io.EOF after the last one.
func (rd *Reader) Next() ([]byte, error) {
	var head [12]byte
	n, err := io.ReadFull(rd.r, head[:])
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, rd.corrupt("the file ends %d bytes into a record's header", n)
	}
	length := binary.LittleEndian.Uint64(head[:8])
	if masked(head[:8]) != binary.LittleEndian.Uint32(head[8:]) {
		return nil, rd.corrupt("the record's length fails its CRC")
	}
	if length > MaxRecord {
		return nil, rd.corrupt("the record declares %d bytes, more than %d", length, MaxRecord)
	}
	need := int(length) + 4
	if cap(rd.buf) < need {
		rd.buf = make([]byte, need)
	}
	rd.buf = rd.buf[:need]
	if n, err := io.ReadFull(rd.r, rd.buf); err != nil {
		return nil, rd.corrupt("the file ends %d bytes into a record of %d", n, length)
	}
	data := rd.buf[:length]
	if masked(data) != binary.LittleEndian.Uint32(rd.buf[length:]) {
		return nil, rd.corrupt("the record's %d bytes fail their CRC", length)
	}
	rd.offset += 12 + int64(need)
	return data, nil
}

func (rd *Reader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s: record at byte %d: %s", ErrCorrupt, rd.name, rd.offset, fmt.Sprintf(format, args...))
}

// Options say which features of each tf.train.Example to read.
type Options struct {
	Features []string       // float_list or int64_list features, concatenated in this order
	Label    string         // an int64_list (class ids) or bytes_list (class names) feature of one value; a float_list with Labels: Targets
	Labels   csvdata.Labels // csvdata.Classes (the default) or csvdata.Targets
}

// ReadExamples reads every tf.train.Example in the files, in order, into
// a Table: each example's features must have the same length in every
// example.
func ReadExamples(paths []string, opts Options) (*csvdata.Table, error) {
	if opts.Label == "" || len(opts.Features) == 0 {
		return nil, errors.New("tfrecord: name the label and at least one feature (Options)")
	}
	t := &csvdata.Table{Columns: slices.Clone(opts.Features)}
	widths := make([]int, len(opts.Features))
	var names []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("tfrecord: %w", err)
		}
		err = readFile(NewReader(f, p), t, opts, widths, &names)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	if t.Rows == 0 {
		return nil, fmt.Errorf("tfrecord: %s: the files hold no examples", strings.Join(paths, ", "))
	}
	if opts.Labels == csvdata.Classes && names != nil {
		t.Classes = sortedSet(names)
		t.Y = make([]int32, len(names))
		for i, n := range names {
			t.Y[i] = int32(sort.SearchStrings(t.Classes, n))
		}
	}
	// Columns name each feature's values: "f" for one, "f[0]"… for more.
	var cols []string
	for i, f := range opts.Features {
		if widths[i] == 1 {
			cols = append(cols, f)
			continue
		}
		for j := 0; j < widths[i]; j++ {
			cols = append(cols, fmt.Sprintf("%s[%d]", f, j))
		}
	}
	t.Columns = cols
	return t, nil
}

func readFile(rd *Reader, t *csvdata.Table, opts Options, widths []int, names *[]string) error {
	for {
		at := rd.offset
		rec, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var ex examplepb.Example
		if err := proto.Unmarshal(rec, &ex); err != nil {
			return fmt.Errorf("tfrecord: %s: record at byte %d (example %d) is not a tf.train.Example: %v", rd.name, at, t.Rows, err)
		}
		where := func(key string) string {
			return fmt.Sprintf("tfrecord: %s: example %d (record at byte %d), feature %q", rd.name, t.Rows, at, key)
		}
		fs := ex.GetFeatures().GetFeature()
		for i, key := range opts.Features {
			vals, err := numbers(fs[key])
			if err != nil {
				return fmt.Errorf("%s: %v", where(key), err)
			}
			if t.Rows == 0 {
				widths[i] = len(vals)
			} else if len(vals) != widths[i] {
				return fmt.Errorf("%s: %d values, where the first example had %d", where(key), len(vals), widths[i])
			}
			t.X = append(t.X, vals...)
		}
		lf := fs[opts.Label]
		switch {
		case lf == nil:
			return fmt.Errorf("%s: the example has no such label; it has %s", where(opts.Label), keys(fs))
		case opts.Labels == csvdata.Targets:
			v, err := numbers(lf)
			if err != nil || len(v) != 1 {
				return fmt.Errorf("%s: want one number as the target, got %d (%v)", where(opts.Label), len(v), err)
			}
			t.Targets = append(t.Targets, v[0])
		case lf.GetInt64List() != nil && *names == nil:
			v := lf.GetInt64List().GetValue()
			if len(v) != 1 || v[0] < 0 || v[0] > math.MaxInt32 {
				return fmt.Errorf("%s: want one class id (0 to %d), got %v", where(opts.Label), math.MaxInt32, v)
			}
			t.Y = append(t.Y, int32(v[0]))
		case lf.GetBytesList() != nil && t.Y == nil:
			v := lf.GetBytesList().GetValue()
			if len(v) != 1 || len(v[0]) == 0 {
				return fmt.Errorf("%s: want one class name, got %d values", where(opts.Label), len(v))
			}
			if *names == nil {
				*names = []string{}
			}
			*names = append(*names, string(v[0]))
		case lf.GetFloatList() != nil:
			return fmt.Errorf("%s: a float_list label: class labels are int64 ids or bytes names (Labels: csvdata.Targets reads numbers)", where(opts.Label))
		default:
			return fmt.Errorf("%s: class labels must all be int64 ids or all bytes names", where(opts.Label))
		}
		t.Rows++
	}
}

// numbers is a float_list's or int64_list's values as float32.
func numbers(f *examplepb.Feature) ([]float32, error) {
	switch {
	case f == nil:
		return nil, errors.New("missing")
	case f.GetFloatList() != nil:
		v := f.GetFloatList().GetValue()
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("holds %v", x)
			}
		}
		return v, nil
	case f.GetInt64List() != nil:
		v := f.GetInt64List().GetValue()
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out, nil
	}
	return nil, errors.New("is not a float_list or int64_list")
}

func keys(m map[string]*examplepb.Feature) string {
	var ks []string
	for k := range m {
		ks = append(ks, fmt.Sprintf("%q", k))
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

func sortedSet(names []string) []string {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
