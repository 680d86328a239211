package serving

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// A gRPC answer outlives its handler: grpc-go queues it and writes it as
// the client's flow-control window allows, so a client that never reads
// kept every answer it asked for (issue 23: 20 unread answers held 1.6 GB
// for 100 s, with nothing charged anywhere). The answer ledger charges an
// answer's bytes to the memory all requests share before grpc-go takes
// it, gives them back as bytes leave on the connection, and closes a
// connection that owes bytes and writes none for the write timeout, which
// releases what it owed.

// answerLedger tracks what each gRPC connection still has to write.
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
// connection before grpc-go queues it.
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
	lc := &ledgerConn{Conn: c, l: ln.l, key: c.RemoteAddr().String()}
	ln.l.conns.Store(lc.key, lc)
	return lc, nil
}

// ledgerConn is a connection with the answer bytes it still owes.
type ledgerConn struct {
	net.Conn
	l      *answerLedger
	key    string
	mu     sync.Mutex
	owed   int64
	timer  *time.Timer
	closed bool
}

var errConnClosed = errors.New("the connection is closed")

// charge takes n answer bytes from the shared memory for this connection.
func (c *ledgerConn) charge(n int64) error {
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
	c.owed += n
	if c.timer == nil {
		c.timer = time.AfterFunc(c.l.timeout, c.stalled)
	} else if c.owed == n {
		c.timer.Reset(c.l.timeout)
	}
	return nil
}

// Write gives back as many owed bytes as were written. Frame headers and
// other calls' bytes count too, so the ledger releases a little early,
// never more than it took.
func (c *ledgerConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.mu.Lock()
		r := min(int64(n), c.owed)
		c.owed -= r
		if c.owed > 0 {
			c.timer.Reset(c.l.timeout) // progress: a new full timeout
		} else if c.timer != nil {
			c.timer.Stop()
		}
		c.mu.Unlock()
		c.l.mem.give(r)
	}
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

// Close gives back what the connection still owed. Idempotent.
func (c *ledgerConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	r := c.owed
	c.owed = 0
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.l.mem.give(r)
	c.l.conns.CompareAndDelete(c.key, c)
	return c.Conn.Close()
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

// unary charges a call's answer to its connection once the handler has
// made it; what the memory cannot hold is RESOURCE_EXHAUSTED instead.
func (l *answerLedger) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := h(ctx, req)
	if err != nil {
		return resp, err
	}
	c, ok := ctx.Value(ledgerKey{}).(*ledgerConn)
	m, isProto := resp.(proto.Message)
	if !ok || !isProto {
		return resp, nil
	}
	n := int64(proto.Size(m))
	if err := c.charge(n); err != nil {
		return nil, status.Error(codes.ResourceExhausted, fmt.Sprintf("the answer takes %d bytes: %v", n, err))
	}
	return resp, nil
}
