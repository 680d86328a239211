package tfwrap

import "testing"

// BenchmarkBatching cuts 2,000 MNIST-sized rows into batches of 32, as
// Predict and Evaluate do: SplitRows reads the tensor once, where a
// SliceRows per batch copies the whole tensor each time.
func BenchmarkBatching(b *testing.B) {
	x, _ := NewTensor(make([]float32, 2000*784), 2000, 784)
	b.Run("SplitRows", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := x.SplitRows(Batches(2000, 32)...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SliceRowsEach", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for s := 0; s < 2000; s += 32 {
				if _, err := x.SliceRows(s, min(s+32, 2000)); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
