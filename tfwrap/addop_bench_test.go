package tfwrap

import (
	"fmt"
	"testing"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// The cost of building one op: through tfwrap's checked generic builder
// against the bindings' unchecked AddOperation (go test -bench BuildOp).
func BenchmarkBuildOp(b *testing.B) {
	b.Run("tfwrap", func(b *testing.B) {
		g := NewGraph()
		x := g.Scalar(1, Float32)
		b.ResetTimer()
		for range b.N {
			x = g.Add(x, x)
		}
		if g.Err() != nil {
			b.Fatal(g.Err())
		}
	})
	b.Run("bindings", func(b *testing.B) {
		g := NewGraph()
		x := g.Scalar(1, Float32).out
		tg := g.TF()
		b.ResetTimer()
		for i := range b.N {
			op, err := tg.AddOperation(tf.OpSpec{Type: "AddV2", Name: fmt.Sprintf("a%d", i), Input: []tf.Input{x, x}})
			if err != nil {
				b.Fatal(err)
			}
			x = op.Output(0)
		}
	})
}
