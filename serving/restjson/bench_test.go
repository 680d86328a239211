package restjson

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/tfwrap/dtype"
)

func mnistBody() []byte {
	var b strings.Builder
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
			fmt.Fprintf(&b, "[%g]", float32((r*28+c)%255)/255)
		}
		b.WriteByte(']')
	}
	b.WriteString(`]]}`)
	return []byte(b.String())
}

// BenchmarkDecodeMNIST decodes one 28×28×1 image in the row format.
func BenchmarkDecodeMNIST(b *testing.B) {
	body := mnistBody()
	in := []Input{{Name: "inputs", DType: dtype.Float32, Shape: []int64{-1, 28, 28, 1}}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Decode(body, in, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
