package serving

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// grpc-go decodes a request before any handler sees it, and protobuf
// messages can grow many times over when decoded: 8M empty
// resource_handle_val of 2 bytes each became 879 MB, a 1.37M-key map 669
// MB. budgetCodec estimates, from the wire bytes and the message's
// descriptor, what decoding will allocate, takes that from the memory all
// requests share first, and decodes nothing when it is not there: the
// interceptors then answer RESOURCE_EXHAUSTED and give the memory back
// when the call is done.

// budgetCodec is the "proto" codec with the memory check in front.
type budgetCodec struct {
	proto encoding.CodecV2
	mem   *memory
	// held maps a decoded message to what it took (or why it was refused)
	// until the interceptor of its call takes it out.
	held sync.Map // any (the message) -> charge
	// encoding maps an answer to what its message holds until grpc-go
	// has encoded it (the encoding is charged by the answer ledger).
	encoding sync.Map // any (the message) -> int64
}

type charge struct {
	n   int64
	err error
}

func newBudgetCodec(mem *memory) *budgetCodec {
	return &budgetCodec{proto: encoding.GetCodecV2("proto"), mem: mem}
}

func (c *budgetCodec) Name() string { return c.proto.Name() }

// Marshal encodes an answer, then gives back what unary charged for
// the answer's message while it was being encoded.
func (c *budgetCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := c.proto.Marshal(v)
	if n, ok := c.encoding.LoadAndDelete(v); ok {
		c.mem.give(n.(int64))
	}
	return b, err
}

// estimate is twice decodedSize: slices grow by doubling while decoding.
func (c *budgetCodec) estimate(b []byte, m proto.Message) int64 {
	return 2 * decodedSize(b, m.ProtoReflect().Descriptor(), 0)
}

// refuse leaves v empty and records why, for the interceptor to answer.
func (c *budgetCodec) refuse(v any, err error) error {
	if old, loaded := c.held.LoadOrStore(v, charge{err: err}); loaded {
		c.held.Store(v, charge{n: old.(charge).n, err: err})
	}
	return nil
}

// take removes and returns what decoding v took.
func (c *budgetCodec) take(v any) (charge, bool) {
	x, ok := c.held.LoadAndDelete(v)
	if !ok {
		return charge{}, false
	}
	return x.(charge), true
}

// Unmarshal decodes data into v once its estimated size is taken from the
// shared memory; past it, v stays empty and the call is refused.
func (c *budgetCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	// The message arrives in frame-sized pieces; parsing needs them in
	// one piece, a copy charged first.
	size := int64(data.Len())
	if err := c.mem.take(size); err != nil {
		return c.refuse(v, fmt.Errorf("the request's %d bytes: %w", size, err))
	}
	defer c.mem.give(size)
	buf := data.Materialize() // the collector's, not a pool's
	n := c.estimate(buf, m)
	if err := c.mem.take(n); err != nil {
		return c.refuse(v, fmt.Errorf("decoding the request would take about %d bytes: %w", n, err))
	}
	if err := proto.Unmarshal(buf, m); err != nil {
		c.mem.give(n)
		return err
	}
	if old, loaded := c.held.LoadOrStore(v, charge{n: n}); loaded { // a second message into the same one
		c.held.Store(v, charge{n: old.(charge).n + n, err: old.(charge).err})
	}
	return nil
}

// rpcCall is what one RPC holds through the codec, kept from the stats
// handler's TagRPC to its End, which gives back whatever is left: grpc-go
// decodes a message, then may fail the call (a unary call whose client
// sends a second message, or resets the stream before its half-close)
// without any interceptor running (issue 23 review: those charges leaked).
type rpcCall struct {
	mu      sync.Mutex
	decoded int64 // charged for decoded messages, not yet given back
	err     error // why a message was not decoded
	payload any   // the last decoded message (a second one may follow)
	resp    any   // the answer, while its message is charged for encoding
}

type callKey struct{}

func callOf(ctx context.Context) *rpcCall {
	cl, _ := ctx.Value(callKey{}).(*rpcCall)
	return cl
}

// codecStats keeps each RPC's call record.
type codecStats struct{ c *budgetCodec }

func (cs codecStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, callKey{}, &rpcCall{})
}
func (codecStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (codecStats) HandleConn(context.Context, stats.ConnStats)                       {}
func (cs codecStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	cl := callOf(ctx)
	if cl == nil {
		return
	}
	switch s := s.(type) {
	case *stats.InPayload: // a message decoded: its charge moves to the call
		cs.c.adopt(cl, s.Payload)
	case *stats.End:
		cs.c.adopt(cl, nil)
		cl.mu.Lock()
		n, resp := cl.decoded, cl.resp
		cl.decoded, cl.resp = 0, nil
		cl.mu.Unlock()
		cs.c.mem.give(n)
		if resp != nil { // refused or never sent: Marshal did not run
			if e, ok := cs.c.encoding.LoadAndDelete(resp); ok {
				cs.c.mem.give(e.(int64))
			}
		}
	}
}

// adopt moves the charge of message m (or, for nil, of the call's last
// message, decoded again by a failing second read) into the call.
func (c *budgetCodec) adopt(cl *rpcCall, m any) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if m == nil {
		m = cl.payload
	}
	if m == nil {
		return
	}
	cl.payload = m
	if ch, ok := c.take(m); ok {
		cl.decoded += ch.n
		if ch.err != nil {
			cl.err = ch.err
		}
	}
}

// settle gives back what the call's decoded messages hold and reports a
// message that was refused.
func (c *budgetCodec) settle(cl *rpcCall) error {
	cl.mu.Lock()
	n, err := cl.decoded, cl.err
	cl.decoded, cl.err = 0, nil
	cl.mu.Unlock()
	c.mem.give(n)
	if err != nil {
		return status.Error(codes.ResourceExhausted, err.Error())
	}
	return nil
}

// unary answers RESOURCE_EXHAUSTED for a request that was not decoded,
// stops the call's message deadline (its request is whole: grpc-go has
// seen the client's half-close), and charges the answer's message until
// grpc-go has encoded it. The decoded request's charge goes when the call
// ends.
func (c *budgetCodec) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if rt, ok := ctx.Value(readTimerKey{}).(*readTimer); ok {
		rt.t.Stop()
	}
	cl := callOf(ctx)
	if cl != nil {
		cl.mu.Lock()
		err := cl.err
		cl.mu.Unlock()
		if err != nil {
			return nil, status.Error(codes.ResourceExhausted, err.Error())
		}
	}
	// What the call holds besides its decoded request (its model's
	// answer, read from a worker or made in process) is charged to its
	// hold until the handler returns; the answer ledger then charges the
	// reply until it is written.
	hd := &hold{}
	defer hd.release(c.mem)
	ctx = context.WithValue(ctx, holdKey{}, hd)
	resp, err := h(ctx, req)
	if err != nil {
		return resp, err
	}
	// The answer's message stays until grpc-go has encoded it, beside
	// its encoding: charged here, given back by Marshal (or at the end
	// of a call whose answer is never encoded).
	if m, isProto := resp.(proto.Message); isProto && cl != nil {
		n := int64(proto.Size(m))
		if err := c.mem.take(n); err != nil {
			return nil, status.Error(codes.ResourceExhausted, fmt.Sprintf("the answer takes %d bytes: %v", n, err))
		}
		c.encoding.Store(resp, n)
		cl.mu.Lock()
		cl.resp = resp
		cl.mu.Unlock()
	}
	return resp, nil
}

// stream gives back each streamed message's charge once it is decoded
// (a stream's handler holds what it keeps), and refuses one that was not.
func (c *budgetCodec) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, &chargedStream{ServerStream: ss, c: c, cl: callOf(ss.Context())})
}

type chargedStream struct {
	grpc.ServerStream
	c  *budgetCodec
	cl *rpcCall
}

func (s *chargedStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if s.cl != nil {
		if serr := s.c.settle(s.cl); serr != nil && err == nil {
			err = serr
		}
	}
	return err
}

// Estimated Go sizes of decoded protobuf values, generous: a message's
// struct and its bookkeeping, a pointer, a string or slice header, a map
// entry.
const (
	msgBase    = 64
	perField   = 16
	ptrSize    = 8
	header     = 24
	mapEntry   = 64
	maxNesting = 100
)

// decodedSize estimates the bytes that decoding b as a message of md
// allocates in Go, walking the wire format: each submessage its struct
// (by its number of fields), each string and bytes field its bytes, each
// repeated scalar its elements, each map entry its key and value. Bytes
// it cannot parse count as themselves (the decoder then fails).
func decodedSize(b []byte, md protoreflect.MessageDescriptor, depth int) int64 {
	size := int64(msgBase + perField*md.Fields().Len())
	if depth > maxNesting {
		return size + int64(len(b))
	}
	fields := md.Fields()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return size + int64(len(b))
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return size + int64(len(b))
		}
		val := b[:m]
		b = b[m:]
		fd := fields.ByNumber(num)
		if fd == nil { // unknown fields are kept as they came
			size += int64(m) + header
			continue
		}
		var content []byte
		if typ == protowire.BytesType {
			content, _ = protowire.ConsumeBytes(val)
		}
		switch {
		case fd.IsMap():
			size += mapEntry + decodedSize(content, fd.Message(), depth+1)
		case fd.Kind() == protoreflect.MessageKind:
			size += ptrSize + decodedSize(content, fd.Message(), depth+1)
		case fd.Kind() == protoreflect.GroupKind:
			size += ptrSize + decodedSize(val, fd.Message(), depth+1)
		case fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.BytesKind:
			size += header + int64(len(content))
		case typ == protowire.BytesType: // packed scalars
			size += 8 * packedCount(content, fd.Kind())
		default:
			size += 8
		}
	}
	return size
}

// packedCount is how many elements a packed repeated field holds.
func packedCount(b []byte, k protoreflect.Kind) int64 {
	switch k {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return int64(len(b) / 4)
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return int64(len(b) / 8)
	}
	n := int64(0) // varints: one ends at each byte below 0x80
	for _, c := range b {
		if c < 0x80 {
			n++
		}
	}
	return n
}

// messageDeadline bounds how long a gRPC call's first message may take to
// arrive, as ReadTimeout bounds a REST body: a client that sends part of
// a large message and stalls had its bytes held for as long as it liked
// (64 such streams held 1 GB for 90 s and more). The stream's context,
// which grpc-go's reader waits on, is cancelled when the message is not
// whole within d; the stats handler stops the timer once it is, and
// releases the context when the call ends.
func messageDeadline(d time.Duration) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InTapHandle(func(ctx context.Context, _ *tap.Info) (context.Context, error) {
			ctx, cancel := context.WithCancelCause(ctx)
			t := time.AfterFunc(d, func() {
				cancel(status.Errorf(codes.DeadlineExceeded, "the request's message did not arrive within %v", d))
			})
			return context.WithValue(ctx, readTimerKey{}, &readTimer{t: t, cancel: func() { cancel(context.Canceled) }}), nil
		}),
		grpc.StatsHandler(readTimerStats{}),
	}
}

type readTimerKey struct{}

type readTimer struct {
	t      *time.Timer
	cancel func()
	// streaming: the deadline bounds the first message only. A unary
	// call's request is whole at the client's half-close, which grpc-go
	// waits for before the handler runs: the codec's interceptor stops
	// the timer then (a client that sent its message but never closed
	// held its stream forever; issue 23 review).
	streaming atomic.Bool
}

// readTimerStats stops a call's read timer when its first message is in
// and releases its context when it ends.
type readTimerStats struct{}

func (readTimerStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (readTimerStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (readTimerStats) HandleConn(context.Context, stats.ConnStats) {}
func (readTimerStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	rt, ok := ctx.Value(readTimerKey{}).(*readTimer)
	if !ok {
		return
	}
	switch s := s.(type) {
	case *stats.Begin:
		rt.streaming.Store(s.IsClientStream || s.IsServerStream)
	case *stats.InPayload:
		if rt.streaming.Load() {
			rt.t.Stop()
		}
	case *stats.End:
		rt.t.Stop()
		rt.cancel()
	}
}
