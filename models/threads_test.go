package models

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestThreadOptionsConfig: the ConfigProto Compile gives TensorFlow for
// each thread setting; none at all by default, as before.
func TestThreadOptionsConfig(t *testing.T) {
	for _, tc := range []struct {
		opts         CompileOptions
		intra, inter int32
		none         bool
	}{
		{opts: CompileOptions{}, none: true},
		{opts: CompileOptions{Threads: 2}, intra: 2, inter: 1},
		{opts: CompileOptions{IntraOpThreads: 3, InterOpThreads: 2}, intra: 3, inter: 2},
		{opts: CompileOptions{InterOpThreads: 4}, intra: 0, inter: 4},
		{opts: CompileOptions{InterOpThreads: -1}, intra: 0, inter: -1},
		{opts: CompileOptions{Threads: 2, InterOpThreads: 4}, intra: 2, inter: 4},
		{opts: CompileOptions{Threads: 2, IntraOpThreads: 1}, intra: 1, inter: 1},
	} {
		so, err := sessionOptions(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if tc.none {
			if len(so) != 0 {
				t.Errorf("%+v: %d session options, want none", tc.opts, len(so))
			}
			continue
		}
		raw, err := tfwrap.SessionConfig(so...)
		if err != nil {
			t.Fatal(err)
		}
		var cfg corepb.ConfigProto
		if err := proto.Unmarshal(raw, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.IntraOpParallelismThreads != tc.intra || cfg.InterOpParallelismThreads != tc.inter {
			t.Errorf("threads %d, intra %d, inter %d: ConfigProto has intra %d, inter %d; want %d, %d", tc.opts.Threads, tc.opts.IntraOpThreads,
				tc.opts.InterOpThreads, cfg.IntraOpParallelismThreads, cfg.InterOpParallelismThreads, tc.intra, tc.inter)
		}
	}
	// Past int32 TensorFlow would read a wrapped count and abort the
	// process; past MaxThreads a typo makes threads by the thousand.
	for _, bad := range []CompileOptions{{Threads: -1}, {IntraOpThreads: -2}, {InterOpThreads: -2}, {IntraOpThreads: 1 << 32},
		{InterOpThreads: 1<<32 - 1}, {Threads: tfwrap.MaxThreads + 1}, {IntraOpThreads: tfwrap.MaxThreads + 1}} {
		if _, err := sessionOptions(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

const threadsChildEnv = "GOTF_THREADS_CHILD"

// TestThreadOptionsReachTF compiles a model, in a fresh process each time
// (TensorFlow sizes its pools once per process), and counts the threads
// TensorFlow started: its inter-op pool's, named tf_Compute, must be
// exactly InterOpThreads, and its intra-op pool (unnamed threads) must
// grow with IntraOpThreads.
func TestThreadOptionsReachTF(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("counts threads in /proc/self/task (Linux)")
	}
	child := func(intra, inter int) (compute, others int) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestThreadOptionsChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%d", threadsChildEnv, intra, inter))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if _, rest, ok := strings.Cut(line, "THREADS "); ok {
				if _, err := fmt.Sscanf(rest, "compute=%d others=%d", &compute, &others); err != nil {
					t.Fatalf("child said %q: %v", line, err)
				}
				return compute, others
			}
		}
		t.Fatalf("child printed no THREADS line:\n%s", out)
		return 0, 0
	}
	c1, o1 := child(1, 1)
	c2, o2 := child(5, 3)
	t.Logf("intra 1, inter 1: %d tf_Compute, %d other new threads; intra 5, inter 3: %d, %d", c1, o1, c2, o2)
	if c1 != 1 || c2 != 3 {
		t.Errorf("inter-op threads (tf_Compute) %d and %d, want 1 and 3", c1, c2)
	}
	// 4 more intra-op threads; the Go runtime may start one or so more.
	if o2-o1 < 3 {
		t.Errorf("intra-op 5 started %d threads more than intra-op 1, want about 4", o2-o1)
	}
}

// TestThreadOptionsChild is TestThreadOptionsReachTF's child process.
func TestThreadOptionsChild(t *testing.T) {
	spec := os.Getenv(threadsChildEnv)
	if spec == "" {
		t.Skip("run by TestThreadOptionsReachTF")
	}
	a, b, _ := strings.Cut(spec, ",")
	intra, err1 := strconv.Atoi(a)
	inter, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad %s %q", threadsChildEnv, spec)
	}
	count := func() (compute, others int) {
		ts, err := filepath.Glob("/proc/self/task/*/comm")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ts {
			b, err := os.ReadFile(p)
			if err != nil {
				continue // a thread that ended
			}
			switch name := strings.TrimSpace(string(b)); {
			case name == "tf_Compute":
				compute++
			case !strings.HasPrefix(name, "tf_"):
				others++
			}
		}
		return compute, others
	}
	_, before := count()
	m, err := NewSequential([]int64{64}, layers.Dense(64, layers.WithActivation(layers.ReLU)), layers.Dense(4))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(CompileOptions{Loss: losses.MeanSquaredError{}, Optimizer: optimizers.SGD(0.1),
		IntraOpThreads: intra, InterOpThreads: inter}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x, err := tfwrap.NewTensor(make([]float32, 256*64), 256, 64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Predict(x, PredictOptions{}); err != nil {
		t.Fatal(err)
	}
	compute, after := count()
	fmt.Printf("THREADS compute=%d others=%d\n", compute, after-before)
}
