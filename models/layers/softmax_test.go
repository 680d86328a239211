package layers

import (
	"math"
	"testing"

	"github.com/tfgo-project/gotf/tfwrap"
)

// TestSoftmaxMatchesTF: the softmax activation (plain ops where oneDNN
// runs, TensorFlow's op elsewhere) gives TensorFlow's Softmax values and
// gradient (of a loss on the probabilities, not the logits) on ordinary,
// huge and -inf logits, rank 2 and 3, float32 and float64. Rows holding
// +inf or NaN come out all NaN, as TensorFlow's own CPU kernel gives.
func TestSoftmaxMatchesTF(t *testing.T) {
	inf := math.Inf(1)
	rows := [][]float64{{0.5, -1.25, 3, 0.01}, {1e30, 0, -1e30, 5}, {-inf, 2, -inf, 1}, {3e38, 3e38, -3e38, 0}, {7, 7, 7, 7}, {-80, -90, -100, -85}}
	for _, dt := range []tfwrap.DType{tfwrap.Float32, tfwrap.Float64} {
		for _, shape := range [][]int64{{6, 4}, {2, 3, 4}} {
			g := tfwrap.NewGraph()
			x := g.Placeholder("x", dt, shape...)
			ours, theirs := softmax(g, x), g.Softmax(x)
			w := g.Placeholder("w", dt, shape...) // a loss on the probabilities: sum(w * p)
			var flat, wv []float64
			for i, r := range rows {
				flat = append(flat, r...)
				for j := range r {
					wv = append(wv, float64((i*7+j*3)%5)-2)
				}
			}
			in, win := tensorOf(t, dt, flat, shape), tensorOf(t, dt, wv, shape)
			tape := g.GradientTape()
			tape.Watch(x)
			gx1, err := tape.Gradient(g.Sum(g.Mul(w, ours)), x)
			if err != nil {
				t.Fatal(err)
			}
			tape2 := g.GradientTape()
			tape2.Watch(x)
			gx2, err := tape2.Gradient(g.Sum(g.Mul(w, theirs)), x)
			if err != nil {
				t.Fatal(err)
			}
			sess, err := g.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			out, err := sess.Run(tfwrap.Feeds{x: in, w: win}, []tfwrap.Output{ours, theirs, gx1[0], gx2[0]})
			if err != nil {
				t.Fatal(err)
			}
			sess.Close()
			tol := 1e-6
			if dt == tfwrap.Float64 {
				tol = 1e-14
			}
			for k, what := range []string{"values", "gradient"} {
				a, _ := out[2*k].Float64sAny()
				b, _ := out[2*k+1].Float64sAny()
				for i := range a {
					if math.IsNaN(b[i]) != math.IsNaN(a[i]) || math.Abs(a[i]-b[i]) > tol*(1+math.Abs(b[i])) {
						t.Errorf("%v %v %s[%d]: ours %g, TensorFlow's %g", dt, shape, what, i, a[i], b[i])
					}
				}
			}
		}
	}
	// +inf or NaN in a row: all NaN, as TensorFlow's CPU kernel.
	g := tfwrap.NewGraph()
	x := g.Placeholder("x", tfwrap.Float32, 2, 3)
	p := softmax(g, x)
	sess, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	in, _ := tfwrap.NewTensor([]float32{float32(inf), 1, 2, float32(math.NaN()), 1, 2}, 2, 3)
	out, err := sess.Run(tfwrap.Feeds{x: in}, []tfwrap.Output{p})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := out[0].Float32s()
	for i, f := range v {
		if !math.IsNaN(float64(f)) {
			t.Errorf("softmax of a row with +inf or NaN: [%d] = %g, want NaN", i, f)
		}
	}
}

func tensorOf(t *testing.T, dt tfwrap.DType, v []float64, shape []int64) *tfwrap.Tensor {
	t.Helper()
	var x *tfwrap.Tensor
	var err error
	if dt == tfwrap.Float64 {
		x, err = tfwrap.NewTensor(v, shape...)
	} else {
		f := make([]float32, len(v))
		for i := range v {
			f[i] = float32(v[i])
		}
		x, err = tfwrap.NewTensor(f, shape...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// BenchmarkSoftmax: a session that fetches only a 32×10 softmax, as
// TensorFlow's op and as the layers build it, against an identity (the
// floor of a Run). Where oneDNN runs, TensorFlow's op is its _MklSoftmax.
func BenchmarkSoftmax(b *testing.B) {
	g := tfwrap.NewGraph()
	x := g.Placeholder("x", tfwrap.Float32, -1, 10)
	outs := map[string]tfwrap.Output{"identity": g.Identity("id", x), "tf_softmax": g.Softmax(x), "layers_softmax": softmax(g, x)}
	sess, err := g.NewSession()
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	in, _ := tfwrap.NewTensor(make([]float32, 320), 32, 10)
	for _, name := range []string{"identity", "tf_softmax", "layers_softmax"} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := sess.Run(tfwrap.Feeds{x: in}, []tfwrap.Output{outs[name]}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
