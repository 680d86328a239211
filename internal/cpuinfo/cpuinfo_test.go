package cpuinfo

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	raw := `processor	: 0
model name	: Intel(R) Xeon(R) Processor
flags		: fpu avx2 fma avx512f avx512_bf16 amx_tile amx_bf16 sse4_2
processor	: 1
model name	: Intel(R) Xeon(R) Processor
flags		: fpu avx2 fma avx512f avx512_bf16 amx_tile amx_bf16 sse4_2
`
	c := parse(raw, CPU{Model: "unknown", Cores: 2})
	if c.Model != "Intel(R) Xeon(R) Processor" || strings.Join(c.Features, " ") != "avx2 fma avx512f avx512_bf16 amx_tile amx_bf16" {
		t.Fatalf("%+v", c)
	}
	amd := parse("model name : AMD EPYC 7B13\nflags : avx2 fma sse\n", CPU{Model: "unknown"})
	if amd.Model != "AMD EPYC 7B13" || strings.Join(amd.Features, " ") != "avx2 fma" {
		t.Fatalf("%+v", amd)
	}
}

func TestLine(t *testing.T) {
	l := Line()
	if !strings.HasPrefix(l, "cpu: ") || !strings.Contains(l, "oneDNN o") {
		t.Fatalf("%q", l)
	}
	t.Log(l)
}
