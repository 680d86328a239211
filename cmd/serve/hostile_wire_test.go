package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tensorpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_go_proto"
	shapepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/internal/hostile"
	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/serving/tfspb"
)

// wireBudget is the suite's --max_in_flight_bytes: what the front end
// may hold for requests; its RSS may grow by this plus 10%.
const wireBudget = 512 << 20

// hostileScale multiplies each attack's count: 1 in make test (the count
// that crashed the server in issue 23), 10 in make hostile.
func hostileScale(t *testing.T) int {
	s := os.Getenv("GOTF_HOSTILE_SCALE")
	if s == "" {
		return 1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("GOTF_HOSTILE_SCALE=%q: want a positive number", s)
	}
	return n
}

// TestHostileWire runs issue 23's attacks on the wire formats against the
// real binary under an 8 GB address-space cap (as the attack ran), each
// at GOTF_HOSTILE_SCALE times the count that crashed the server then:
// protobuf that expands when decoded, KServe JSON object floods, gRPC
// messages and REST bodies that stall, and answers clients never read.
// After each the server answers good requests over REST and gRPC, and
// the front end's peak RSS grew by at most its memory budget + 10%.
func TestHostileWire(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real server and its workers")
	}
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("needs prlimit (util-linux)")
	}
	scale := hostileScale(t)
	dir := t.TempDir()
	gen := filepath.Join(dir, "gen")
	if err := pyref.Script("make_hostile_models.py", gen); err != nil {
		t.Fatal(err)
	}
	models := filepath.Join(dir, "models")
	for _, m := range []string{"good", "big_output"} {
		copyDir(t, filepath.Join(gen, m), filepath.Join(models, m))
	}
	bin := filepath.Join(dir, "serve")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port, gport := freePort(t), freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	gaddr := fmt.Sprintf("127.0.0.1:%d", gport)
	var stderr bytes.Buffer
	cmd := exec.Command("prlimit", "--as=8000000000", "--", bin,
		"--rest_api_host=127.0.0.1", "--rest_api_port="+strconv.Itoa(port), "--grpc_host=127.0.0.1", "--port="+strconv.Itoa(gport),
		"--models_dir="+models, "--poll=-1s", "--request_timeout=5s", "--read_timeout=3s", "--write_timeout=3s",
		"--idle_timeout=5s", "--max_in_flight_bytes="+strconv.Itoa(wireBudget), "--shutdown_timeout=30s")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("server log (tail):\n%s", tail(stderr.String(), 30))
		}
	}()
	waitFor(t, 3*time.Minute, "ready", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("the server exited: %v", err)
		default:
		}
		return get(base+"/readyz") == 200
	})
	pid := cmd.Process.Pid
	gconn, err := grpc.NewClient(gaddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer gconn.Close()
	alive := func(t *testing.T) {
		t.Helper()
		code, body := post(t, base+"/v1/models/good:predict", `{"instances": [[1,2,3,4]]}`, nil)
		if code != 200 || !strings.Contains(body, "8") {
			t.Fatalf("good model over REST: %d %s", code, body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := tfspb.NewPredictionServiceClient(gconn).Predict(ctx, goodRequest("good"))
		if err != nil {
			t.Fatalf("good model over gRPC: %v", err)
		}
		if c := get(base + "/readyz"); c != 200 {
			t.Fatalf("readyz %d", c)
		}
	}
	for range 100 { // warm both transports before measuring
		alive(t)
	}
	getBody(base + "/v1/models/good/metadata")
	rss0 := rss(t, pid)
	t.Logf("scale %d; front end RSS %d MB before the attacks; budget %d MB", scale, rss0>>10, wireBudget>>20)

	// phase runs one attack, then checks that the server still serves and
	// that the front end's peak RSS stayed within the budget + 10%.
	phase := func(name string, attack func(t *testing.T) string) {
		t.Run(name, func(t *testing.T) {
			resetPeak(t, pid)
			start := time.Now()
			outcome := attack(t)
			alive(t)
			// Every byte charged is given back: a leak would leave the
			// server refusing everything in time.
			waitFor(t, 20*time.Second, "the memory in use back to 0", func() bool {
				return strings.Contains(metrics(t, base), "\ngotf_serving_memory_in_use_bytes 0\n")
			})
			peak := peakRSS(t, pid)
			grew := (peak - rss0) << 10
			t.Logf("%s: %s in %.1f s; peak RSS %d MB (+%d MB)", name, outcome, time.Since(start).Seconds(), peak>>10, grew>>20)
			if grew > wireBudget*11/10 {
				t.Fatalf("front end peak RSS grew by %d MB, more than the %d MB budget + 10%%", grew>>20, wireBudget>>20)
			}
		})
	}

	phase("expanding protobuf", func(t *testing.T) string {
		n := 8 * scale // per kind; 8 crashed the server
		conns := dialMany(t, gaddr, n, nil)
		counts := &tally{}
		var wg sync.WaitGroup
		for _, kind := range hostile.ExpandingKinds {
			method, msg, err := hostile.Expanding(kind, "good", 16<<20-4096)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					var out []byte
					err := conns[i].Invoke(ctx, method, &msg, &out, grpc.ForceCodecV2(hostile.RawCodec{}))
					counts.add(kind + " " + status.Code(err).String())
				}()
			}
		}
		wg.Wait()
		for k := range counts.m {
			// Canceled: its bytes waited for memory past the message
			// deadline; Unavailable: its connection was closed for it.
			if !strings.HasSuffix(k, "ResourceExhausted") && !strings.HasSuffix(k, "Unavailable") && !strings.HasSuffix(k, "Canceled") {
				t.Errorf("an expanding message got %s, want RESOURCE_EXHAUSTED (or dropped)", k)
			}
		}
		return fmt.Sprintf("%d calls of 16 MiB: %s", n*len(hostile.ExpandingKinds), counts)
	})

	phase("KServe JSON object flood", func(t *testing.T) string {
		n := 6 * scale // 6 crashed the server
		body := `{"inputs":[` + strings.Repeat(`{},`, (16<<20-64)/3) + `{}]}`
		counts := &tally{}
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _ := postQuiet(base+"/v2/models/good/infer", body)
				counts.add(strconv.Itoa(code))
			}()
		}
		wg.Wait()
		for k := range counts.m {
			if k != "400" && k != "413" && k != "429" && k != "0" {
				t.Errorf("an object flood got %s, want 400, 413 or 429", k)
			}
		}
		return fmt.Sprintf("%d bodies of 16 MiB: %s", n, counts)
	})

	phase("stalled gRPC messages", func(t *testing.T) string {
		streams := 320 * scale // 320 crashed the server under a 4 GB cap
		const perConn = 64
		unstall := make(chan struct{})
		conns := dialMany(t, gaddr, (streams+perConn-1)/perConn, func(c net.Conn) net.Conn {
			return hostile.Stall(c, perConn*15<<20, unstall) // every message 1 MiB short
		})
		msg := make([]byte, 16<<20-1024)
		counts := &tally{}
		var wg sync.WaitGroup
		for i := range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				var out []byte
				err := conns[i/perConn].Invoke(ctx, "/tensorflow.serving.PredictionService/Predict", &msg, &out, grpc.ForceCodecV2(hostile.RawCodec{}))
				counts.add(status.Code(err).String())
			}()
		}
		wg.Wait()
		close(unstall)
		if counts.m["OK"] > 0 {
			t.Errorf("a stalled message was served: %s", counts)
		}
		return fmt.Sprintf("%d streams stalling 1 MiB short of 16 MiB: %s", streams, counts)
	})

	phase("stalled REST bodies", func(t *testing.T) string {
		n := 250 * scale // 250 crashed the server
		counts := &tally{}
		var wg sync.WaitGroup
		chunk := bytes.Repeat([]byte("1,"), 32<<10)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					counts.add("dial error")
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				fmt.Fprintf(c, "POST /v1/models/good:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\n{\"instances\": [")
				for sent := 0; sent < 16<<20-len(chunk); sent += len(chunk) {
					if _, err := c.Write(chunk); err != nil {
						break // refused and closed: what the server should do
					}
				}
				// Stall; the server answers 408 (read timeout) or 429.
				b := make([]byte, 12)
				if _, err := io.ReadFull(c, b); err != nil {
					counts.add("closed")
					return
				}
				counts.add(string(b[9:]))
			}()
		}
		wg.Wait()
		return fmt.Sprintf("%d bodies stalling 64 KiB short of 16 MiB: %s", n, counts)
	})

	phase("unread REST answers", func(t *testing.T) string {
		n := 48 * scale // 48 crashed the server
		var conns []net.Conn
		for range n {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			// 15M float32 zeros: 60 MB of outputs, a 30 MB answer.
			fmt.Fprintf(c, "POST /v1/models/big_output:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 23\r\n\r\n{\"inputs\": [15000000]}\n")
			conns = append(conns, c)
		}
		time.Sleep(6 * time.Second) // the requests run; nobody reads
		for _, c := range conns {
			c.Close()
		}
		return fmt.Sprintf("%d clients asking for 30 MB answers, never reading", n)
	})

	phase("unread gRPC answers", func(t *testing.T) string {
		n := 20 * scale // 20 held 1.6 GB for 100 s
		req, err := proto.Marshal(&tfspb.PredictRequest{ModelSpec: &tfspb.ModelSpec{Name: "big_output"},
			Inputs: map[string]*tensorpb.TensorProto{"n": {Dtype: typespb.DataType_DT_INT32,
				TensorShape: &shapepb.TensorShapeProto{Dim: []*shapepb.TensorShapeProto_Dim{{Size: 1}}}, IntVal: []int32{15000000}}}})
		if err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		for range n {
			c, err := net.Dial("tcp", gaddr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := hostile.Call(c, "/tensorflow.serving.PredictionService/Predict", hostile.Frame(req), true); err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		// Past the write timeout (3 s) every connection that owed an
		// answer is closed by the server.
		time.Sleep(8 * time.Second)
		closed := 0
		for _, c := range conns {
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			_, err := io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				closed++
			}
			c.Close()
		}
		return fmt.Sprintf("%d raw HTTP/2 clients asking for 30 MB answers, never reading: %d closed by the server", n, closed)
	})

	// Large answers are refused with 429 past a worker's own answer
	// budget, not by the worker running out of its address space.
	if m := metrics(t, base); !strings.Contains(m, `gotf_serving_worker_exits_total{group="big_output"} 0`) {
		t.Errorf("a worker died under the attacks:\n%s", grep(m, "worker_exits"))
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("SIGTERM did not stop the server")
	}
}

// goodRequest is one row for the good model.
func goodRequest(model string) *tfspb.PredictRequest {
	return &tfspb.PredictRequest{ModelSpec: &tfspb.ModelSpec{Name: model}, Inputs: map[string]*tensorpb.TensorProto{"x": {
		Dtype: typespb.DataType_DT_FLOAT, TensorShape: &shapepb.TensorShapeProto{Dim: []*shapepb.TensorShapeProto_Dim{{Size: 1}, {Size: 4}}},
		FloatVal: []float32{1, 2, 3, 4}}}}
}

// dialMany opens n gRPC client connections to addr, each through wrap if
// set; they close when the test ends.
func dialMany(t *testing.T, addr string, n int, wrap func(net.Conn) net.Conn) []*grpc.ClientConn {
	conns := make([]*grpc.ClientConn, n)
	for i := range conns {
		opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(32 << 20))}
		if wrap != nil {
			opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, "tcp", a)
				if err != nil {
					return nil, err
				}
				return wrap(c), nil
			}))
		}
		c, err := grpc.NewClient(addr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		t.Cleanup(func() { c.Close() })
	}
	return conns
}

// tally counts outcomes from many goroutines.
type tally struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *tally) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[k]++
}

func (c *tally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.m)
}

// postQuiet posts body and returns the status code, 0 when the
// connection failed (the server may close it on a refused body).
func postQuiet(url, body string) (int, string) {
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// resetPeak resets pid's peak RSS (VmHWM).
func resetPeak(t *testing.T, pid int) {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
}

// peakRSS is pid's peak RSS (VmHWM) in KiB since resetPeak.
func peakRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
