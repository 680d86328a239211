package h5

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// reader reads little-endian fields from the file at an offset, bounds
// checked: the first out-of-range read sets err and every later one reads
// zeros.
type reader struct {
	f    *File
	off  uint64
	end  uint64 // 0: the end of the file
	what string
	err  error
}

func (r *reader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	end := uint64(len(r.f.b))
	if r.end != 0 && r.end < end {
		end = r.end
	}
	if r.off > end || n > end-r.off {
		r.err = fmt.Errorf("%w: %s: %d bytes at offset %d run past the end (%d)", ErrFormat, r.what, n, r.off, end)
		return nil
	}
	p := r.f.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) skip(n uint64) { r.take(n) }

func (r *reader) u8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// at returns a reader at a file address (relative to the base address).
func (f *File) at(addr uint64, what string) reader {
	r := reader{f: f, what: what}
	if addr == undefined || addr > math.MaxUint64-f.base {
		r.err = fmt.Errorf("%w: %s: undefined or impossible address %#x", ErrFormat, what, addr)
		return r
	}
	r.off = f.base + addr
	return r
}

// header is what the reader takes from an object header.
type header struct {
	symtab         bool
	btree, heap    uint64
	shape          []int64
	hasSpace       bool
	class          Class
	size           int
	hasType        bool
	layout         *layout
	filtered       bool
	linkStyleGroup bool
}

type layout struct {
	class   int // 0 compact, 1 contiguous, 2 chunked
	addr    uint64
	size    uint64
	compact []byte
}

// maxMessages bounds the messages (and continuation blocks) one object
// header may have, so a crafted header cannot loop.
const maxMessages = 4096

// header returns the version 1 object header at addr, parsed once: a
// file whose groups link one object many times costs one parse.
func (f *File) header(path string, addr uint64) (*header, error) {
	f.mu.Lock()
	h, ok := f.headers[addr]
	f.mu.Unlock()
	if ok {
		return h, nil
	}
	h, err := f.parseHeader(path, addr)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.headers == nil {
		f.headers = map[uint64]*header{}
	}
	f.headers[addr] = h
	f.mu.Unlock()
	return h, nil
}

func (f *File) parseHeader(path string, addr uint64) (*header, error) {
	r := f.at(addr, path+": object header")
	version := r.u8()
	if r.err != nil {
		return nil, r.err
	}
	if version != 1 {
		if version == 'O' { // "OHDR"
			return nil, fmt.Errorf("%w: %s: version 2 object headers (h5py's libver=\"latest\") are not read; save the file with h5py's default settings, as Keras does", ErrFormat, path)
		}
		return nil, fmt.Errorf("%w: %s: object header version %d", ErrFormat, path, version)
	}
	r.skip(1)
	count := int(r.u16())
	r.skip(4) // reference count
	size := uint64(r.u32())
	r.skip(4) // alignment to 8 bytes
	if r.err != nil {
		return nil, r.err
	}
	h := &header{}
	what := path + ": header message"
	type block struct{ off, size uint64 }
	blocks := []block{{r.off, size}}
	seen := 0
	for len(blocks) > 0 && seen < count {
		b := blocks[0]
		blocks = blocks[1:]
		br := reader{f: f, off: b.off, what: path + ": object header", end: b.off + b.size}
		if b.off+b.size < b.off || b.off+b.size > uint64(len(f.b)) {
			return nil, fmt.Errorf("%w: %s: object header block of %d bytes at %d runs past the end (%d)", ErrFormat, path, b.size, b.off, len(f.b))
		}
		for br.off+8 <= br.end && seen < count {
			typ := br.u16()
			msize := uint64(br.u16())
			br.skip(4) // flags, reserved
			body := br.take(msize)
			if br.err != nil {
				return nil, br.err
			}
			seen++
			if seen > maxMessages {
				return nil, fmt.Errorf("%w: %s: more than %d header messages", ErrFormat, path, maxMessages)
			}
			mr := reader{f: &File{b: body}, what: what}
			switch typ {
			case 0x0001:
				h.hasSpace = true
				h.shape = mr.dataspace()
			case 0x0003:
				h.hasType = true
				h.class, h.size = mr.datatype()
			case 0x0008:
				h.layout = mr.layoutMessage()
			case 0x000B:
				h.filtered = true
			case 0x0002, 0x0006, 0x000A:
				h.linkStyleGroup = true
			case 0x0010: // continuation
				off, n := mr.u64(), mr.u64()
				if mr.err == nil {
					if off == undefined || off > math.MaxUint64-f.base {
						return nil, fmt.Errorf("%w: %s: continuation at an undefined address", ErrFormat, path)
					}
					blocks = append(blocks, block{f.base + off, n})
				}
			case 0x0011:
				h.symtab = true
				h.btree, h.heap = mr.u64(), mr.u64()
			}
			if mr.err != nil {
				return nil, fmt.Errorf("%w (message type %#x)", mr.err, typ)
			}
		}
		if len(blocks) > maxMessages {
			return nil, fmt.Errorf("%w: %s: more than %d header continuation blocks", ErrFormat, path, maxMessages)
		}
	}
	return h, nil
}

// dataspace reads a dataspace message (versions 1 and 2).
func (r *reader) dataspace() []int64 {
	version := r.u8()
	rank := int(r.u8())
	flags := r.u8()
	switch version {
	case 1:
		r.skip(5)
	case 2:
		if typ := r.u8(); typ == 2 { // null dataspace
			return []int64{0}
		}
	default:
		if r.err == nil {
			r.err = fmt.Errorf("%w: %s: dataspace version %d", ErrFormat, r.what, version)
		}
		return nil
	}
	if rank > 32 {
		r.err = fmt.Errorf("%w: %s: rank %d (at most 32)", ErrFormat, r.what, rank)
		return nil
	}
	shape := make([]int64, rank)
	for i := range shape {
		d := r.u64()
		if d > math.MaxInt32 {
			if r.err == nil {
				r.err = fmt.Errorf("%w: %s: dimension %d is %d", ErrFormat, r.what, i, d)
			}
			return nil
		}
		shape[i] = int64(d)
	}
	_ = flags // maximum dimensions and permutations follow; the reader needs neither
	return shape
}

// datatype reads a datatype message: fixed-point and floating-point,
// little-endian, whole bytes.
func (r *reader) datatype() (Class, int) {
	cv := r.u8()
	bits0 := r.u8()
	r.skip(2)
	size := int(r.u32())
	if r.err != nil {
		return 0, 0
	}
	class := cv & 0x0f
	if (class == 0 || class == 1) && bits0&1 != 0 {
		r.err = fmt.Errorf("%w: %s: big-endian numbers are not read", ErrFormat, r.what)
		return 0, 0
	}
	switch class {
	case 0:
		if size != 1 && size != 2 && size != 4 && size != 8 {
			break
		}
		if bits0&0x08 != 0 {
			return Int, size
		}
		return Uint, size
	case 1:
		if size == 2 || size == 4 || size == 8 {
			if bits0&0x40 != 0 { // VAX order
				break
			}
			return Float, size
		}
	}
	names := []string{"fixed-point", "floating-point", "time", "string", "bitfield", "opaque", "compound", "reference", "enum", "variable-length", "array"}
	name := fmt.Sprintf("class %d", class)
	if int(class) < len(names) {
		name = names[class]
	}
	r.err = fmt.Errorf("%w: %s: %s data of %d bytes is not read (integers and floats of 1, 2, 4 or 8 bytes are)", ErrFormat, r.what, name, size)
	return 0, 0
}

// layoutMessage reads a data layout message (version 3; versions 1 and 2
// for contiguous and compact data).
func (r *reader) layoutMessage() *layout {
	version := r.u8()
	switch version {
	case 3:
		l := &layout{class: int(r.u8())}
		switch l.class {
		case 0:
			n := uint64(r.u16())
			l.compact = r.take(n)
			l.size = n
		case 1:
			l.addr, l.size = r.u64(), r.u64()
		}
		return l
	case 1, 2:
		rank := uint64(r.u8())
		l := &layout{class: int(r.u8())}
		r.skip(5)
		if l.class != 0 {
			l.addr = r.u64()
		}
		elems := uint64(1)
		for i := uint64(0); i < rank; i++ {
			elems *= uint64(r.u32())
		}
		if l.class == 0 {
			n := uint64(r.u32())
			l.compact = r.take(n)
			l.size = n
		} else {
			l.size = math.MaxUint64 // checked against the dataspace
		}
		return l
	}
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s: data layout version %d", ErrFormat, r.what, version)
	}
	return nil
}

func (f *File) group(path string, addr uint64) (*Group, error) {
	h, err := f.header(path, addr)
	if err != nil {
		return nil, err
	}
	if !h.symtab {
		if h.linkStyleGroup {
			return nil, fmt.Errorf("%w: %s: a group stored as link messages (h5py's libver=\"latest\") is not read; save the file with h5py's default settings, as Keras does", ErrFormat, path)
		}
		return nil, fmt.Errorf("h5: %s is not a group", path)
	}
	g := &Group{f: f, Path: path, members: map[string]uint64{}}
	heap, err := f.localHeap(path, h.heap)
	if err != nil {
		return nil, err
	}
	visited := map[uint64]bool{}
	if err := f.walkBTree(path, h.btree, heap, g.members, visited, 0); err != nil {
		return nil, err
	}
	return g, nil
}

// localHeap returns a local heap's data segment.
func (f *File) localHeap(path string, addr uint64) ([]byte, error) {
	r := f.at(addr, path+": local heap")
	if sig := r.take(4); r.err == nil && string(sig) != "HEAP" {
		return nil, fmt.Errorf("%w: %s: local heap signature %q", ErrFormat, path, sig)
	}
	r.skip(4) // version, reserved
	size := r.u64()
	r.skip(8) // free list
	data := r.u64()
	if r.err != nil {
		return nil, r.err
	}
	dr := f.at(data, path+": local heap data")
	seg := dr.take(size)
	return seg, dr.err
}

// maxDepth bounds a group B-tree's levels.
const maxDepth = 32

// walkBTree adds the symbol table entries under a version 1 group B-tree
// node to members.
func (f *File) walkBTree(path string, addr uint64, heap []byte, members map[string]uint64, visited map[uint64]bool, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: %s: group B-tree deeper than %d levels", ErrFormat, path, maxDepth)
	}
	if visited[addr] {
		return fmt.Errorf("%w: %s: group B-tree node at %d is reached twice", ErrFormat, path, addr)
	}
	visited[addr] = true
	r := f.at(addr, path+": group B-tree")
	sig := r.take(4)
	if r.err != nil {
		return r.err
	}
	if string(sig) != "TREE" {
		return fmt.Errorf("%w: %s: group B-tree signature %q", ErrFormat, path, sig)
	}
	if typ := r.u8(); typ != 0 {
		return fmt.Errorf("%w: %s: B-tree node type %d where a group's (0) belongs", ErrFormat, path, typ)
	}
	level := r.u8()
	used := int(r.u16())
	r.skip(16) // siblings
	r.skip(8)  // key 0
	children := make([]uint64, 0, min(used, 1024))
	for i := 0; i < used && r.err == nil; i++ {
		children = append(children, r.u64())
		r.skip(8) // key i+1
	}
	if r.err != nil {
		return r.err
	}
	for _, c := range children {
		var err error
		if level > 0 {
			err = f.walkBTree(path, c, heap, members, visited, depth+1)
		} else {
			err = f.symbolNode(path, c, heap, members, visited)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// symbolNode adds a symbol table node's entries to members.
func (f *File) symbolNode(path string, addr uint64, heap []byte, members map[string]uint64, visited map[uint64]bool) error {
	if visited[addr] {
		return fmt.Errorf("%w: %s: symbol table node at %d is reached twice", ErrFormat, path, addr)
	}
	visited[addr] = true
	r := f.at(addr, path+": symbol table node")
	sig := r.take(4)
	if r.err != nil {
		return r.err
	}
	if string(sig) != "SNOD" {
		return fmt.Errorf("%w: %s: symbol table node signature %q", ErrFormat, path, sig)
	}
	r.skip(2)
	n := int(r.u16())
	for i := 0; i < n; i++ {
		nameOff := r.u64()
		obj := r.u64()
		r.skip(24) // cache type, reserved, scratch pad
		if r.err != nil {
			return r.err
		}
		if nameOff >= uint64(len(heap)) {
			return fmt.Errorf("%w: %s: a member's name at %d is outside the group's heap (%d bytes)", ErrFormat, path, nameOff, len(heap))
		}
		name := heap[nameOff:]
		end := bytes.IndexByte(name, 0)
		if end < 0 {
			return fmt.Errorf("%w: %s: a member's name is not terminated", ErrFormat, path)
		}
		if end == 0 {
			return fmt.Errorf("%w: %s: a member has an empty name", ErrFormat, path)
		}
		s := string(name[:end])
		if _, dup := members[s]; dup {
			return fmt.Errorf("%w: %s: member %q is listed twice", ErrFormat, path, s)
		}
		members[s] = obj
	}
	return nil
}

// maxUnwritten bounds the elements of a dataset that has no data in the
// file, which reads as zeros: a crafted header cannot make the reader
// allocate more (64 MiB as float32, 128 MiB as int64).
const maxUnwritten = 1 << 24

func (f *File) dataset(path string, addr uint64) (*Dataset, error) {
	h, err := f.header(path, addr)
	if err != nil {
		return nil, err
	}
	if h.symtab {
		return nil, fmt.Errorf("h5: %s is a group, not a dataset", path)
	}
	if !h.hasSpace || !h.hasType || h.layout == nil {
		return nil, fmt.Errorf("%w: %s: a dataset without a dataspace, datatype or layout", ErrFormat, path)
	}
	if h.filtered {
		return nil, fmt.Errorf("%w: %s: filtered (compressed) data is not read; Keras writes none", ErrFormat, path)
	}
	d := &Dataset{Path: path, Addr: addr, Shape: h.shape, Class: h.class, Size: h.size}
	n := uint64(1)
	for _, s := range h.shape {
		if s != 0 && n > math.MaxInt64/uint64(s) {
			return nil, fmt.Errorf("%w: %s: shape %v is too large", ErrFormat, path, h.shape)
		}
		n *= uint64(s)
	}
	if n > math.MaxInt64/uint64(h.size) {
		return nil, fmt.Errorf("%w: %s: shape %v is too large", ErrFormat, path, h.shape)
	}
	want := n * uint64(h.size)
	switch h.layout.class {
	case 0:
		if uint64(len(h.layout.compact)) < want {
			return nil, fmt.Errorf("%w: %s: %d bytes of compact data for shape %v of %s", ErrFormat, path, len(h.layout.compact), h.shape, d.DType())
		}
		d.raw = h.layout.compact[:want]
	case 1:
		if h.layout.addr == undefined { // never written: the fill value, zeros
			if n > maxUnwritten {
				return nil, fmt.Errorf("%w: %s: %d elements never written (shape %v); at most %d are taken as zeros", ErrFormat, path, n, h.shape, maxUnwritten)
			}
			return d, nil
		}
		if h.layout.size != math.MaxUint64 && h.layout.size < want {
			return nil, fmt.Errorf("%w: %s: %d bytes stored for shape %v of %s (%d bytes)", ErrFormat, path, h.layout.size, h.shape, d.DType(), want)
		}
		r := f.at(h.layout.addr, path+": data")
		d.raw = r.take(want)
		if r.err != nil {
			return nil, r.err
		}
	case 2:
		return nil, fmt.Errorf("%w: %s: chunked data is not read; Keras writes none", ErrFormat, path)
	default:
		return nil, fmt.Errorf("%w: %s: data layout class %d", ErrFormat, path, h.layout.class)
	}
	return d, nil
}
