package h5

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Writer builds an HDF5 file in memory in the layout this package reads
// and h5py writes by default: a version 0 superblock, version 1 object
// headers, groups as symbol tables (a B-tree of libhdf5's default K over
// symbol table nodes of 8 members) and little-endian float32 datasets
// stored contiguously. It is what Keras's model.weights.h5 needs and
// nothing more. A Writer is not safe for concurrent use.
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

// Sizes of the fixed parts of the file (offsets and lengths of 8 bytes),
// and libhdf5's default K values, which h5py uses: a symbol table node
// holds up to 2 × leafK members, a B-tree node up to 2 × internalK
// children.
const (
	superblockSize = 96
	entrySize      = 40 // a symbol table entry
	leafK          = 4
	internalK      = 16
	snodSize       = 8 + 2*leafK*entrySize
	btreeSize      = 24 + 2*internalK*8 + (2*internalK+1)*8
	heapHeaderSize = 32
	ohPrefix       = 16 // version 1 object header prefix, aligned to 8
)

// placed is one object's place in the file.
type placed struct {
	header         uint64 // object header
	heap, heapData uint64 // groups: the local heap of member names
	heapSize       uint64
	names          []string          // members, sorted
	nameAt         map[string]uint64 // offset of each member's name in the heap
	snods          []uint64          // symbol table nodes, 2 × leafK members each
	levels         [][]btnode        // the B-tree, leaves (over snods) first
	data           uint64            // datasets
	datasetMessage []byte
}

// btnode is a group B-tree node: its address and its children's range
// (indexes into the level below, or into snods for level 0).
type btnode struct {
	addr   uint64
	lo, hi int
}

// root returns the group's B-tree root.
func (p *placed) root() uint64 {
	top := p.levels[len(p.levels)-1]
	return top[0].addr
}

// Bytes lays the file out and returns it.
func (w *Writer) Bytes() ([]byte, error) {
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
		for i := 0; i < len(p.names); i += 2 * leafK {
			p.snods = append(p.snods, alloc(snodSize))
		}
		// The B-tree: leaves over the symbol table nodes, then levels of
		// nodes over nodes until one root (an empty group has one empty
		// leaf).
		below := len(p.snods)
		for {
			var level []btnode
			for lo := 0; lo < below || (lo == 0 && below == 0); lo += 2 * internalK {
				level = append(level, btnode{addr: alloc(btreeSize), lo: lo, hi: min(lo+2*internalK, below)})
			}
			p.levels = append(p.levels, level)
			if len(level) == 1 {
				break
			}
			below = len(level)
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
	le.PutUint16(b[16:], leafK)
	le.PutUint16(b[18:], internalK)
	le.PutUint64(b[24:], 0)         // base address
	le.PutUint64(b[32:], undefined) // free-space info
	le.PutUint64(b[40:], at)        // end of file
	le.PutUint64(b[48:], undefined) // driver information
	putEntry(b[56:], 0, groups[w.root])

	// Second pass: write every object where the first put it.
	for g, p := range groups {
		putHeader(b[p.header:], 1, 8+16)
		m := b[p.header+ohPrefix:]
		le.PutUint16(m, 0x0011) // symbol table message
		le.PutUint16(m[2:], 16)
		le.PutUint64(m[8:], p.root())
		le.PutUint64(m[16:], p.heap)

		h := b[p.heap:]
		copy(h, "HEAP")
		le.PutUint64(h[8:], p.heapSize)
		le.PutUint64(h[16:], 1) // no free block (libhdf5's H5HL_FREE_NULL)
		le.PutUint64(h[24:], p.heapData)
		for _, n := range p.names {
			copy(b[p.heapData+p.nameAt[n]:], n)
		}

		// Symbol table nodes, and the last name each holds.
		last := make([]uint64, len(p.snods))
		for k, addr := range p.snods {
			members := p.names[k*2*leafK : min((k+1)*2*leafK, len(p.names))]
			s := b[addr:]
			copy(s, "SNOD")
			s[4] = 1
			le.PutUint16(s[6:], uint16(len(members)))
			for i, n := range members {
				e := s[8+i*entrySize:]
				if sub, ok := g.groups[n]; ok {
					putEntry(e, p.nameAt[n], groups[sub])
				} else {
					le.PutUint64(e, p.nameAt[n])
					le.PutUint64(e[8:], sets[g.datasets[n]].header)
				}
			}
			last[k] = p.nameAt[members[len(members)-1]]
		}
		// B-tree nodes: key i is the last name under the children before
		// child i (the empty name, offset 0, before the first), so a
		// name lies under child i when key i < name ≤ key i+1.
		children := p.snods
		for lv, level := range p.levels {
			nextLast := make([]uint64, len(level))
			for j, n := range level {
				t := b[n.addr:]
				copy(t, "TREE")
				t[5] = byte(lv) // node type 0 (group), level
				le.PutUint16(t[6:], uint16(n.hi-n.lo))
				le.PutUint64(t[8:], undefined)
				le.PutUint64(t[16:], undefined)
				if j > 0 {
					le.PutUint64(t[8:], level[j-1].addr)
				}
				if j+1 < len(level) {
					le.PutUint64(t[16:], level[j+1].addr)
				}
				if n.lo > 0 {
					le.PutUint64(t[24:], last[n.lo-1])
				}
				for i := n.lo; i < n.hi; i++ {
					at := 32 + 16*(i-n.lo)
					le.PutUint64(t[at:], children[i])
					le.PutUint64(t[at+8:], last[i])
				}
				if n.hi > n.lo {
					nextLast[j] = last[n.hi-1]
				}
			}
			children = make([]uint64, len(level))
			for j, n := range level {
				children[j] = n.addr
			}
			last = nextLast
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
	le.PutUint64(e[24:], p.root())
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
