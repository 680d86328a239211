// Package hostile holds the clients the serving attack suites use: a
// connection that stalls mid-message, a gRPC codec that sends bytes made
// by hand, raw HTTP/2 calls that never read, and protobuf messages that
// are small on the wire and huge once decoded. Test code only.
package hostile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// StallConn writes its first Limit bytes, then blocks until it is closed
// or Unstall is closed: a client that stops mid-message, with its gRPC
// library's own flow control.
type StallConn struct {
	net.Conn
	mu      sync.Mutex
	limit   int
	stopped chan struct{}
	unstall <-chan struct{}
	once    sync.Once
}

// Stall wraps c to stall after limit bytes, until unstall is closed.
func Stall(c net.Conn, limit int, unstall <-chan struct{}) *StallConn {
	return &StallConn{Conn: c, limit: limit, stopped: make(chan struct{}), unstall: unstall}
}

func (c *StallConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	k := min(len(p), c.limit)
	c.limit -= k
	c.mu.Unlock()
	n, err := c.Conn.Write(p[:k])
	if err != nil || k == len(p) {
		return n, err
	}
	select {
	case <-c.stopped:
	case <-c.unstall:
	}
	return n, net.ErrClosed
}

func (c *StallConn) Close() error {
	c.once.Do(func() { close(c.stopped) })
	return c.Conn.Close()
}

// RawCodec is a gRPC codec named "proto" that sends a *[]byte as it is
// and receives into one: messages made by hand.
type RawCodec struct{}

func (RawCodec) Name() string { return "proto" }

func (RawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("hostile: RawCodec sends *[]byte, not %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
}

func (RawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("hostile: RawCodec receives into *[]byte, not %T", v)
	}
	*b = data.Materialize()
	return nil
}

// Preface is what an HTTP/2 client sends first.
const Preface = http2.ClientPreface

// Call starts a gRPC call to path on c, speaking HTTP/2 by hand, and
// sends data on its stream 1 (ending it when end is set), without
// reading anything. It returns a framer to read with, if the caller does.
func Call(c net.Conn, path string, data []byte, end bool) (*http2.Framer, error) {
	if _, err := c.Write([]byte(Preface)); err != nil {
		return nil, err
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		return nil, err
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, h := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "x"},
		{":path", path}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		return nil, err
	}
	for len(data) > 0 {
		n := min(len(data), 16000) // frames of at most 16 KiB
		if err := fr.WriteData(1, end && n == len(data), data[:n]); err != nil {
			return nil, err
		}
		data = data[n:]
	}
	return fr, nil
}

// Frame is msg as gRPC puts it on the wire: a flag byte, its length, its
// bytes.
func Frame(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg))), msg...)
}

// Field appends field num of a message, holding b, to buf.
func Field(buf []byte, num protowire.Number, b []byte) []byte {
	buf = protowire.AppendTag(buf, num, protowire.BytesType)
	return protowire.AppendBytes(buf, b)
}

// Repeat is n empty occurrences of message field num: 2 bytes each on
// the wire, a struct of tens of bytes each once decoded.
func Repeat(num protowire.Number, n int) []byte {
	one := Field(nil, num, nil)
	return bytes.Repeat(one, n)
}

// Expanding is a message of the named kind whose wire size is about size
// bytes and whose decoded size is tens of times that, as issue 23's
// attack sent them: its gRPC method and its bytes. Kinds: handles (empty
// resource_handle_val), dims (empty tensor_shape dims), keys (a map of
// distinct input names), examples (empty Examples to Classify), kserve
// (empty ModelInfer inputs).
func Expanding(kind, model string, size int) (method string, msg []byte, err error) {
	spec := Field(nil, 1, []byte(model)) // ModelSpec.name
	switch kind {
	case "handles": // PredictRequest{model_spec, inputs{"x": TensorProto{dtype: DT_RESOURCE, resource_handle_val: [{}...]}}}
		tp := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 20)
		tp = append(tp, Repeat(14, size/2)...)
		return "/tensorflow.serving.PredictionService/Predict", predict(spec, "x", tp), nil
	case "dims": // TensorProto{dtype: DT_FLOAT, tensor_shape: {dim: [{}...]}}
		tp := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1)
		tp = Field(tp, 2, Repeat(2, size/2))
		return "/tensorflow.serving.PredictionService/Predict", predict(spec, "x", tp), nil
	case "keys": // inputs map with ~size/12 distinct keys and no values
		msg = Field(nil, 1, spec)
		for i := 0; len(msg) < size; i++ {
			msg = Field(msg, 2, Field(nil, 1, fmt.Appendf(nil, "k%07d", i)))
		}
		return "/tensorflow.serving.PredictionService/Predict", msg, nil
	case "examples": // ClassificationRequest{model_spec, input{example_list{examples: [{}...]}}}
		in := Field(nil, 1, Repeat(1, size/2))
		return "/tensorflow.serving.PredictionService/Classify", Field(Field(nil, 1, spec), 2, in), nil
	case "kserve": // ModelInferRequest{model_name, inputs: [{}...]}
		return "/inference.GRPCInferenceService/ModelInfer", append(Field(nil, 1, []byte(model)), Repeat(5, size/2)...), nil
	}
	return "", nil, fmt.Errorf("hostile: unknown kind %q (want one of %v)", kind, ExpandingKinds)
}

// ExpandingKinds lists Expanding's kinds.
var ExpandingKinds = []string{"handles", "dims", "keys", "examples", "kserve"}

func predict(spec []byte, input string, tensor []byte) []byte {
	entry := Field(Field(nil, 1, []byte(input)), 2, tensor)
	return Field(Field(nil, 1, spec), 2, entry)
}
