package serving

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tfgo-project/gotf/internal/cpuinfo"
	"github.com/tfgo-project/gotf/internal/procmem"
)

// Workers are capped by default (issue 23: a worker asked for a 4 GiB
// output peaked at 5.6 GB with nothing to stop it), with room for the
// address space TensorFlow reserves, and serve under that cap.
func TestWorkerMemoryCapByDefault(t *testing.T) {
	m := machineMemory()
	if m == 0 || m > memTotal() {
		t.Fatalf("machine memory %d, total %d", m, memTotal())
	}
	want := defaultWorkerMemory()
	if want < workerReserve+minWorkerUse || want < workerReserve+m/2 {
		t.Fatalf("default cap %d for %d bytes of memory", want, m)
	}
	for _, c := range []struct {
		cfg  uint64
		want string
	}{{0, fmt.Sprint(want)}, {3 << 30, fmt.Sprint(3 << 30)}, {NoWorkerMemoryCap, addressLimit(t, os.Getpid())}} {
		base := filepath.Join(t.TempDir(), "clf")
		export(t, base, 1, 1)
		before := procmem.Children(os.Getpid())
		_, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, WorkerMemoryBytes: c.cfg})
		if code, out := call(t, "POST", hs.URL+"/v1/models/clf:predict", `{"instances": [[1, 2, 3, 4]]}`); code != 200 {
			t.Fatalf("cap %d: %d %v", c.cfg, code, out)
		}
		var worker int
		for _, p := range procmem.Children(os.Getpid()) {
			if !slices.Contains(before, p) {
				worker = p
			}
		}
		if worker == 0 {
			t.Fatal("no worker process found")
		}
		if got := addressLimit(t, worker); got != c.want {
			t.Errorf("config %d: the worker's address-space limit is %s, want %s", c.cfg, got, c.want)
		}
	}
}

// addressLimit is the soft "Max address space" of pid, as /proc shows it.
func addressLimit(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Max address space") {
			return strings.Fields(strings.TrimPrefix(l, "Max address space"))[0]
		}
	}
	t.Fatalf("no address-space line in %s", b)
	return ""
}

// Tensors of refMin bytes and more go to and from a worker where they
// lie (frames written in parts): the answers are those of the model in
// process.
func TestLargeTensorsThroughWorker(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 1)
	rows := 40000 // 640 kB of inputs, 480 kB of outputs
	var sb strings.Builder
	sb.WriteString(`{"inputs": [`)
	for i := range rows {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "[%d, %g, %d, %g]", i%7, float32(i%13)/3, i%5, float32(i%11)/7)
	}
	sb.WriteString(`]}`)
	var answers []string
	for _, iso := range []Isolation{IsolationProcess, IsolationNone} {
		_, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, Isolation: iso})
		resp, err := http.Post(hs.URL+"/v1/models/clf:predict", "application/json", strings.NewReader(sb.String()))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %.200s", iso, resp.StatusCode, b)
		}
		answers = append(answers, string(b))
	}
	if len(answers[0]) < 100000 || answers[0] != answers[1] {
		t.Fatalf("a worker's answer (%d bytes) differs from the in-process one (%d bytes)", len(answers[0]), len(answers[1]))
	}
}

// TestLoadRequestRoundTrip: every load option a worker gets is the one
// the front end sent, thread spinning and pool sizes included
// (TensorFlow's pools are made by the worker's first session, so the
// worker must set them).
func TestLoadRequestRoundTrip(t *testing.T) {
	for _, spin := range []bool{false, true} {
		want := loadRequest{model: "m", opts: loadOptions{dir: "/x/1", batchRows: 32, batchWait: 7, warmup: true,
			timeout: 9, profileDir: "/p", profileRuns: 3, spin: spin, intraOp: 1, interOp: 3, bf16: spin}}
		got, h, err := parseLoad(want.body(42))
		if err != nil || h != 42 || got != want {
			t.Errorf("spin=%v: got %+v, handle %d, %v; want %+v", spin, got, h, err, want)
		}
	}
	if _, _, err := parseLoad([]byte{1, 2}); err == nil {
		t.Error("a cut load request parsed")
	}
	for _, n := range []int{-1, maxThreads + 1, 1 << 40} {
		bad := loadRequest{model: "m", opts: loadOptions{dir: "/x/1", intraOp: n}}
		if _, _, err := parseLoad(bad.body(1)); err == nil {
			t.Errorf("a load request with %d intra-op threads parsed", n)
		}
	}
}

// TestBFloat16Worker: with BFloat16 a worker runs its model through
// TensorFlow's bfloat16 rewrite: the probabilities move off float32's
// (so the option reached the worker's first session) by no more than
// bfloat16's rounding allows. Where bfloat16 cannot run, New says why.
func TestBFloat16Worker(t *testing.T) {
	base := filepath.Join(t.TempDir(), "clf")
	export(t, base, 1, 3)
	if want := cpuinfo.BFloat16(); want != nil {
		_, err := New(Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, Poll: -1, BFloat16: true})
		if !errors.Is(err, cpuinfo.ErrNoBFloat16) {
			t.Fatalf("BFloat16 where it cannot run: %v, want %v", err, want)
		}
		t.Skip(want)
	}
	body := `{"instances": [[0.3, -1.7, 2.9, 0.11], [1.3, 0.77, -0.31, 2.2]]}`
	var answers [2][]float64
	for i, bf16 := range []bool{false, true} {
		_, hs := start(t, Config{Models: []ModelConfig{{Name: "clf", BasePath: base}}, Isolation: IsolationProcess, BFloat16: bf16})
		code, out := call(t, http.MethodPost, hs.URL+"/v1/models/clf:predict", body)
		if code != 200 {
			t.Fatalf("bfloat16 %v: %d %v", bf16, code, out)
		}
		for _, row := range out["predictions"].([]any) {
			for _, v := range row.([]any) {
				answers[i] = append(answers[i], v.(float64))
			}
		}
	}
	worst := 0.0
	for i, v := range answers[0] {
		worst = max(worst, math.Abs(v-answers[1][i]))
	}
	t.Logf("float32 %v, bfloat16 %v", answers[0], answers[1])
	if worst < 1e-6 || worst > 0.02 {
		t.Fatalf("bfloat16 moved the probabilities by %.3g: want more than 1e-6 (the rewrite ran) and at most 0.02", worst)
	}
}

// An answer still waiting for the socket when its deadline passes goes out
// as a deadline error of a few bytes, not as the answer: the front end
// kills a worker silent past the deadline (a CI run killed one whose 48
// answers of 60 MB queued behind each other on a busy machine).
func TestReplyPastDeadline(t *testing.T) {
	var sock bytes.Buffer
	w := &worker{conn: &sock, bw: bufio.NewWriter(&sock)}
	big := make([]byte, 1<<20)
	live, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	w.replyBy(live, 1, big)
	past, cancel2 := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel2()
	<-past.Done()
	w.replyBy(past, 2, big)
	f, err := readFrame(&sock, 2<<20)
	if err != nil || f.id != 1 || f.typ != msgOK || len(f.body) != len(big) {
		t.Fatalf("answer in time: id %d type %d, %d bytes, %v; want id 1, the answer", f.id, f.typ, len(f.body), err)
	}
	f, err = readFrame(&sock, 2<<20)
	if err != nil || f.id != 2 || f.typ != msgErr {
		t.Fatalf("answer past its deadline: id %d type %d, %v; want id 2, an error", f.id, f.typ, err)
	}
	if err := parseErr(f.body); codeOf(err) != http.StatusGatewayTimeout || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("answer past its deadline: %v (HTTP %d), want a deadline error (504)", err, codeOf(err))
	}
	if sock.Len() != 0 {
		t.Fatalf("%d bytes left on the socket", sock.Len())
	}
}
