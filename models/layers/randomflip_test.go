package layers

import (
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/tfwrap"
)

// TestRandomFlip: in training each image comes out as itself or flipped
// in the mode's directions, every outcome occurs over 64 images, the same
// step draws the same coins and another step others; at inference the
// layer is the identity.
func TestRandomFlip(t *testing.T) {
	const n, h, w, c = 64, 3, 4, 2
	x := make([]float32, n*h*w*c)
	for i := range x {
		x[i] = float32(i)
	}
	at := func(img []float32, i, j, k int) float32 { return img[(i*w+j)*c+k] }
	flipped := func(img []float32, hor, ver bool) []float32 {
		out := make([]float32, len(img))
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				for k := 0; k < c; k++ {
					si, sj := i, j
					if ver {
						si = h - 1 - i
					}
					if hor {
						sj = w - 1 - j
					}
					out[(i*w+j)*c+k] = at(img, si, sj, k)
				}
			}
		}
		return out
	}
	run := func(mode string, training bool, step int64) []float32 {
		t.Helper()
		g := tfwrap.NewGraph()
		in := g.Placeholder("x", tfwrap.Float32, -1, h, w, c)
		l := RandomFlip(mode, WithName("flip"))
		out, err := l.Forward(&Context{Graph: g, Training: training, Seed: 9, Step: g.Const(tfwrap.Scalar(step))}, in)
		out = g.Add(out, g.Scalar(0, tfwrap.Float32)) // at inference out is the placeholder itself
		if err != nil {
			t.Fatal(err)
		}
		s, err := g.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		xt, _ := tfwrap.NewTensor(x, n, h, w, c)
		res, err := s.Eval(out, tfwrap.Feeds{in: xt})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := res.Float32s()
		return v
	}
	same := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	for _, mode := range []string{Horizontal, Vertical, HorizontalAndVertical} {
		outs := run(mode, true, 5)
		seen := map[[2]bool]int{}
		for s := 0; s < n; s++ {
			img, got := x[s*h*w*c:(s+1)*h*w*c], outs[s*h*w*c:(s+1)*h*w*c]
			found := false
			for _, hv := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				if (hv[0] && mode == Vertical) || (hv[1] && mode == Horizontal) {
					continue
				}
				if same(got, flipped(img, hv[0], hv[1])) {
					seen[hv]++
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("%s: image %d is neither itself nor a flip of itself", mode, s)
			}
		}
		want := 2
		if mode == HorizontalAndVertical {
			want = 4
		}
		if len(seen) != want {
			t.Errorf("%s: outcomes over %d images: %v", mode, n, seen)
		}
		if !same(outs, run(mode, true, 5)) {
			t.Errorf("%s: the same step drew other coins", mode)
		}
		if same(outs, run(mode, true, 6)) {
			t.Errorf("%s: another step drew the same coins", mode)
		}
		if !same(x, run(mode, false, 5)) {
			t.Errorf("%s: not the identity at inference", mode)
		}
	}
	if _, err := RandomFlip("diagonal").OutputShape([]int64{2, 2, 1}); err == nil || !strings.Contains(err.Error(), "mode") {
		t.Errorf("a bad mode: %v", err)
	}
	if _, err := RandomFlip("").OutputShape([]int64{4}); err == nil {
		t.Error("a vector took RandomFlip")
	}
	back, err := FromConfig(RandomFlip(Vertical, WithName("f"), WithSeed(4)).Config())
	if err != nil || back.Config().Mode != Vertical {
		t.Errorf("config round trip: %v %+v", err, back)
	}
}
