// Package cpuinfo describes the CPU that numbers were measured on: its
// model, the vector extensions that change TensorFlow's kernels, and
// whether TensorFlow's oneDNN kernels are on. Benchmarks, load tests and
// tfcheck print it beside every number, since CI's machines alternate
// between AMD (AVX2) and Intel (AVX-512, AMX; oneDNN on by default).
package cpuinfo

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/tfgo-project/gotf/tfwrap"
)

// Features are the flags of /proc/cpuinfo that TensorFlow's CPU kernels
// care about, in the order they are printed.
var Features = []string{"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8"}

// CPU is what /proc/cpuinfo says.
type CPU struct {
	Model    string   // model name, e.g. "AMD EPYC 7B13"
	Cores    int      // logical CPUs Go sees
	Features []string // those of Features the CPU has
}

// Read reads /proc/cpuinfo; on another OS the model is "unknown".
func Read() CPU {
	c := CPU{Model: "unknown", Cores: runtime.NumCPU()}
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return c
	}
	return parse(string(raw), c)
}

func parse(raw string, c CPU) CPU {
	var flags []string
	for _, line := range strings.Split(raw, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			if c.Model == "unknown" {
				c.Model = strings.TrimSpace(v)
			}
		case "flags":
			if flags == nil {
				flags = strings.Fields(v)
			}
		}
	}
	for _, f := range Features {
		if slices.Contains(flags, f) {
			c.Features = append(c.Features, f)
		}
	}
	return c
}

// OneDNN says whether TensorFlow's oneDNN kernels are on in this process
// and why: "on (default for this CPU)", "off (TF_ENABLE_ONEDNN_OPTS=0)".
func OneDNN() string {
	on, err := tfwrap.OneDNN()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	state := "off"
	if on {
		state = "on"
	}
	if v, set := os.LookupEnv("TF_ENABLE_ONEDNN_OPTS"); set {
		return fmt.Sprintf("%s (TF_ENABLE_ONEDNN_OPTS=%s)", state, v)
	}
	return state + " (TensorFlow's default for this CPU)"
}

// Line is one line for a log: "cpu: AMD EPYC 7B13, 2 cores, avx2 fma;
// oneDNN off (TensorFlow's default for this CPU)".
func Line() string {
	c := Read()
	feats := "no AVX2"
	if len(c.Features) > 0 {
		feats = strings.Join(c.Features, " ")
	}
	return fmt.Sprintf("cpu: %s, %d cores, %s; oneDNN %s", c.Model, c.Cores, feats, OneDNN())
}

// ErrNoBFloat16 is why bfloat16 cannot pay off in this process.
var ErrNoBFloat16 = errors.New("bfloat16 needs TensorFlow's oneDNN kernels and a CPU with bfloat16 instructions (AVX512-BF16 or AMX-BF16)")

// BFloat16 says whether TensorFlow's oneDNN bfloat16 rewrite can run fast
// here: oneDNN is on (tfwrap.OneDNN) and the CPU has bfloat16 instructions.
// Where oneDNN is off TensorFlow skips the rewrite, and without the
// instructions oneDNN would emulate them; the error says which.
func BFloat16() error {
	c := Read()
	if !slices.Contains(c.Features, "avx512_bf16") && !slices.Contains(c.Features, "amx_bf16") {
		return fmt.Errorf("%w: %s has neither", ErrNoBFloat16, c.Model)
	}
	on, err := tfwrap.OneDNN()
	if err != nil {
		return err
	}
	if !on {
		return fmt.Errorf("%w: oneDNN is off in this process (TF_ENABLE_ONEDNN_OPTS=%q)", ErrNoBFloat16, os.Getenv("TF_ENABLE_ONEDNN_OPTS"))
	}
	return nil
}
