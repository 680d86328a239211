package serving

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// What a gRPC connection makes the front end hold, outside any handler:
//   - request bytes: grpc-go lets a client send a whole message (up to
//     --max_body_bytes) before any of our code runs, so 320 streams each
//     sending 16 MiB - 1 byte held 5 GB and crashed the server (issue 23);
//   - answers: grpc-go queues an answer and writes it as the client's
//     flow-control window allows, so a client that never reads kept every
//     answer it asked for (20 unread answers held 1.6 GB for 100 s).
//
// The ledger charges both to the memory all requests share, at the
// HTTP/2 frame level, from the bytes on the connection: each DATA frame's
// bytes are charged to their stream as they are read (a connection whose
// bytes find no memory within a second is closed) and given back once the
// call's message is decoded (the codec then charges what decoding takes)
// or the stream ends; an answer is charged before grpc-go queues it and
// given back as its bytes are written. A connection that owes answer
// bytes and writes none for the write timeout is closed, which releases
// everything it held. With TLS the ledger sits above it: it reads frames,
// not ciphertext.

// answerLedger tracks what each gRPC connection holds.
type answerLedger struct {
	mem     *memory
	timeout time.Duration
	log     *slog.Logger
	dropped func()
	conns   sync.Map // remote address -> *ledgerConn
}

// answerLedger returns the ledger of s's gRPC connections: wrap the
// listener with its listen and pass its options to NewGRPCServer.
func (s *Server) answerLedger(writeTimeout time.Duration) *answerLedger {
	return &answerLedger{mem: s.mem, timeout: writeTimeout, log: s.log,
		dropped: func() { s.m.answersDropped.Inc() }}
}

// listen wraps ln so that every connection it accepts keeps its account.
func (l *answerLedger) listen(ln net.Listener) net.Listener { return &ledgerListener{ln, l} }

// options are the server options that charge each unary answer to its
// connection before grpc-go queues it, and release a request's bytes once
// it is decoded.
func (l *answerLedger) options() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StatsHandler(ledgerStats{l}), grpc.ChainUnaryInterceptor(l.unary)}
}

type ledgerListener struct {
	net.Listener
	l *answerLedger
}

func (ln *ledgerListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &ledgerConn{Conn: c, l: ln.l, key: c.RemoteAddr().String(), in: map[uint32]int64{}, owe: map[uint32]int64{},
		encoding: map[uint32]int64{}}
	lc.rd.skip = len(http2Preface)
	ln.l.conns.Store(lc.key, lc)
	return lc, nil
}

const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// ledgerConn is a connection with the request bytes it holds, per
// stream, and the answer bytes it still owes.
type ledgerConn struct {
	net.Conn
	l   *answerLedger
	key string
	rd  frameReader // the client's frames, read
	wr  frameReader // ours, written

	mu  sync.Mutex
	owe map[uint32]int64 // answer bytes not yet written, per stream
	// encoding is the share of owe charged for an answer's message while
	// grpc-go encodes it, paid back with its first DATA frame.
	encoding map[uint32]int64
	in       map[uint32]int64 // request bytes held per live stream
	// maxOpen is the newest stream the client opened: client streams
	// have increasing odd numbers, and HEADERS with a lower one are
	// trailers, not a new stream.
	maxOpen uint32
	owed    int64 // answer bytes not yet written, all streams
	timer   *time.Timer
	closed  bool
}

var errConnClosed = errors.New("the connection is closed")

// inWait is how long a connection's reader waits for memory for the
// request bytes it has read before the connection is closed.
const inWait = time.Second

// Read charges each DATA frame's bytes to its stream, and ends a stream's
// account when the client resets it.
func (c *ledgerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	var cerr error
	c.rd.feed(p[:n], func(f frameEvent) {
		switch {
		case cerr != nil:
		case f.typ == frameHeaders && f.start:
			cerr = c.open(f.stream)
		case f.typ == frameData && f.n > 0:
			cerr = c.chargeIn(f.stream, int64(f.n))
		case f.typ == frameRSTStream && f.start: // grpc-go drops the stream's queued answer
			c.releaseIn(f.stream)
			c.settle(f.stream)
		}
	})
	if cerr != nil {
		c.l.log.Info("closed a gRPC connection: the memory for its request bytes is spent", "remote", c.key, "err", cerr)
		c.Close()
		return n, cerr
	}
	return n, err
}

// chargeIn takes n request bytes of stream from the shared memory,
// waiting up to inWait for other requests to give some back.
func (c *ledgerConn) chargeIn(stream uint32, n int64) error {
	end := time.Now().Add(inWait)
	for {
		err := c.l.mem.take(n)
		if err == nil {
			break
		}
		if time.Now().After(end) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		c.l.mem.give(n)
		return errConnClosed
	}
	if _, live := c.in[stream]; !live {
		// Bytes of a stream already ended (a client still sending after
		// its call was dropped): grpc-go discards them as they come.
		c.l.mem.give(n)
		return nil
	}
	c.in[stream] += n
	return nil
}

// streamCost is what one open stream holds besides its bytes: grpc-go's
// stream state, its handler goroutine's stack, its timers (3,200 stalled
// streams held about 70 MB more than their bytes).
const streamCost = 32 << 10

// open starts the account of a stream the client opened (or continued:
// trailers from a client are HEADERS too), charged its streamCost.
func (c *ledgerConn) open(stream uint32) error {
	c.mu.Lock()
	fresh := !c.closed && stream > c.maxOpen
	if fresh {
		c.maxOpen = stream
		c.in[stream] = 0
	}
	c.mu.Unlock()
	if !fresh {
		return nil
	}
	return c.chargeIn(stream, streamCost)
}

// releaseIn gives back what stream's request bytes held.
func (c *ledgerConn) releaseIn(stream uint32) {
	c.mu.Lock()
	n := c.in[stream]
	delete(c.in, stream)
	c.mu.Unlock()
	c.l.mem.give(n)
}

// charge takes n answer bytes of stream from the shared memory.
func (c *ledgerConn) charge(stream uint32, n int64) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return errConnClosed
	}
	if err := c.l.mem.take(n); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed { // closed meanwhile: nothing will be written
		c.l.mem.give(n)
		return errConnClosed
	}
	c.owe[stream] += n
	c.owed += n
	if c.timer == nil {
		c.timer = time.AfterFunc(c.l.timeout, c.stalled)
	} else if c.owed == n {
		c.timer.Reset(c.l.timeout)
	}
	return nil
}

// pay gives back n written answer bytes of stream, and with its first
// DATA frame the share charged while it was encoded.
func (c *ledgerConn) pay(stream uint32, n int64) {
	c.mu.Lock()
	n += c.encoding[stream]
	delete(c.encoding, stream)
	r := min(n, c.owe[stream])
	if r > 0 {
		c.owe[stream] -= r
		c.owed -= r
	}
	c.mu.Unlock()
	c.l.mem.give(r)
}

// settle gives back what stream still owes: its trailers or reset went
// out, or the client reset it (grpc-go then drops what was queued).
func (c *ledgerConn) settle(stream uint32) {
	c.mu.Lock()
	r := c.owe[stream]
	delete(c.owe, stream)
	delete(c.encoding, stream)
	c.owed -= r
	c.mu.Unlock()
	c.l.mem.give(r)
}

// Write gives back each stream's answer bytes as its DATA frames go out,
// and what a stream still holds when its trailers or reset go out.
func (c *ledgerConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n <= 0 {
		return n, err
	}
	c.wr.feed(p[:n], func(f frameEvent) {
		switch {
		case f.typ == frameData && f.n > 0:
			c.pay(f.stream, int64(f.n))
		case f.start && (f.typ == frameRSTStream || (f.typ == frameHeaders && f.flags&flagEndStream != 0)):
			c.releaseIn(f.stream)
			c.settle(f.stream)
		}
	})
	c.mu.Lock()
	if c.owed > 0 {
		c.timer.Reset(c.l.timeout) // progress: a new full timeout
	} else if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	return n, err
}

// stalled closes the connection when it still owes bytes after a whole
// write timeout without writing any.
func (c *ledgerConn) stalled() {
	c.mu.Lock()
	owed := c.owed
	c.mu.Unlock()
	if owed == 0 {
		return
	}
	c.l.log.Info("dropped a gRPC connection whose client did not read its answer",
		"remote", c.key, "unwritten_bytes", owed, "write_timeout", c.l.timeout.String())
	c.l.dropped()
	c.Close()
}

// Close gives back everything the connection held. Idempotent.
func (c *ledgerConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	r := c.owed
	c.owed = 0
	clear(c.owe)
	clear(c.encoding)
	for _, n := range c.in {
		r += n
	}
	clear(c.in)
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.l.mem.give(r)
	c.l.conns.CompareAndDelete(c.key, c)
	return c.Conn.Close()
}

// HTTP/2 frame types and flags the ledger follows (RFC 9113 §6).
const (
	frameData      = 0x0
	frameHeaders   = 0x1
	frameRSTStream = 0x3
	flagEndStream  = 0x1
)

// frameEvent is a piece of one frame's payload as it goes by: start is
// set once per frame, when its header is complete (n may be 0).
type frameEvent struct {
	typ, flags byte
	stream     uint32
	start      bool
	n          int
}

// frameReader follows HTTP/2 frame boundaries across a byte stream cut
// anywhere.
type frameReader struct {
	skip  int // preface bytes still to pass
	hdr   [9]byte
	nhdr  int
	left  int // payload bytes left in the current frame
	typ   byte
	flags byte
	id    uint32
}

func (r *frameReader) feed(b []byte, on func(frameEvent)) {
	for len(b) > 0 {
		switch {
		case r.skip > 0:
			k := min(r.skip, len(b))
			r.skip -= k
			b = b[k:]
		case r.left > 0:
			k := min(r.left, len(b))
			r.left -= k
			b = b[k:]
			on(frameEvent{typ: r.typ, flags: r.flags, stream: r.id, n: k})
		default:
			k := copy(r.hdr[r.nhdr:], b)
			r.nhdr += k
			b = b[k:]
			if r.nhdr < len(r.hdr) {
				return
			}
			r.nhdr = 0
			r.left = int(r.hdr[0])<<16 | int(r.hdr[1])<<8 | int(r.hdr[2])
			r.typ, r.flags = r.hdr[3], r.hdr[4]
			r.id = (uint32(r.hdr[5])<<24 | uint32(r.hdr[6])<<16 | uint32(r.hdr[7])<<8 | uint32(r.hdr[8])) & 0x7fffffff
			on(frameEvent{typ: r.typ, flags: r.flags, stream: r.id, start: true})
		}
	}
}

type ledgerKey struct{}

// ledgerStats puts each connection's ledger in its calls' contexts.
type ledgerStats struct{ l *answerLedger }

func (ls ledgerStats) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	if info.RemoteAddr == nil {
		return ctx
	}
	if c, ok := ls.l.conns.Load(info.RemoteAddr.String()); ok {
		return context.WithValue(ctx, ledgerKey{}, c)
	}
	return ctx
}
func (ledgerStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (ledgerStats) HandleConn(context.Context, stats.ConnStats)                     {}
func (ledgerStats) HandleRPC(context.Context, stats.RPCStats)                       {}

// unary gives back a call's request bytes once its message is decoded,
// and charges its answer to its connection once the handler has made it;
// what the memory cannot hold is RESOURCE_EXHAUSTED instead.
func (l *answerLedger) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	c, ok := ctx.Value(ledgerKey{}).(*ledgerConn)
	id, found := streamID(ctx)
	if ok && found {
		c.releaseIn(id)
	}
	resp, err := h(ctx, req)
	if err != nil || !ok || !found {
		return resp, err
	}
	m, isProto := resp.(proto.Message)
	if !isProto {
		return resp, nil
	}
	// Twice its size until its first DATA frame goes out: grpc-go encodes
	// the answer into a buffer of its own while the message (whose
	// tensors hold as many bytes) is still live. Charged once, 20 unread
	// answers of 60 MB peaked at the budget + 13% in three runs of four
	// (TestHostileWire's unread gRPC answers).
	n := int64(proto.Size(m))
	if err := c.charge(id, 2*n); err != nil {
		return nil, status.Error(codes.ResourceExhausted, fmt.Sprintf("the answer takes %d bytes, twice that while it is encoded: %v", n, err))
	}
	c.mu.Lock()
	if !c.closed {
		c.encoding[id] += n
	}
	c.mu.Unlock()
	return resp, nil
}

// streamID is the HTTP/2 stream of the call in ctx, read from grpc-go's
// transport stream (its id field: grpc-go exports no accessor). When it
// cannot be read, the request bytes are given back when the stream ends
// instead, a little later, and answers go uncharged (TestStreamIDReadable
// catches that first).
func streamID(ctx context.Context) (uint32, bool) {
	st := grpc.ServerTransportStreamFromContext(ctx)
	if st == nil {
		return 0, false
	}
	v := reflect.ValueOf(st)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return 0, false
	}
	f := v.Elem().FieldByName("id")
	if !f.IsValid() || f.Kind() != reflect.Uint32 {
		return 0, false
	}
	return uint32(f.Uint()), true
}
