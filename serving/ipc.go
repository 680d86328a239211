package serving

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/tfgo-project/gotf/tfwrap"
)

// The channel between the front end and a worker process is a Unix
// socket carrying frames: a 4-byte little-endian length, then a type
// byte, an 8-byte request id and the payload. Requests and replies are
// matched by id, so many requests share one socket at once.

const (
	msgLoad    byte = 1 // handle, dir, tags, run timeout, batching, warm-up → msgOK(signatures JSON)
	msgUnload  byte = 2 // handle → msgOK
	msgPredict byte = 3 // handle, signature, inputs, output filter, output cap → msgOK(outputs)
	msgOK      byte = 4
	msgErr     byte = 5 // HTTP status, message

	frameHeader = 4 + 1 + 8
	maxRank     = 64
)

type frame struct {
	typ  byte
	id   uint64
	body []byte
}

// appendFrame appends one frame to b.
func appendFrame(b []byte, typ byte, id uint64, body []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(1+8+len(body)))
	b = append(b, typ)
	b = binary.LittleEndian.AppendUint64(b, id)
	return append(b, body...)
}

// writeFrame writes one frame as its header, then its body's parts where
// they lie: no copy of a large body (a write per part instead of one).
func writeFrame(w io.Writer, typ byte, id uint64, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var hdr [frameHeader]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(1+8+n))
	hdr[4] = typ
	binary.LittleEndian.PutUint64(hdr[5:], id)
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	for _, p := range parts {
		if len(p) == 0 {
			continue
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// readFrame reads one frame of at most max bytes.
func readFrame(r io.Reader, max int) (frame, error) {
	return readFrameCharged(r, max, func(uint64, int) error { return nil })
}

// readFrameCharged is readFrame that first passes the frame's id and body
// size to charge: when it refuses, the body is read away, not held, and
// the frame returned is an error frame with charge's reason.
func readFrameCharged(r io.Reader, max int, charge func(id uint64, n int) error) (frame, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	n := int(binary.LittleEndian.Uint32(hdr[:4]))
	if n < 9 || n-9 > max {
		return frame{}, fmt.Errorf("ipc: frame of %d bytes (limit %d)", n, max)
	}
	f := frame{typ: hdr[4], id: binary.LittleEndian.Uint64(hdr[5:])}
	if err := charge(f.id, n-9); err != nil {
		if _, err := io.CopyN(io.Discard, r, int64(n-9)); err != nil {
			return frame{}, err
		}
		return frame{typ: msgErr, id: f.id, body: errBody(fmt.Errorf("the model's answer of %d bytes: %w", n-9, err))}, nil
	}
	f.body = make([]byte, n-9)
	if _, err := io.ReadFull(r, f.body); err != nil {
		return frame{}, err
	}
	return f, nil
}

// wbuf builds a payload. With ref set, raw keeps byte slices of refMin
// bytes or more where they lie, as parts of the payload to write in turn
// (a tensor's elements are not copied into the frame); parts then is the
// payload, b only its last part.
type wbuf struct {
	b    []byte
	ref  bool
	segs [][]byte
}

// refMin is the size from which wbuf refers to a tensor's bytes rather
// than copying them: below it one write of a copy costs less than a
// write per part.
const refMin = 64 << 10

// parts is the payload as the slices to write in turn.
func (w *wbuf) parts() [][]byte { return append(w.segs, w.b) }

func (w *wbuf) uv(x uint64)  { w.b = binary.AppendUvarint(w.b, x) }
func (w *wbuf) v(x int64)    { w.b = binary.AppendVarint(w.b, x) }
func (w *wbuf) str(s string) { w.uv(uint64(len(s))); w.b = append(w.b, s...) }

// flag writes a bool as 1 or 0.
func (w *wbuf) flag(b bool) {
	if b {
		w.uv(1)
	} else {
		w.uv(0)
	}
}
func (w *wbuf) raw(p []byte) {
	w.uv(uint64(len(p)))
	if w.ref && len(p) >= refMin {
		w.segs = append(w.segs, w.b, p)
		w.b = nil
		return
	}
	w.b = append(w.b, p...)
}
func (w *wbuf) strs(s []string) {
	w.uv(uint64(len(s)))
	for _, x := range s {
		w.str(x)
	}
}

func (w *wbuf) tensor(t Tensor) {
	w.uv(uint64(t.DType))
	w.uv(uint64(len(t.Shape)))
	for _, d := range t.Shape {
		w.v(d)
	}
	if t.DType == tfwrap.String {
		w.strs(t.Strings)
	} else {
		w.raw(t.Data)
	}
}

func (w *wbuf) tensors(m map[string]Tensor) {
	w.uv(uint64(len(m)))
	for _, k := range sortedKeys(m) {
		w.str(k)
		w.tensor(m[k])
	}
}

var errShortPayload = errors.New("ipc: malformed payload")

// rbuf reads a payload; the first error sticks and every later read
// returns a zero value.
type rbuf struct {
	b   []byte
	err error
}

func (r *rbuf) fail() { r.err, r.b = errShortPayload, nil }

func (r *rbuf) uv() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *rbuf) v() int64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *rbuf) raw() []byte {
	n := r.uv()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *rbuf) str() string { return string(r.raw()) }

// count reads a length that must not exceed what the rest could hold.
func (r *rbuf) count() int {
	n := r.uv()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *rbuf) strs() []string {
	n := r.count()
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.str())
	}
	return out
}

func (r *rbuf) tensor() Tensor {
	t := Tensor{DType: tfwrap.DType(r.uv())}
	rank := r.uv()
	if rank > maxRank {
		r.fail()
		return t
	}
	t.Shape = make([]int64, rank)
	for i := range t.Shape {
		t.Shape[i] = r.v()
	}
	if t.DType == tfwrap.String {
		t.Strings = r.strs()
	} else {
		t.Data = r.raw()
	}
	if r.err == nil {
		if err := t.check(); err != nil {
			r.err = fmt.Errorf("ipc: tensor: %w", err)
		}
	}
	return t
}

func (r *rbuf) tensors() map[string]Tensor {
	n := r.count()
	out := make(map[string]Tensor, n)
	for range n {
		k := r.str()
		out[k] = r.tensor()
	}
	return out
}

// remoteError is an error a worker reported, with the HTTP status the
// worker's classifier gave it.
type remoteError struct {
	code int
	msg  string
}

func (e *remoteError) Error() string { return e.msg }

func errBody(err error) []byte {
	var w wbuf
	w.uv(uint64(codeOf(err)))
	w.str(err.Error())
	return w.b
}

func parseErr(body []byte) error {
	r := rbuf{b: body}
	code, msg := int(r.uv()), r.str()
	if r.err != nil {
		return fmt.Errorf("worker sent a malformed error")
	}
	return &remoteError{code: code, msg: msg}
}
