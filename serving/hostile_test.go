package serving

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	tensorpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_go_proto"
	shapepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/serving/tfspb"
	"github.com/tfgo-project/gotf/tfwrap"
)

// The cases a reviewer's attack found after the first hardening; each
// failed (or crashed the front end) before its fix.

var (
	hostileOnce sync.Once
	hostileDir  string
	hostileErr  error
)

// hostile returns the folder of scripts/make_hostile_models.py's models,
// made once per test binary.
func hostile(t *testing.T) string {
	t.Helper()
	hostileOnce.Do(func() {
		if hostileDir, hostileErr = os.MkdirTemp("", "hostile-models"); hostileErr == nil {
			hostileErr = pyref.Script("make_hostile_models.py", hostileDir)
		}
	})
	if hostileErr != nil {
		t.Fatal(hostileErr)
	}
	return hostileDir
}

func dims(d ...int64) *shapepb.TensorShapeProto {
	sh := &shapepb.TensorShapeProto{}
	for _, x := range d {
		sh.Dim = append(sh.Dim, &shapepb.TensorShapeProto_Dim{Size: x})
	}
	return sh
}

// TestBroadcastIsCounted: one string_val of 1 MB broadcast to 4,000
// elements (4 GB once copied) and one float_val broadcast past the
// server's share for all requests are refused, not materialised.
func TestBroadcastIsCounted(t *testing.T) {
	gen := hostile(t)
	srv, _ := start(t, Config{Models: []ModelConfig{
		{Name: "strlen", BasePath: filepath.Join(gen, "strlen")}, {Name: "good", BasePath: filepath.Join(gen, "good")}},
		MaxInFlightBytes: 128 << 20})
	client := tfspb.NewPredictionServiceClient(serveGRPC(t, srv))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := vmRSS(t)
	for _, c := range []struct {
		model string
		in    *tensorpb.TensorProto
		code  codes.Code
	}{
		{"strlen", &tensorpb.TensorProto{Dtype: typespb.DataType_DT_STRING, TensorShape: dims(4000), StringVal: [][]byte{bytes.Repeat([]byte("x"), 1<<20)}}, codes.ResourceExhausted},
		{"good", &tensorpb.TensorProto{Dtype: typespb.DataType_DT_FLOAT, TensorShape: dims(1<<22, 4), FloatVal: []float32{1}}, codes.ResourceExhausted},
	} {
		key := "s"
		if c.model == "good" {
			key = "x"
		}
		_, err := client.Predict(ctx, &tfspb.PredictRequest{ModelSpec: &tfspb.ModelSpec{Name: c.model}, Inputs: map[string]*tensorpb.TensorProto{key: c.in}})
		if status.Code(err) != c.code {
			t.Fatalf("%s: %v, want %v", c.model, err, c.code)
		}
	}
	if grew := vmRSS(t) - before; grew > 200<<20 {
		t.Fatalf("RSS grew by %d MiB refusing two requests", grew>>20)
	}
	// A broadcast within the limits is served.
	resp, err := client.Predict(ctx, &tfspb.PredictRequest{ModelSpec: &tfspb.ModelSpec{Name: "strlen"},
		Inputs: map[string]*tensorpb.TensorProto{"s": {Dtype: typespb.DataType_DT_STRING, TensorShape: dims(3), StringVal: [][]byte{[]byte("abc")}}}})
	if err != nil || len(resp.GetOutputs()["n"].GetTensorContent()) != 12 {
		t.Fatalf("small broadcast: %v %v", resp, err)
	}
}

// TestGeneralDecoderIsCounted: a JSON body the fast path cannot take (a
// null among numbers) builds a tree about 48 times its size; that memory
// is reserved first, so a large one is refused rather than decoded.
func TestGeneralDecoderIsCounted(t *testing.T) {
	gen := hostile(t)
	_, hs := start(t, Config{Models: []ModelConfig{{Name: "good", BasePath: filepath.Join(gen, "good")}},
		MaxInFlightBytes: 64 << 20})
	big := `{"instances": [` + strings.Repeat("[0,0,0,0],", 200000) + `null]}` // 2 MB: 96 MB of tree
	if code, out := call(t, "POST", hs.URL+"/v1/models/good:predict", big); code != 413 {
		t.Fatalf("large body for the general decoder: %d %v, want 413", code, out)
	}
	if code, out := call(t, "POST", hs.URL+"/v1/models/good:predict", `{"instances": [[0,0,0,0], null]}`); code != 400 {
		t.Fatalf("small body with a null: %d %v, want 400", code, out)
	}
}

// TestBatchedStrings: server-side batching leaves string signatures alone
// instead of answering 500.
func TestBatchedStrings(t *testing.T) {
	gen := hostile(t)
	_, hs := start(t, Config{Models: []ModelConfig{{Name: "strlen", BasePath: filepath.Join(gen, "strlen")}},
		Isolation: IsolationNone, BatchRows: 8, BatchWait: 20 * time.Millisecond})
	var wg sync.WaitGroup
	errs := make(chan string, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(hs.URL+"/v1/models/strlen:predict", "application/json", strings.NewReader(`{"instances": ["ab", "c"]}`))
			if err != nil {
				errs <- err.Error()
				return
			}
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(b.String(), `"predictions":[2,1]`) {
				errs <- b.String()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("batched string request: %s", e)
	}
}

// TestClientGoneFreesSlot: a client that hangs up frees its slot at once;
// the worker finishes (or TensorFlow cancels) the run on its own.
func TestClientGoneFreesSlot(t *testing.T) {
	gen := hostile(t)
	srv, hs := start(t, Config{Models: []ModelConfig{{Name: "runaway", BasePath: filepath.Join(gen, "runaway")}},
		MaxInFlight: 2, Timeout: 4 * time.Second})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", hs.URL+"/v1/models/runaway:predict", strings.NewReader(`{"inputs": 1}`))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(time.Second)
	for len(srv.slots) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(srv.slots); n > 0 {
		t.Fatalf("%d slots still held 1 s after their clients left (the runs take 4 s)", n)
	}
}

// TestMemoryShare: the share is taken and given back exactly.
func TestMemoryShare(t *testing.T) {
	m := &memory{limit: 100}
	b1 := &budget{mem: m}
	if err := b1.reserve(60); err != nil {
		t.Fatal(err)
	}
	b2 := &budget{mem: m}
	if err := b2.reserve(60); codeOf(err) != 429 {
		t.Fatalf("over the share: %v (code %d), want 429", err, codeOf(err))
	}
	if err := b2.reserve(101); codeOf(err) != 413 {
		t.Fatalf("over the whole share: %v (code %d), want 413", err, codeOf(err))
	}
	b1.release()
	if err := b2.reserve(60); err != nil {
		t.Fatalf("after release: %v", err)
	}
	b2.release()
	if m.used != 0 {
		t.Fatalf("used %d after every release", m.used)
	}
}

// TestWorkerGroups: models of one group share a worker process, and so its
// fate; a model in another group does not notice.
func TestWorkerGroups(t *testing.T) {
	gen := hostile(t)
	srv, hs := start(t, Config{Models: []ModelConfig{
		{Name: "abort_request", BasePath: filepath.Join(gen, "abort_request"), Group: "shared"},
		{Name: "good", BasePath: filepath.Join(gen, "good"), Group: "shared"},
		{Name: "strlen", BasePath: filepath.Join(gen, "strlen")},
	}})
	srv.reg.load.(*processes).mu.Lock()
	groups := len(srv.reg.load.(*processes).groups)
	srv.reg.load.(*processes).mu.Unlock()
	if groups != 2 {
		t.Fatalf("%d worker groups, want 2", groups)
	}
	if code, out := call(t, "POST", hs.URL+"/v1/models/abort_request:predict", `{"inputs": 1.5}`); code != 503 {
		t.Fatalf("CHECK failure: %d %v, want 503", code, out)
	}
	if code, out := call(t, "POST", hs.URL+"/v1/models/strlen:predict", `{"instances": ["abc"]}`); code != 200 {
		t.Fatalf("model in another group: %d %v", code, out)
	}
	_, body := getMetrics(t, hs.URL)
	if !strings.Contains(body, `gotf_serving_worker_exits_total{group="shared"} 1`) || !strings.Contains(body, `gotf_serving_worker_exits_total{group="strlen"} 0`) {
		t.Fatalf("worker exits by group:\n%s", body)
	}
	// good shared the dead process: it is reloaded (trial first) and serves again.
	deadline := time.Now().Add(60 * time.Second)
	for {
		srv.Rescan()
		code, _ := call(t, "POST", hs.URL+"/v1/models/good:predict", `{"instances": [[1,2,3,4]]}`)
		if code == 200 {
			break
		}
		if code != 503 || time.Now().After(deadline) {
			t.Fatalf("good after its group's worker died: %d", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func getMetrics(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// A kernel that runs out of memory is the request's size, not the load:
// 413 (RESOURCE_EXHAUSTED over gRPC), not a 429 that asks to retry.
func TestOutOfMemoryIs413(t *testing.T) {
	err := fmt.Errorf("predict: %w: OOM when allocating tensor with shape[1073741824]", tfwrap.ErrOutOfMemory)
	if c := codeOf(err); c != 413 {
		t.Fatalf("code %d, want 413", c)
	}
	if c := grpcCodes[codeOf(err)]; c != codes.ResourceExhausted {
		t.Fatalf("gRPC code %v", c)
	}
}

// DNS rebinding: a page at a name the attacker re-points at this server
// sends that name as Host and as Origin, which the Origin check alone
// takes for a same-site request. A browser request by an unlisted name is
// refused; by IP, by localhost, by a listed name, or from a client that is
// not a browser, it is served.
func TestDNSRebindingRefused(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 1)
	body := `{"instances": [[1, 2, 3, 4]]}`
	for _, c := range []struct {
		host, origin string
		allowed      []string
		want         int
	}{
		{"evil.example:8501", "http://evil.example:8501", nil, 403},
		{"evil.example", "", nil, 200}, // no Origin: not a browser
		{"127.0.0.1:8501", "http://127.0.0.1:8501", nil, 200},
		{"localhost:8501", "http://localhost:8501", nil, 200},
		{"[::1]:8501", "http://[::1]:8501", nil, 200},
		{"models.internal:8501", "http://models.internal:8501", []string{"models.internal"}, 200},
		{"evil.example:8501", "http://evil.example:8501", []string{"*"}, 200},
	} {
		_, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, AllowedHosts: c.allowed})
		for _, path := range []string{"/v1/models/clf:predict", "/v1/models/clf"} {
			method, b := "POST", body
			if path == "/v1/models/clf" {
				method, b = "GET", ""
			}
			req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(b))
			req.Host = c.host
			if c.origin != "" {
				req.Header.Set("Origin", c.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("%s %s with Host %q, Origin %q, allowed %v: %d, want %d", method, path, c.host, c.origin, c.allowed, resp.StatusCode, c.want)
			}
		}
	}
}

// Large REST bodies are charged to the memory all requests share as they
// are read: clients that each declare 16 MiB and stall hold at most that
// share (--max_in_flight_bytes) together, and the rest are answered 429
// at once (issue 23: 60 such clients added 1.64 GB, 250 crashed the
// server). The charge is given back when the requests end.
func TestStalledBodiesShareTheBudget(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 1)
	srv, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, MaxInFlightBytes: 40 << 20, MaxBodyBytes: 16 << 20})
	addr := strings.TrimPrefix(hs.URL, "http://")
	const clients = 6
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	chunk := bytes.Repeat([]byte{' '}, 128<<10)
	refused := 0
	for i := range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST /v1/models/clf:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 16<<20-1)
		if _, err := c.Write(chunk); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		line, err := bufio.NewReader(c).ReadString('\n')
		switch {
		case err == nil && strings.Contains(line, " 429 "):
			refused++
		case err == nil:
			t.Errorf("client %d: %q, want 429 or nothing yet", i, line)
		}
		srv.mem.mu.Lock()
		used, limit := srv.mem.used, srv.mem.limit
		srv.mem.mu.Unlock()
		if used > limit {
			t.Fatalf("after client %d the bodies hold %d bytes of the %d shared", i, used, limit)
		}
	}
	if refused != clients-2 {
		t.Errorf("%d of %d stalled clients refused, want %d (two 16 MiB bodies fit in 40 MiB)", refused, clients, clients-2)
	}
	for _, c := range conns {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.mem.mu.Lock()
		used := srv.mem.used
		srv.mem.mu.Unlock()
		if used == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still held after every client went away", used)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And a normal request still works.
	if code, out := call(t, "POST", hs.URL+"/v1/models/clf:predict", `{"instances": [[1, 2, 3, 4]]}`); code != 200 {
		t.Fatalf("after the attack: %d %v", code, out)
	}
}

// An answer is charged to the shared memory too, until it is written: a
// server whose share holds the body but not the answer refuses with 429
// rather than holding answers clients may never read.
func TestAnswerChargedToTheBudget(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	exportWide(t, base)
	rows := strings.TrimSuffix(strings.Repeat("[1, 2, 3, 4], ", 200), ", ")
	body := `{"instances": [` + rows + `]}`
	_, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}})
	resp, err := http.Post(hs.URL+"/v1/models/clf:predict", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, answer)
	}
	// Room for the body and the inputs, but not for the answer on top of
	// the body.
	limit := int64(len(body)+1) + int64(len(answer)) - 1
	if limit < int64(len(body)+1)+3*200*4*4 {
		t.Fatalf("the answer (%d bytes) is too small for this test", len(answer))
	}
	_, hs = start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, MaxInFlightBytes: limit})
	if code, out := call(t, "POST", hs.URL+"/v1/models/clf:predict", body); code != 429 || !strings.Contains(fmt.Sprint(out), "answer") {
		t.Fatalf("got %d %v, want 429 naming the answer", code, out)
	}
	// The model's outputs (200 x 256 float32, and their frame from the
	// worker) are held too while the answer is encoded, and the encoder's
	// growth (encodeCost: 2 bytes a float32 element).
	outputs := int64(200*256*4+4096) + 200*256*2
	_, hs = start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, MaxInFlightBytes: limit + 1 + outputs})
	if code, _ := call(t, "POST", hs.URL+"/v1/models/clf:predict", body); code != 200 {
		t.Fatalf("with room for the outputs too: %d", code)
	}
}

// 16 MiB of {"inputs":[{},{},…]} took 1.3 GB through encoding/json
// (issue 23). It is now refused by counting, before decoding: 400, and
// the decoder's memory never appears.
func TestKserveObjectFlood(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 1)
	_, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, MaxBodyBytes: 16 << 20})
	body := `{"inputs":[` + strings.Repeat(`{},`, 5<<20) + `{}]}`
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	code, out := call(t, "POST", hs.URL+"/v2/models/clf/infer", body)
	runtime.ReadMemStats(&m1)
	if code != 400 || !strings.Contains(fmt.Sprint(out), "more than 4096 objects") {
		t.Fatalf("got %d %v, want 400 naming the objects", code, out)
	}
	// The body (15 MiB, read twice at most) and the client's copy, not
	// the 1.3 GB of decoded structs.
	if d := m1.TotalAlloc - m0.TotalAlloc; d > 200<<20 {
		t.Errorf("the request allocated %d MB", d>>20)
	}
	// Braces inside strings are not objects.
	if n := jsonObjects([]byte(`{"a": "{{{\"{", "b": {}}`), 100); n != 2 {
		t.Errorf("jsonObjects counted %d, want 2", n)
	}
}
