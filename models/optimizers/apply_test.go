package optimizers_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestOwnLoopMatchesKeras: an optimizer's Build is Keras's apply_gradients
// for a loop of one's own: a graph built with tfwrap, gradients from a
// GradientTape of a loss fit cannot express (an L1 penalty), and two
// optimizers applying their gradients to their own variables in one step
// (Adam with clipnorm on w, RMSprop on b). Five steps match the same loop
// in Keras (scripts/reference/apply_gradients.py) within 1e-5: the losses
// and the variables after.
func TestOwnLoopMatchesKeras(t *testing.T) {
	const n, in, out, steps = 16, 5, 3, 5
	r := rand.New(rand.NewPCG(7, 1))
	vals := func(k int) []float32 {
		v := make([]float32, k)
		for i := range v {
			v[i] = float32(r.NormFloat64()) * 0.5
		}
		return v
	}
	w0, b0, xs, ys := vals(in*out), vals(out), vals(n*in), vals(n*out)

	g := tfwrap.NewGraph()
	wt, _ := tfwrap.NewTensor(w0, in, out)
	bt, _ := tfwrap.NewTensor(b0, out)
	w, b := g.Variable("w", wt), g.Variable("b", bt)
	x := g.Placeholder("x", tfwrap.Float32, -1, in)
	y := g.Placeholder("y", tfwrap.Float32, -1, out)
	p := g.Tanh(g.Add(g.MatMul(x, w.Value()), b.Value()))
	loss := g.Add(g.Mean(g.Square(g.Sub(p, y))), g.Mul(g.Scalar(0.01, tfwrap.Float32), g.Sum(g.Abs(w.Value()))))
	grads, err := g.GradientTape().Gradient(loss, w, b)
	if err != nil {
		t.Fatal(err)
	}
	adam := optimizers.Adam(0.05, optimizers.ClipNorm(1))
	rms := optimizers.RMSprop(0.01)
	stepW, err := adam.Build(g, []*tfwrap.Variable{w}, grads[:1])
	if err != nil {
		t.Fatal(err)
	}
	stepB, err := rms.Build(g, []*tfwrap.Variable{b}, grads[1:])
	if err != nil {
		t.Fatal(err)
	}
	s, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.InitVariables(append(append([]*tfwrap.Variable{w, b}, adam.State()...), rms.State()...)...); err != nil {
		t.Fatal(err)
	}
	xt, _ := tfwrap.NewTensor(xs, n, in)
	yt, _ := tfwrap.NewTensor(ys, n, out)
	var losses []float64
	for range steps {
		// The loss and both updates in one run: the updates read the
		// gradients of the weights the loss saw, as in Keras's step.
		res, err := s.Run(tfwrap.Feeds{x: xt, y: yt}, []tfwrap.Output{loss}, stepW, stepB)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := res[0].Float32s()
		losses = append(losses, float64(l[0]))
	}
	gotW, _ := s.Value(w)
	gotB, _ := s.Value(b)
	gw, _ := gotW.Float32s()
	gb, _ := gotB.Float32s()

	var want struct {
		W, B, Losses []float64
	}
	if err := pyref.Run("apply_gradients.py", map[string]any{"w": w0, "w_shape": []int{in, out}, "b": b0,
		"x": xs, "x_shape": []int{n, in}, "y": ys, "steps": steps}, &want); err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	cmp := func(what string, got []float32, want []float64) {
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, Keras %d", what, len(got), len(want))
		}
		d := 0.0
		for i := range got {
			d = max(d, math.Abs(float64(got[i])-want[i]))
		}
		t.Logf("%s: largest difference from Keras after %d steps %.2g", what, steps, d)
		worst = max(worst, d)
	}
	cmp("w", gw, want.W)
	cmp("b", gb, want.B)
	l32 := make([]float32, len(losses))
	for i, l := range losses {
		l32[i] = float32(l)
	}
	cmp("losses", l32, want.Losses)
	// Keras's parity bound in this project: float32 updates whose order
	// of operations differs (Adam's m/√v magnifies a last-bit
	// difference in the first steps, where |m/√v| ≈ 1).
	if worst > 1e-5 {
		t.Fatalf("largest difference %.3g > 1e-5", worst)
	}
	if !(losses[steps-1] < losses[0]) {
		t.Fatalf("the loss did not go down: %v", losses)
	}
}

// TestBuildChecksGradients: a gradient whose shape or dtype cannot be its
// variable's is an error naming both, before TensorFlow sees the update
// (whose kernel would refuse it only when run).
func TestBuildChecksGradients(t *testing.T) {
	g := tfwrap.NewGraph()
	wt, _ := tfwrap.NewTensor(make([]float32, 6), 2, 3)
	w := g.Variable("w", wt)
	wrong, _ := tfwrap.NewTensor(make([]float32, 6), 3, 2)
	if _, err := optimizers.Adam(0.1).Build(g, []*tfwrap.Variable{w}, []tfwrap.Output{g.Const(wrong)}); err == nil ||
		!strings.Contains(err.Error(), "gradient 0 has shape [3 2], its variable w [2 3]") {
		t.Errorf("wrong shape: %v", err)
	}
	ints, _ := tfwrap.NewTensor(make([]int32, 6), 2, 3)
	if _, err := optimizers.SGD(0.1).Build(g, []*tfwrap.Variable{w}, []tfwrap.Output{g.Const(ints)}); err == nil ||
		!strings.Contains(err.Error(), "gradient 0 is int32") {
		t.Errorf("int32 gradient: %v", err)
	}
	if _, err := optimizers.SGD(0.1).Build(g, []*tfwrap.Variable{w}, nil); err == nil {
		t.Error("no gradients: no error")
	}
}
