// Package h5 reads and writes the part of HDF5 that Keras's .keras files
// use: the model.weights.h5 that h5py writes with its default settings (superblock
// version 0 or 1, version 1 object headers, groups as symbol tables, and
// datasets of little-endian numbers stored contiguously or compactly).
//
// Why a reader of our own: no Go HDF5 module is served by this project's
// module proxy (gonum.org/v1/hdf5 and github.com/scigolib/hdf5 are refused),
// and binding libhdf5 through cgo would let a crafted file crash the whole
// process (libhdf5's CVE list is mostly heap overflows on malformed files),
// where a Go reader returns an error. Every offset and size read from the
// file is checked against the file's bytes before it is used, so a
// truncated, bit-flipped or hostile file is an error naming what was wrong,
// never a panic or an allocation larger than the file.
//
// What it does not read is an error that says so: chunked or filtered
// (compressed) datasets, version 2 object headers and link-message groups
// (h5py's libver="latest"), big-endian data and types other than integers
// and floats. A File is read-only and safe for concurrent use. Writer
// writes the same layout (float32 datasets only), which h5py reads.
package h5

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
)

// ErrFormat is wrapped by every error about the file's contents.
var ErrFormat = errors.New("h5: not a readable HDF5 file")

var signature = []byte{0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'}

// undefined is HDF5's undefined address (all bits set).
const undefined = math.MaxUint64

// File is an HDF5 file held in memory.
type File struct {
	mu       sync.Mutex
	headers  map[uint64]*header // parsed object headers by address
	b        []byte
	base     uint64 // the superblock's base address
	offsets  int    // size of offsets (addresses), 8 in practice
	lengths  int    // size of lengths
	rootAddr uint64 // the root group's object header
}

// Open parses the superblock of an HDF5 file held in data; data must not
// change while the File is used.
func Open(data []byte) (*File, error) {
	// The superblock may sit at 0, 512, 1024, 2048, … (a user block before it).
	var at int
	for at = 0; ; at = max(512, at*2) {
		if at+len(signature) > len(data) {
			return nil, fmt.Errorf("%w: no HDF5 signature (the file has %d bytes)", ErrFormat, len(data))
		}
		if string(data[at:at+8]) == string(signature) {
			break
		}
	}
	f := &File{b: data}
	r := reader{f: f, off: uint64(at) + 8, what: "superblock"}
	version := r.u8()
	switch version {
	case 0, 1:
		r.skip(3) // free-space, root group and reserved versions
		r.skip(1) // shared header message format version
		f.offsets, f.lengths = int(r.u8()), int(r.u8())
		r.skip(1)
		r.skip(4) // group leaf and internal node K
		r.skip(4) // file consistency flags
		if version == 1 {
			r.skip(4) // indexed storage internal node K, reserved
		}
		if r.err == nil && (f.offsets != 8 || f.lengths != 8) {
			return nil, fmt.Errorf("%w: superblock: offsets of %d bytes and lengths of %d bytes (only 8 and 8 are read)", ErrFormat, f.offsets, f.lengths)
		}
		f.base = r.u64()
		r.skip(8) // free-space info address
		r.skip(8) // end of file address
		r.skip(8) // driver information block
		// The root group's symbol table entry.
		r.skip(8) // link name offset
		f.rootAddr = r.u64()
	case 2, 3:
		return nil, fmt.Errorf("%w: superblock version %d (h5py's libver=\"latest\") is not read; save the file with h5py's default settings, as Keras does", ErrFormat, version)
	default:
		return nil, fmt.Errorf("%w: superblock version %d", ErrFormat, version)
	}
	if r.err != nil {
		return nil, r.err
	}
	if f.base != 0 && f.base != uint64(at) {
		return nil, fmt.Errorf("%w: superblock: base address %d (the superblock is at %d)", ErrFormat, f.base, at)
	}
	return f, nil
}

// Root returns the root group.
func (f *File) Root() (*Group, error) { return f.group("/", f.rootAddr) }

// Kind is what an object in the file is.
type Kind int

// The objects the reader knows.
const (
	KindGroup Kind = iota + 1
	KindDataset
)

// Group is a group's members by name.
type Group struct {
	f       *File
	Path    string
	members map[string]uint64
}

// Names returns the group's member names, sorted as strings.
func (g *Group) Names() []string {
	out := make([]string, 0, len(g.members))
	for n := range g.members {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Has reports whether the group has a member named name.
func (g *Group) Has(name string) bool { _, ok := g.members[name]; return ok }

// Kind returns what the member named name is.
func (g *Group) Kind(name string) (Kind, error) {
	addr, ok := g.members[name]
	if !ok {
		return 0, fmt.Errorf("h5: %s has no member %q", g.Path, name)
	}
	h, err := g.f.header(g.join(name), addr)
	if err != nil {
		return 0, err
	}
	if h.symtab {
		return KindGroup, nil
	}
	if h.layout != nil {
		return KindDataset, nil
	}
	return 0, fmt.Errorf("%w: %s: neither a group nor a dataset", ErrFormat, g.join(name))
}

func (g *Group) join(name string) string {
	if g.Path == "/" {
		return "/" + name
	}
	return g.Path + "/" + name
}

// Group opens the member group named name.
func (g *Group) Group(name string) (*Group, error) {
	addr, ok := g.members[name]
	if !ok {
		return nil, fmt.Errorf("h5: %s has no member %q", g.Path, name)
	}
	return g.f.group(g.join(name), addr)
}

// Dataset reads the member dataset named name.
func (g *Group) Dataset(name string) (*Dataset, error) {
	addr, ok := g.members[name]
	if !ok {
		return nil, fmt.Errorf("h5: %s has no member %q", g.Path, name)
	}
	return g.f.dataset(g.join(name), addr)
}

// NumberedDatasets returns the datasets named "0", "1", … "n-1" (Keras's
// vars groups), in number order; any other member is an error.
func (g *Group) NumberedDatasets() ([]*Dataset, error) {
	n := len(g.members)
	out := make([]*Dataset, n)
	for name := range g.members {
		i, err := strconv.Atoi(name)
		if err != nil || i < 0 || i >= n || strconv.Itoa(i) != name {
			return nil, fmt.Errorf("%w: %s: member %q where the members are numbered 0 to %d", ErrFormat, g.Path, name, n-1)
		}
		if out[i], err = g.Dataset(name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Class is a dataset's number type.
type Class int

// The number classes.
const (
	Int Class = iota + 1
	Uint
	Float
)

func (c Class) String() string {
	switch c {
	case Int:
		return "int"
	case Uint:
		return "uint"
	case Float:
		return "float"
	}
	return "Class(" + strconv.Itoa(int(c)) + ")"
}

// Dataset is an array of little-endian numbers.
type Dataset struct {
	Path  string
	Addr  uint64  // its object header's address: links to one dataset share it
	Shape []int64 // empty for a scalar
	Class Class
	Size  int    // bytes per element: 1, 2, 4 or 8
	raw   []byte // the elements; nil when never written (all zeros)
}

// Stored reports whether the file holds the dataset's elements (a dataset
// never written reads as zeros and takes no bytes).
func (d *Dataset) Stored() bool { return d.raw != nil || d.NumElements() == 0 }

// DType returns the dataset's type as NumPy names it ("float32", "int64",
// "uint8", …).
func (d *Dataset) DType() string { return d.Class.String() + strconv.Itoa(d.Size*8) }

// NumElements returns the product of the shape.
func (d *Dataset) NumElements() int64 {
	n := int64(1)
	for _, s := range d.Shape {
		n *= s
	}
	return n
}

// Float32 returns the elements as float32: float32 data as it is, float64
// and integers converted (float16 widened). The slice is new.
func (d *Dataset) Float32() []float32 {
	n := d.NumElements()
	out := make([]float32, n)
	if d.raw == nil {
		return out
	}
	le := binary.LittleEndian
	for i := range out {
		p := d.raw[i*d.Size:]
		switch {
		case d.Class == Float && d.Size == 4:
			out[i] = math.Float32frombits(le.Uint32(p))
		case d.Class == Float && d.Size == 8:
			out[i] = float32(math.Float64frombits(le.Uint64(p)))
		case d.Class == Float && d.Size == 2:
			out[i] = halfToFloat32(le.Uint16(p))
		default:
			out[i] = float32(d.intAt(p))
		}
	}
	return out
}

// Int64 returns the elements of an integer dataset as int64.
func (d *Dataset) Int64() ([]int64, error) {
	if d.Class == Float {
		return nil, fmt.Errorf("h5: %s holds %s, not integers", d.Path, d.DType())
	}
	out := make([]int64, d.NumElements())
	if d.raw != nil {
		for i := range out {
			out[i] = d.intAt(d.raw[i*d.Size:])
		}
	}
	return out, nil
}

func (d *Dataset) intAt(p []byte) int64 {
	le := binary.LittleEndian
	var u uint64
	switch d.Size {
	case 1:
		u = uint64(p[0])
	case 2:
		u = uint64(le.Uint16(p))
	case 4:
		u = uint64(le.Uint32(p))
	default:
		u = le.Uint64(p)
	}
	if d.Class == Int && d.Size < 8 {
		shift := 64 - 8*uint(d.Size)
		return int64(u<<shift) >> shift
	}
	return int64(u)
}

func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		return float32(math.Copysign(float64(man)*math.Pow(2, -24), float64(int32(sign))))
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}
