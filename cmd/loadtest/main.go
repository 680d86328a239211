// Command loadtest measures the REST server on loopback (make loadtest): it
// starts bin/serve on the MNIST CNN SavedModel, sends bounded loads at
// concurrency 1, 8 and 64 (100,000 requests in all by default), reports
// requests per second, p50 and p99 latency and the server's RSS before and
// after, then the same SavedModel called in-process from Go (savedmodels)
// and from Python TF as the floors, with the ratio of the REST p50 at
// concurrency 1 to Go's in-process p50: what HTTP, JSON and the hand-offs
// between processes cost. With --soak N it then sends N requests mixing every kind of
// malformed request with good ones, and checks that every good one is
// answered correctly and that the server never falls over.
//
//	RESULT concurrency=8 rps=2900 p50_ms=2.6 p99_ms=5.1 rss_mb_before=310 rss_mb_after=312
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tfgo-project/gotf/data/mnist"
	"github.com/tfgo-project/gotf/internal/cpuinfo"
	"github.com/tfgo-project/gotf/internal/procmem"
	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

func main() {
	serve := flag.String("serve", "bin/serve", "the server binary")
	models := flag.String("models", "out/loadtest/models", "models folder (holds mnist/1)")
	data := flag.String("data", mnist.DefaultDir, "MNIST folder")
	counts := flag.String("counts", "1:10000,8:30000,64:60000", "concurrency:requests per case")
	soak := flag.Int("soak", 0, "then send this many mixed malformed and good requests")
	python := flag.String("python", ".venv/bin/python", "Python for the in-process floor ('' to skip)")
	batch := flag.Int("batch_rows", 0, "start the server with server-side batching of up to this many rows")
	isolations := flag.String("isolation", "process,none", "the server's --isolation modes to measure, one after the other")
	echo := flag.String("echo", "", "serve a bare HTTP answer on this address and nothing else (the HTTP floor's server)")
	intraOp := flag.Int("intra_op", 0, "TensorFlow intra-op threads for the server (--tensorflow_intra_op_parallelism) and the in-process floor alike (0: one per core)")
	flag.Var(&serveFlags, "serve_flag", "pass this flag to the server too (repeatable), e.g. --serve_flag=--tf_thread_spinning")
	flag.Parse()
	intraOpThreads = *intraOp
	if *intraOp != 0 {
		serveFlags = append(serveFlags, "--tensorflow_intra_op_parallelism="+strconv.Itoa(*intraOp))
	}
	if *echo != "" {
		fmt.Fprintln(os.Stderr, echoServer(*echo))
		os.Exit(1)
	}
	modes := strings.Split(*isolations, ",")
	results := map[string]map[int]result{}
	for i, iso := range modes {
		// The soak runs against the first mode, the Python floor after the last.
		s, py := *soak, *python
		if i > 0 {
			s = 0
		}
		if i < len(modes)-1 {
			py = ""
		}
		r, err := run(*serve, *models, *data, *counts, s, py, *batch, iso)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
		results[iso] = r
	}
	if err := ratios(*models, *data, results); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// intraOpThreads is --intra_op, for every in-process floor.
var intraOpThreads int

// serveFlags are extra flags for the server (--serve_flag).
var serveFlags multiFlag

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// result is one concurrency's measure.
type result struct {
	p50 time.Duration
	rps float64
}

// ratios measures the Go Predict the server makes, in this process with
// a deadline as the server runs it, and prints issue 23's goals: c=1 p50
// with worker processes at most 1.6x it and in process at most 1.35x;
// c=64 throughput with workers at least 0.95x in process.
func ratios(modelsDir, data string, results map[string]map[int]result) error {
	_, test, err := mnist.Load(data)
	if err != nil {
		return err
	}
	p50, p99, err := goInProcess(filepath.Join(modelsDir, "mnist", "1"), test.Images, 2000, 30*time.Second, intraOpThreads)
	if err != nil {
		return fmt.Errorf("go floor: %w", err)
	}
	fmt.Printf("RESULT go_in_process calls=2000 p50_ms=%.3f p99_ms=%.3f intra_op=%d (with a deadline, as the server)\n", ms(p50), ms(p99), intraOpThreads)
	floor, err := httpFloor(test.Images, 3000)
	if err != nil {
		return fmt.Errorf("http floor: %w", err)
	}
	fmt.Printf("RESULT http_floor requests=3000 p50_ms=%.3f (a bare Go HTTP server in another process reading the same body and writing a 10-class answer: no JSON decoding, no model)\n", ms(floor))
	fmt.Printf("RESULT floor ratio go_predict_plus_http_floor_over_go_predict=%.2f (what no REST server in another process can beat on this machine)\n", float64(p50+floor)/float64(p50))
	goal := func(name string, v, limit float64, atMost bool) {
		ok := v <= limit
		rel := "<="
		if !atMost {
			ok, rel = v >= limit, ">="
		}
		verdict := "met"
		if !ok {
			verdict = "MISSED"
		}
		fmt.Printf("RESULT ratio %s=%.2f goal %s %.2f %s\n", name, v, rel, limit, verdict)
	}
	for _, iso := range []string{"process", "none"} {
		if r, ok := results[iso][1]; ok {
			limit := 1.6
			if iso == "none" {
				limit = 1.35
			}
			goal("rest_c1_p50_"+iso+"_over_go_predict", float64(r.p50)/float64(p50), limit, true)
		}
	}
	if a, ok := results["process"][64]; ok {
		if b, ok := results["none"][64]; ok {
			goal("rest_c64_rps_process_over_none", a.rps/b.rps, 0.95, false)
		}
	}
	return nil
}

// echoServer answers every request with a fixed 10-class prediction after
// reading its body: the server half of the HTTP floor.
func echoServer(addr string) error {
	answer := []byte(`{"predictions": [[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]]}`)
	return http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
}

// httpFloor is the concurrency-1 p50 of requests with the loadtest's
// bodies to echoServer in a process of its own: the loopback round trip,
// HTTP and the wake-ups between two processes, which every REST answer
// pays before the server does any work.
func httpFloor(images []float32, n int) (time.Duration, error) {
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	srv := exec.Command(self, "--echo", addr)
	if err := srv.Start(); err != nil {
		return 0, err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	client := &http.Client{}
	url := "http://" + addr + "/"
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := client.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			break
		}
		if time.Since(start) > 10*time.Second {
			return 0, fmt.Errorf("the echo server did not start")
		}
	}
	bodies := make([][]byte, min(200, len(images)/784))
	for i := range bodies {
		bodies[i] = body(images[i*784 : (i+1)*784])
	}
	lat := make([]time.Duration, n)
	for i := range lat {
		t0 := time.Now()
		resp, err := client.Post(url, "application/json", bytes.NewReader(bodies[i%len(bodies)]))
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat[i] = time.Since(t0)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[n/2], nil
}

// rssMB is pid's RSS in MiB, or -1 when it cannot be read.
func rssMB(pid int) float64 {
	n, err := procmem.RSS(pid)
	if err != nil {
		return -1
	}
	return float64(n) / (1 << 20)
}

// workersRSSMB is the summed RSS of pid's child processes (the server's
// model workers under --isolation=process; 0 when it has none).
func workersRSSMB(pid int) float64 {
	total := 0.0
	for _, c := range procmem.Children(pid) {
		if mb := rssMB(c); mb > 0 {
			total += mb
		}
	}
	return total
}

// rssCurve samples the workers' RSS every second while a load runs: the
// value after warm (the baseline), the most, and the last.
type rssCurve struct {
	warm, most, last float64
}

func sampleWorkers(pid int, warm time.Duration, stop <-chan struct{}) <-chan rssCurve {
	out := make(chan rssCurve, 1)
	go func() {
		var c rssCurve
		start := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				c.last = workersRSSMB(pid)
				if c.warm == 0 { // the load ended before its warm-up
					c.warm = c.last
				}
				c.most = max(c.most, c.last)
				out <- c
				return
			case <-tick.C:
				v := workersRSSMB(pid)
				if c.warm == 0 && time.Since(start) >= warm {
					c.warm = v
				}
				if c.warm != 0 {
					c.most = max(c.most, v)
				}
			}
		}
	}()
	return out
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func body(img []float32) []byte {
	var b bytes.Buffer
	b.WriteString(`{"instances": [[`)
	for r := 0; r < 28; r++ {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		for c := 0; c < 28; c++ {
			if c > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "[%g]", img[r*28+c])
		}
		b.WriteByte(']')
	}
	b.WriteString(`]]}`)
	return b.Bytes()
}

func run(serveBin, modelsDir, data, counts string, soak int, python string, batch int, iso string) (map[int]result, error) {
	if _, err := os.Stat(filepath.Join(modelsDir, "mnist", "1", "saved_model.pb")); err != nil {
		return nil, fmt.Errorf("no model at %s/mnist/1 (make loadtest trains and exports it)", modelsDir)
	}
	_, test, err := mnist.Load(data)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"--rest_api_host=127.0.0.1", "--rest_api_port=" + strconv.Itoa(port), "--models_dir=" + modelsDir, "--max_in_flight=256", "--port=0",
		"--batch_rows=" + strconv.Itoa(batch), "--isolation=" + iso}
	srv := exec.Command(serveBin, append(args, serveFlags...)...)
	srv.Stderr = io.Discard
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer srv.Process.Kill()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	url := base + "/v1/models/mnist:predict"
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Since(start) > 60*time.Second {
			return nil, fmt.Errorf("the server did not become ready")
		}
	}
	bodies := make([][]byte, 200)
	for i := range bodies {
		bodies[i] = body(test.Images[i*784 : (i+1)*784])
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}
	// Reference answers, one request each.
	want := make([]string, len(bodies))
	for i, b := range bodies {
		resp, err := client.Post(url, "application/json", bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("warm-up request: %d %s", resp.StatusCode, raw)
		}
		want[i] = string(raw)
	}
	fmt.Printf("# %s\n", cpuinfo.Line())
	fmt.Printf("# server pid %d, --isolation=%s, MNIST CNN SavedModel, one 28×28×1 image per request, batching up to %d rows\n", srv.Process.Pid, iso, batch)
	results := map[int]result{}
	for _, c := range strings.Split(counts, ",") {
		var conc, n int
		if _, err := fmt.Sscanf(c, "%d:%d", &conc, &n); err != nil || conc < 1 || n < 1 {
			return nil, fmt.Errorf("bad --counts entry %q", c)
		}
		before, wbefore := rssMB(srv.Process.Pid), workersRSSMB(srv.Process.Pid)
		stop := make(chan struct{})
		curve := sampleWorkers(srv.Process.Pid, 10*time.Second, stop)
		lat, elapsed, bad := load(client, url, bodies, want, conc, n)
		close(stop)
		after, w := rssMB(srv.Process.Pid), <-curve
		if bad > 0 {
			return nil, fmt.Errorf("concurrency %d: %d wrong or failed answers", conc, bad)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		results[conc] = result{p50: lat[len(lat)/2], rps: float64(n) / elapsed.Seconds()}
		fmt.Printf("RESULT isolation=%s batch_rows=%d concurrency=%d requests=%d rps=%.0f p50_ms=%.3f p99_ms=%.3f rss_mb_before=%.1f rss_mb_after=%.1f",
			iso, batch, conc, n, float64(n)/elapsed.Seconds(), ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), before, after)
		if wbefore > 0 {
			growth := 100 * (w.most/w.warm - 1)
			fmt.Printf(" worker_rss_mb_before=%.1f worker_rss_mb_after_10s=%.1f worker_rss_mb_max=%.1f worker_rss_mb_after=%.1f worker_growth_pct=%+.1f",
				wbefore, w.warm, w.most, w.last, growth)
		}
		fmt.Println()
	}
	if python != "" {
		// Without one: savedmodels then runs the ops in the calling thread.
		p50i, p99i, err := goInProcess(filepath.Join(modelsDir, "mnist", "1"), test.Images, 2000, 0, intraOpThreads)
		if err != nil {
			return nil, fmt.Errorf("go floor: %w", err)
		}
		fmt.Printf("RESULT go_in_process_inline calls=2000 p50_ms=%.3f p99_ms=%.3f (no deadline: ops in the caller's thread)\n", ms(p50i), ms(p99i))
		out, err := exec.Command(python, "scripts/bench_serving.py", filepath.Join(modelsDir, "mnist", "1"), data).Output()
		if err != nil {
			return nil, fmt.Errorf("python floor: %w", err)
		}
		fmt.Print(string(out))
	}
	if soak > 0 {
		if err := soakTest(client, base, bodies, want, soak, srv.Process.Pid); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// sameAnswer compares predictions: byte for byte, or within 1e-5 (a batched
// run may round differently from a run of one).
func sameAnswer(raw []byte, want string) bool {
	if string(raw) == want {
		return true
	}
	var a, b struct{ Predictions [][]float64 }
	if json.Unmarshal(raw, &a) != nil || json.Unmarshal([]byte(want), &b) != nil || len(a.Predictions) != len(b.Predictions) {
		return false
	}
	for i := range a.Predictions {
		if len(a.Predictions[i]) != len(b.Predictions[i]) {
			return false
		}
		for j, v := range a.Predictions[i] {
			if d := v - b.Predictions[i][j]; d > 1e-5 || d < -1e-5 {
				return false
			}
		}
	}
	return true
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// parallel calls f(0) … f(n-1) from conc goroutines and waits for them.
func parallel(conc, n int, f func(i int)) {
	var next int64
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(atomic.AddInt64(&next, 1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

func load(client *http.Client, url string, bodies [][]byte, want []string, conc, n int) ([]time.Duration, time.Duration, int64) {
	lat := make([]time.Duration, n)
	var bad int64
	start := time.Now()
	parallel(conc, n, func(i int) {
		k := i % len(bodies)
		t0 := time.Now()
		resp, err := client.Post(url, "application/json", bytes.NewReader(bodies[k]))
		if err != nil {
			atomic.AddInt64(&bad, 1)
			return
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lat[i] = time.Since(t0)
		if resp.StatusCode != 200 || !sameAnswer(raw, want[k]) {
			atomic.AddInt64(&bad, 1)
		}
	})
	return lat, time.Since(start), bad
}

// malformed lists one request of every class a client can get wrong, with
// the status TF Serving answers it with.
func malformed(base string, good []byte) []struct {
	method, path, body string
	code               int
} {
	img := string(good)
	inner := strings.TrimSuffix(strings.TrimPrefix(img, `{"instances": [`), `]}`)
	p := "/v1/models/mnist:predict"
	return []struct {
		method, path, body string
		code               int
	}{
		{"POST", p, `{"instances": [` + inner, 400},                                                    // truncated JSON
		{"POST", p, `{"inputs": {"image": [` + inner + `]}}`, 400},                                     // misspelt input name
		{"POST", p, `{"inputs": {"inputs": [` + inner + `], "extra": [1]}}`, 400},                      // extra input
		{"POST", p, `{"signature_name": "serving_default"}`, 400},                                      // missing inputs
		{"POST", p, `{"instances": [[["a"]]]}`, 400},                                                   // wrong dtype
		{"POST", p, `{"instances": [[1,2,3]]}`, 400},                                                   // wrong rank
		{"POST", p, `{"instances": [` + strings.Replace(inner, "[0]", "[0,0]", 1) + `]}`, 400},         // ragged
		{"POST", p, `{"instances": [[[[1]]]]}`, 400},                                                   // wrong dimensions
		{"POST", p, `{"instances": [[]]}`, 400},                                                        // empty dimension
		{"POST", p, `{"instances": [` + strings.Replace(inner, "[0]", "[null]", 1) + `]}`, 400},        // non-numeric
		{"POST", p, `{"instances": [` + strings.Replace(inner, "[0]", "[1e999]", 1) + `]}`, 400},       // overflowing number
		{"POST", p, `{"instances": ` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, 400}, // too deep
		{"POST", p, `{"signature_name": "nope", "instances": [` + inner + `]}`, 400},                   // unknown signature
		{"POST", p, strings.Repeat(" ", 17<<20), 413},                                                  // body too large
		{"POST", "/v1/models/nope:predict", img, 404},                                                  // unknown model
		{"POST", "/v1/models/mnist/versions/99:predict", img, 404},                                     // unknown version
		{"GET", p, "", 405}, // wrong method
	}
}

func soakTest(client *http.Client, base string, bodies [][]byte, want []string, n, pid int) error {
	cases := malformed(base, bodies[0])
	var bad, goods, wrongCodes int64
	before := rssMB(pid)
	start := time.Now()
	parallel(16, n, func(i int) {
		if i%4 == 0 { // one in four is good
			k := i % len(bodies)
			resp, err := client.Post(base+"/v1/models/mnist:predict", "application/json", bytes.NewReader(bodies[k]))
			if err != nil {
				atomic.AddInt64(&bad, 1)
				return
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			atomic.AddInt64(&goods, 1)
			if resp.StatusCode != 200 || !sameAnswer(raw, want[k]) {
				atomic.AddInt64(&bad, 1)
			}
			return
		}
		c := cases[i%len(cases)]
		if c.code == 413 && i%64 != 1 { // the 17 MiB body: not every time
			c = cases[0]
		}
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		resp, err := client.Do(req)
		if err != nil {
			atomic.AddInt64(&bad, 1)
			return
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e map[string]any
		if resp.StatusCode != c.code || json.Unmarshal(raw, &e) != nil || e["error"] == nil {
			atomic.AddInt64(&wrongCodes, 1)
		}
	})
	alive := false
	if resp, err := client.Get(base + "/healthz"); err == nil && resp.StatusCode == 200 {
		alive = true
		resp.Body.Close()
	}
	fmt.Printf("RESULT soak requests=%d good=%d good_wrong_or_failed=%d malformed_wrong_status=%d server_alive=%v seconds=%.1f rss_mb_before=%.1f rss_mb_after=%.1f\n",
		n, goods, bad, wrongCodes, alive, time.Since(start).Seconds(), before, rssMB(pid))
	if bad > 0 || wrongCodes > 0 || !alive {
		return fmt.Errorf("soak failed")
	}
	return nil
}

// goInProcess is the Go floor: the SavedModel loaded in this process and
// called with one image at a time, as bench_serving.py does in Python. It
// returns the p50 and p99 latencies of calls calls after 50 warm-up calls.
func goInProcess(dir string, images []float32, calls int, deadline time.Duration, intraOp int) (p50, p99 time.Duration, err error) {
	m, err := savedmodels.LoadWith(dir, savedmodels.LoadOptions{IntraOpThreads: intraOp})
	if err != nil {
		return 0, 0, err
	}
	defer m.Close()
	n := min(200, len(images)/784)
	if n == 0 {
		return 0, 0, fmt.Errorf("no test images")
	}
	xs := make([]*tfwrap.Tensor, n)
	for i := range xs {
		if xs[i], err = tfwrap.NewTensor(images[i*784:(i+1)*784], 1, 28, 28, 1); err != nil {
			return 0, 0, err
		}
	}
	call := func(i int) error {
		_, err := m.PredictWith(savedmodels.DefaultSignature, map[string]*tfwrap.Tensor{"inputs": xs[i%n]}, savedmodels.PredictOptions{Timeout: deadline})
		return err
	}
	for i := 0; i < 50; i++ {
		if err := call(i); err != nil {
			return 0, 0, err
		}
	}
	lat := make([]time.Duration, calls)
	for i := range lat {
		start := time.Now()
		if err := call(i); err != nil {
			return 0, 0, err
		}
		lat[i] = time.Since(start)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[calls/2], lat[calls*99/100], nil
}
