package h5

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Writer builds an HDF5 file in memory in the layout this package reads
// and h5py writes by default: a version 0 superblock, version 1 object
// headers, groups as symbol tables (one B-tree node and one symbol table
// node each) and little-endian float32 datasets stored contiguously. It
// is what Keras's model.weights.h5 needs and nothing more. A Writer is not
// safe for concurrent use.
type Writer struct {
	root *wgroup
}

type wgroup struct {
	groups   map[string]*wgroup
	datasets map[string]*wdataset
}

type wdataset struct {
	shape []int64
	data  []float32
}

// NewWriter returns an empty file: a root group and nothing in it.
func NewWriter() *Writer { return &Writer{root: newWGroup()} }

func newWGroup() *wgroup {
	return &wgroup{groups: map[string]*wgroup{}, datasets: map[string]*wdataset{}}
}

// maxName bounds a member's name, far above what Keras writes.
const maxName = 1024

// walk returns the group at path ("" or "/" is the root), making missing
// groups when create is set.
func (w *Writer) walk(path string, create bool) (*wgroup, error) {
	g := w.root
	path = strings.TrimPrefix(path, "/")
	if path == "" {
		return g, nil
	}
	for _, name := range strings.Split(path, "/") {
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("h5: path %q: %w", path, err)
		}
		if _, ds := g.datasets[name]; ds {
			return nil, fmt.Errorf("h5: path %q: %s is a dataset, not a group", path, name)
		}
		sub, ok := g.groups[name]
		if !ok {
			if !create {
				return nil, fmt.Errorf("h5: path %q: no group %s", path, name)
			}
			sub = newWGroup()
			g.groups[name] = sub
		}
		g = sub
	}
	return g, nil
}

func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("name %q: want a non-empty name other than . and ..", name)
	case len(name) > maxName:
		return fmt.Errorf("name of %d bytes: at most %d", len(name), maxName)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("name %q holds '/' or NUL", name)
	}
	return nil
}

// Group makes the group at path and the groups above it, if missing.
func (w *Writer) Group(path string) error {
	_, err := w.walk(path, true)
	return err
}

// Float32 stores data as a float32 dataset of the given shape at path
// ("layers/dense/vars/0"), making the groups above it. The data is kept,
// not copied: it must not change until Bytes.
func (w *Writer) Float32(path string, shape []int64, data []float32) error {
	path = strings.TrimPrefix(path, "/")
	dir, name := "", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, name = path[:i], path[i+1:]
	}
	if err := checkName(name); err != nil {
		return fmt.Errorf("h5: path %q: %w", path, err)
	}
	if len(shape) > 32 {
		return fmt.Errorf("h5: %s: %d dimensions; HDF5 allows 32", path, len(shape))
	}
	n := int64(1)
	for _, d := range shape {
		if d < 0 || (d > 0 && n > math.MaxInt64/4/d) {
			return fmt.Errorf("h5: %s: shape %v", path, shape)
		}
		n *= d
	}
	if n != int64(len(data)) {
		return fmt.Errorf("h5: %s: shape %v holds %d values, the data %d", path, shape, n, len(data))
	}
	var g *wgroup
	var err error
	if dir == "" {
		g = w.root
	} else if g, err = w.walk(dir, true); err != nil {
		return err
	}
	if _, dup := g.groups[name]; dup {
		return fmt.Errorf("h5: %s is already a group", path)
	}
	if _, dup := g.datasets[name]; dup {
		return fmt.Errorf("h5: %s is already written", path)
	}
	g.datasets[name] = &wdataset{shape: append([]int64{}, shape...), data: data}
	return nil
}

// Sizes of the fixed parts of the file (offsets and lengths of 8 bytes).
const (
	superblockSize = 96
	entrySize      = 40 // a symbol table entry
	internalK      = 16 // the group B-tree's K, as libhdf5's default
	btreeSize      = 24 + 2*internalK*8 + (2*internalK+1)*8
	heapHeaderSize = 32
	ohPrefix       = 16 // version 1 object header prefix, aligned to 8
)

// placed is one object's place in the file.
type placed struct {
	header         uint64 // object header
	btree, heap    uint64 // groups
	heapData       uint64
	snod           uint64
	data           uint64 // datasets
	names          []string
	nameAt         map[string]uint64 // offset of each member's name in the heap
	heapSize       uint64
	datasetMessage []byte
}

// Bytes lays the file out and returns it.
func (w *Writer) Bytes() ([]byte, error) {
	// A symbol table node holds 2 × leaf K entries; one node per group, so
	// leaf K is half the largest group (at least libhdf5's default of 4).
	leafK := 4
	var widest func(g *wgroup)
	widest = func(g *wgroup) {
		if n := (len(g.groups) + len(g.datasets) + 1) / 2; n > leafK {
			leafK = n
		}
		for _, s := range g.groups {
			widest(s)
		}
	}
	widest(w.root)
	if leafK > math.MaxUint16 {
		return nil, errors.New("h5: a group has more than 131,070 members")
	}
	snodSize := uint64(8 + 2*leafK*entrySize)

	// First pass: place every object.
	at := uint64(superblockSize)
	alloc := func(n uint64) uint64 { a := at; at += (n + 7) &^ 7; return a }
	groups := map[*wgroup]*placed{}
	sets := map[*wdataset]*placed{}
	var place func(g *wgroup)
	place = func(g *wgroup) {
		p := &placed{nameAt: map[string]uint64{}}
		groups[g] = p
		p.header = alloc(ohPrefix + 8 + 16)
		p.btree = alloc(btreeSize)
		p.heap = alloc(heapHeaderSize)
		for n := range g.groups {
			p.names = append(p.names, n)
		}
		for n := range g.datasets {
			p.names = append(p.names, n)
		}
		sort.Strings(p.names) // libhdf5 finds members by binary search
		p.heapSize = 8        // offset 0 is the empty name
		for _, n := range p.names {
			p.nameAt[n] = p.heapSize
			p.heapSize += (uint64(len(n)) + 1 + 7) &^ 7
		}
		p.heapData = alloc(p.heapSize)
		if len(p.names) > 0 {
			p.snod = alloc(snodSize)
		}
		for _, n := range p.names {
			if s, ok := g.groups[n]; ok {
				place(s)
				continue
			}
			d := g.datasets[n]
			q := &placed{datasetMessage: datasetMessages(d)}
			sets[d] = q
			q.header = alloc(ohPrefix + uint64(len(q.datasetMessage)))
			if len(d.data) > 0 {
				q.data = alloc(4 * uint64(len(d.data)))
			} else {
				q.data = undefined
			}
		}
	}
	place(w.root)
	b := make([]byte, at)
	le := binary.LittleEndian

	// Superblock, version 0.
	copy(b, signature)
	b[13], b[14] = 8, 8 // sizes of offsets and lengths
	le.PutUint16(b[16:], uint16(leafK))
	le.PutUint16(b[18:], internalK)
	le.PutUint64(b[24:], 0)         // base address
	le.PutUint64(b[32:], undefined) // free-space info
	le.PutUint64(b[40:], at)        // end of file
	le.PutUint64(b[48:], undefined) // driver information
	root := groups[w.root]
	putEntry(b[56:], 0, root)

	// Second pass: write every object where the first put it.
	for g, p := range groups {
		putHeader(b[p.header:], 1, 8+16)
		m := b[p.header+ohPrefix:]
		le.PutUint16(m, 0x0011) // symbol table message
		le.PutUint16(m[2:], 16)
		le.PutUint64(m[8:], p.btree)
		le.PutUint64(m[16:], p.heap)

		t := b[p.btree:]
		copy(t, "TREE")
		// node type 0 (group), level 0, entries used
		if len(p.names) > 0 {
			le.PutUint16(t[6:], 1)
		}
		le.PutUint64(t[8:], undefined)
		le.PutUint64(t[16:], undefined)
		// key 0 names the empty string (0); child 0; key 1 the last name
		if len(p.names) > 0 {
			le.PutUint64(t[32:], p.snod)
			le.PutUint64(t[40:], p.nameAt[p.names[len(p.names)-1]])
		}

		h := b[p.heap:]
		copy(h, "HEAP")
		le.PutUint64(h[8:], p.heapSize)
		le.PutUint64(h[16:], 1) // no free block (libhdf5's H5HL_FREE_NULL)
		le.PutUint64(h[24:], p.heapData)
		for _, n := range p.names {
			copy(b[p.heapData+p.nameAt[n]:], n)
		}

		if len(p.names) == 0 {
			continue
		}
		s := b[p.snod:]
		copy(s, "SNOD")
		s[4] = 1
		le.PutUint16(s[6:], uint16(len(p.names)))
		for i, n := range p.names {
			e := s[8+i*entrySize:]
			if sub, ok := g.groups[n]; ok {
				putEntry(e, p.nameAt[n], groups[sub])
			} else {
				le.PutUint64(e, p.nameAt[n])
				le.PutUint64(e[8:], sets[g.datasets[n]].header)
			}
		}
	}
	for d, q := range sets {
		putHeader(b[q.header:], 4, uint32(len(q.datasetMessage)))
		copy(b[q.header+ohPrefix:], q.datasetMessage)
		// The layout message is last: its address field sits 8 + 2 bytes
		// into it.
		le.PutUint64(b[q.header+ohPrefix+uint64(len(q.datasetMessage))-24+2:], q.data)
		if q.data != undefined {
			out := b[q.data:]
			for i, v := range d.data {
				le.PutUint32(out[4*i:], math.Float32bits(v))
			}
		}
	}
	return b, nil
}

// putEntry writes a group's symbol table entry, with the B-tree and heap
// cached in its scratch pad as libhdf5 does.
func putEntry(e []byte, name uint64, p *placed) {
	le := binary.LittleEndian
	le.PutUint64(e, name)
	le.PutUint64(e[8:], p.header)
	le.PutUint32(e[16:], 1)
	le.PutUint64(e[24:], p.btree)
	le.PutUint64(e[32:], p.heap)
}

// putHeader writes a version 1 object header's prefix.
func putHeader(h []byte, messages uint16, size uint32) {
	le := binary.LittleEndian
	h[0] = 1
	le.PutUint16(h[2:], messages)
	le.PutUint32(h[4:], 1) // reference count
	le.PutUint32(h[8:], size)
}

// datasetMessages returns a float32 dataset's header messages as h5py
// writes them: dataspace, datatype, fill value, then the contiguous
// layout, whose address Bytes fills in.
func datasetMessages(d *wdataset) []byte {
	le := binary.LittleEndian
	var out []byte
	msg := func(typ uint16, body []byte) {
		hdr := make([]byte, 8)
		le.PutUint16(hdr, typ)
		size := (len(body) + 7) &^ 7
		le.PutUint16(hdr[2:], uint16(size))
		out = append(out, hdr...)
		out = append(out, body...)
		out = append(out, make([]byte, size-len(body))...)
	}
	// Dataspace, version 1: rank, no maximum dimensions.
	space := make([]byte, 8+8*len(d.shape))
	space[0], space[1] = 1, byte(len(d.shape))
	for i, n := range d.shape {
		le.PutUint64(space[8+8*i:], uint64(n))
	}
	msg(0x0001, space)
	// Datatype: IEEE float32, little-endian.
	msg(0x0003, []byte{0x11, 0x20, 0x1f, 0x00, 4, 0, 0, 0, 0, 0, 32, 0, 23, 8, 0, 23, 127, 0, 0, 0})
	// Fill value, version 2: allocated late, written if set, default value.
	msg(0x0005, []byte{2, 2, 2, 1, 0, 0, 0, 0})
	// Layout, version 3, contiguous: address (filled in later) and size.
	layout := make([]byte, 18)
	layout[0], layout[1] = 3, 1
	le.PutUint64(layout[10:], 4*uint64(len(d.data)))
	msg(0x0008, layout)
	return out
}
