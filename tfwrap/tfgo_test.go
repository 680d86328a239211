package tfwrap_test

import (
	"bytes"
	"errors"
	"fmt"
	stdimage "image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	"github.com/galeone/tensorflow/tensorflow/go/op"
	tg "github.com/galeone/tfgo"
	"github.com/galeone/tfgo/image"
	"github.com/galeone/tfgo/image/filter"
	"github.com/galeone/tfgo/image/padding"

	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// tfgo (github.com/galeone/tfgo) against this project's libtensorflow and
// tfwrap: its README's programs, its panics turned into errors by Build,
// a graph of tfgo's ops trained with tfwrap's tape and optimizers, and
// tensors crossing without copies.

// noPanic runs fn and fails the test if tfgo panicked.
func noPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s panicked: %v", what, r)
		}
	}()
	fn()
}

// panics reports what fn panicked with, or nil.
func panics(fn func()) (r any) {
	defer func() { r = recover() }()
	fn()
	return nil
}

func near(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); !(d <= tol*(1+math.Abs(want[i]))) {
			t.Fatalf("%s[%d] = %v, want %v (diff %g)", what, i, got[i], want[i], d)
		}
	}
}

func f32tensor(t *testing.T, data []float32, dims ...int64) *tfwrap.Tensor {
	t.Helper()
	x, err := tfwrap.NewTensor(data, dims...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func f64s(t *testing.T, x *tfwrap.Tensor) []float64 {
	t.Helper()
	v, err := x.Float64sAny()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// tfgo's README "Getting started" program, as written there, on the
// libtensorflow this project links; its results then cross into tfwrap.
func TestTfgoReadmeGettingStarted(t *testing.T) {
	var results []*tf.Tensor
	var Y, Z, A *tg.Tensor
	noPanic(t, "README program", func() {
		root := tg.NewRoot()
		A = tg.NewTensor(root, tg.Const(root, [2][2]int32{{1, 2}, {-1, -2}}))
		x := tg.NewTensor(root, tg.Const(root, [2][1]int64{{10}, {100}}))
		b := tg.NewTensor(root, tg.Const(root, [2][1]int32{{-10}, {10}}))
		Y = A.MatMul(x.Output).Add(b.Output)
		Z = A.Clone()
		results = tg.Exec(root, []tf.Output{Y.Output, Z.Output}, nil, &tf.SessionOptions{})
	})
	// By hand: [1 2; -1 -2]·[10; 100] + [-10; 10] = [210-10; -210+10].
	want := [][]int32{{200}, {-200}}
	for i, r := range results {
		if got := fmt.Sprint(r.Value()); got != fmt.Sprint(want) {
			t.Fatalf("result %d = %s, want %v", i, got, want)
		}
	}
	if Y != A || Z == A {
		t.Fatalf("Y == A is %v (want true), Z == A is %v (want false)", Y == A, Z == A)
	}
	// The same results as tfwrap tensors: copied into Go memory.
	y, err := tfwrap.WrapTensor(results[0])
	if err != nil {
		t.Fatal(err)
	}
	got, err := y.Int32s()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[200 -200]" || fmt.Sprint(y.Shape()) != "[2 1]" {
		t.Fatalf("tfwrap sees %v shape %v", got, y.Shape())
	}
}

// tfgo's README image program (Sobel edges by convolution and correlation,
// encoded as JPEG) on a PNG written here.
func TestTfgoReadmeImage(t *testing.T) {
	const h, w = 12, 16
	img := stdimage.NewGray(stdimage.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if x >= w/2 { // a vertical edge
				img.SetGray(x, y, color.Gray{Y: 200})
			} else {
				img.SetGray(x, y, color.Gray{Y: 30})
			}
		}
	}
	path := filepath.Join(t.TempDir(), "edge.png")
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var results []*tf.Tensor
	noPanic(t, "README image program", func() {
		root := tg.NewRoot()
		grayImg := image.Read(root, path, 1)
		grayImg = grayImg.Scale(0, 255)
		Gx := grayImg.Clone().Convolve(filter.SobelX(root), image.Stride{X: 1, Y: 1}, padding.SAME)
		Gy := grayImg.Clone().Convolve(filter.SobelY(root), image.Stride{X: 1, Y: 1}, padding.SAME)
		convoluteEdges := image.NewImage(root.SubScope("edge"), Gx.Square().Add(Gy.Square().Value()).Sqrt().Value()).EncodeJPEG()
		Gx = grayImg.Clone().Correlate(filter.SobelX(root), image.Stride{X: 1, Y: 1}, padding.SAME)
		Gy = grayImg.Clone().Correlate(filter.SobelY(root), image.Stride{X: 1, Y: 1}, padding.SAME)
		correlateEdges := image.NewImage(root.SubScope("edge"), Gx.Square().Add(Gy.Square().Value()).Sqrt().Value()).EncodeJPEG()
		results = tg.Exec(root, []tf.Output{convoluteEdges, correlateEdges}, nil, &tf.SessionOptions{})
	})
	for i, r := range results {
		dec, err := jpeg.Decode(strings.NewReader(r.Value().(string)))
		if err != nil {
			t.Fatalf("result %d is no JPEG: %v", i, err)
		}
		if b := dec.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Fatalf("result %d is %v, want %d×%d", i, b, w, h)
		}
		// The edge is bright and the flat left half dark (rows 2..h-3
		// avoid the zero padding's own edges).
		g := func(x, y int) uint8 { return color.GrayModel.Convert(dec.At(x, y)).(color.Gray).Y }
		if edge, flat := g(w/2, h/2), g(3, h/2); edge < 128 || flat > 64 {
			t.Fatalf("result %d: edge pixel %d, flat pixel %d", i, edge, flat)
		}
	}
}

// Defects of tfgo this project's README names, checked on tfgo itself so
// that the README stays true: Exec finalizes the scope, so a root runs
// once; image.NewImage min-max rescales every image it wraps (a constant
// image becomes NaN); errors are panics.
func TestTfgoDefects(t *testing.T) {
	root := tg.NewRoot()
	c := tg.Const(root, []float32{1, 2})
	noPanic(t, "first Exec", func() { tg.Exec(root, []tf.Output{c}, nil, nil) })
	if r := panics(func() { tg.Exec(root, []tf.Output{c}, nil, nil) }); r == nil || !strings.Contains(fmt.Sprint(r), "finalized") {
		t.Fatalf("a second Exec on the same root: %v, want a panic about the finalized scope", r)
	}

	// NewImage of pixels in [0.2, 0.6] gives [0, 1]; of a constant image, NaN.
	root = tg.NewRoot()
	ramp := image.NewImage(root, tg.Const(root, [1][3][1]float32{{{0.2}, {0.4}, {0.6}}})).Value()
	flat := image.NewImage(root.SubScope("flat"), tg.Const(root, [1][2][1]float32{{{0.5}, {0.5}}})).Value()
	var res []*tf.Tensor
	noPanic(t, "NewImage", func() { res = tg.Exec(root, []tf.Output{ramp, flat}, nil, nil) })
	rescaled, err := tfwrap.WrapTensor(res[0])
	if err != nil {
		t.Fatal(err)
	}
	near(t, "NewImage of [0.2 0.4 0.6] (min-max rescaled)", f64s(t, rescaled), []float64{0, 0.5, 1}, 1e-6)
	if v := res[1].Value().([][][]float32); !math.IsNaN(float64(v[0][0][0])) {
		t.Fatalf("NewImage of a constant image = %v, want NaN (0/0)", v)
	}

	if r := panics(func() { tg.LoadModel(filepath.Join(t.TempDir(), "none"), []string{"serve"}, nil) }); r == nil {
		t.Fatal("tg.LoadModel of a missing folder did not panic")
	}
}

// Build turns each kind of panic in tfgo (and the op package, and the
// function itself) into the graph's error, and stops the graph.
func TestBuildRecoversPanics(t *testing.T) {
	cases := []struct {
		name  string
		fn    func(s *op.Scope) tf.Output
		want  []string
		panic bool
	}{
		{"unsupported const", func(s *op.Scope) tf.Output {
			return tg.NewTensor(s, tg.Const(s, struct{ A int }{1})).Clone().Output
		}, []string{"panic in tfgo.(*Tensor).Check", "Const"}, true},
		{"matmul shape mismatch", func(s *op.Scope) tf.Output {
			a := tg.NewTensor(s, tg.Const(s, [2][3]float32{}))
			return a.MatMul(tg.Const(s, [2][3]float32{})).Output
		}, []string{"panic in tfgo.(*Tensor).Check", "Dimensions must be equal"}, true},
		{"image of rank 1", func(s *op.Scope) tf.Output {
			return image.NewImage(s, tg.Const(s, []float32{1, 2})).Value()
		}, []string{"panic in image.NewImage", "tensor should be 3 or 4 D, but has 1 dimensions"}, true},
		{"dtype without a maximum", func(s *op.Scope) tf.Output {
			return tg.Const(s, tg.MaxValue(tf.String))
		}, []string{"panic in tfgo.MaxValue", "not supported"}, true},
		{"nil dereference in fn", func(s *op.Scope) tf.Output {
			var x *tg.Tensor
			return x.Output
		}, []string{"panic in tfwrap_test.TestBuildRecoversPanics", "nil pointer dereference"}, true},
		{"output of another graph", func(s *op.Scope) tf.Output {
			return tg.Const(tg.NewRoot(), float32(1))
		}, []string{"FromTF", "belongs to another graph"}, false},
		{"scope error without a panic", func(s *op.Scope) tf.Output {
			v := op.Const(s.SubScope("v"), []float32{1})
			return op.MatMul(s, v, v)
		}, []string{"op scope", "must be rank 2"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := tfwrap.NewGraph()
			before := g.Scalar(1, tfwrap.Float32)
			var out tfwrap.Output
			noPanic(t, "Build", func() { out = g.Build(c.fn) })
			if out.Valid() {
				t.Fatalf("Build returned a valid output %s", out)
			}
			err := g.Err()
			if err == nil {
				t.Fatal("no error recorded")
			}
			t.Log(err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
			if got := errors.Is(err, tfwrap.ErrPanic); got != c.panic {
				t.Fatalf("errors.Is(err, ErrPanic) = %v, want %v: %v", got, c.panic, err)
			}
			if strings.Contains(err.Error(), "Stacktrace") || strings.Contains(err.Error(), "goroutine ") {
				t.Fatalf("the error carries a stack dump: %q", err)
			}
			// The graph is stopped: no more ops, Build does not run fn,
			// and a session refuses to start.
			if g.Add(before, before).Valid() {
				t.Fatal("a builder worked after the error")
			}
			ran := false
			g.Build(func(s *op.Scope) tf.Output { ran = true; return tf.Output{} })
			if ran {
				t.Fatal("Build ran its function on a graph with an error")
			}
			if _, err := g.NewSession(); err == nil {
				t.Fatal("NewSession on a graph with an error")
			}
		})
	}
	// A panic value that is an error stays reachable with errors.Is.
	sentinel := errors.New("sentinel")
	g := tfwrap.NewGraph()
	g.Build(func(s *op.Scope) tf.Output { panic(fmt.Errorf("wrapped: %w", sentinel)) })
	if err := g.Err(); !errors.Is(err, sentinel) || !errors.Is(err, tfwrap.ErrPanic) {
		t.Fatalf("err %v does not wrap both the panic's error and ErrPanic", err)
	}
	var nilG *tfwrap.Graph
	if nilG.Build(nil).Valid() {
		t.Fatal("Build on a nil graph")
	}
	g = tfwrap.NewGraph()
	g.Build(nil)
	if err := g.Err(); err == nil || !strings.Contains(err.Error(), "nil function") {
		t.Fatalf("Build(nil): %v", err)
	}
}

// tfgo's ops built into a tfwrap graph with Build compute what is worked
// out by hand, and tfwrap builds on their outputs.
func TestBuildTfgoOps(t *testing.T) {
	g := tfwrap.NewGraph()
	x := g.Const(f32tensor(t, []float32{1, 2, 3, 4}, 2, 2))
	w := g.Const(f32tensor(t, []float32{1, -1}, 2, 1))
	b := g.Const(tfwrap.Scalar(int32(10))) // tfgo casts it to x's dtype
	var cast tf.Output
	y := g.Build(func(s *op.Scope) tf.Output {
		out := tg.NewTensor(s, x.TF()).MatMul(w.TF()).Add(b.TF())
		cast = tg.Cast(s, out.Output, tf.Int64)
		return out.Output
	})
	yInt := g.FromTF(cast)
	batch := g.Build(func(s *op.Scope) tf.Output { return tg.Batchify(s, []tf.Output{x.TF(), x.TF(), x.TF()}) })
	packed := g.Apply("Pack", nil, tfwrap.OutputList{x, x, x}) // the README's counterpart of Batchify
	doubled := g.Mul(y, g.Scalar(2, tfwrap.Float32))
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	sess, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	res, err := sess.Run(nil, []tfwrap.Output{y, yInt, batch, doubled, packed})
	if err != nil {
		t.Fatal(err)
	}
	// [1 2; 3 4]·[1; -1] + 10 = [9; 9].
	near(t, "tfgo matmul+add", f64s(t, res[0]), []float64{9, 9}, 0)
	if res[1].DType() != tfwrap.Int64 {
		t.Fatalf("tg.Cast gave %v", res[1].DType())
	}
	if s := res[2].Shape(); fmt.Sprint(s) != "[3 2 2]" {
		t.Fatalf("Batchify shape %v, want [3 2 2]", s)
	}
	near(t, "tfwrap on tfgo's output", f64s(t, res[3]), []float64{18, 18}, 0)
	if fmt.Sprint(res[4].Shape()) != "[3 2 2]" {
		t.Fatalf("Pack shape %v, want [3 2 2]", res[4].Shape())
	}
	near(t, "Pack vs Batchify", f64s(t, res[4]), f64s(t, res[2]), 0)
	near(t, "Batchify", f64s(t, res[2]), []float64{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}, 0)
}

// A linear model written with tfgo's tensor methods, over tfwrap
// variables, is differentiated by tfwrap's GradientTape and trained by
// optimizers.SGD; each step matches plain gradient descent worked out in
// float64 here, and the loss falls.
func TestTfgoGraphTrains(t *testing.T) {
	xs := []float32{1, 2, 2, 1, 3, 0, 0, 1} // 4×2
	ys := []float32{5, 4, 3, 2}             // 4×1
	const lr, steps = 0.05, 20
	g := tfwrap.NewGraph()
	w := g.Variable("w", f32tensor(t, []float32{0.5, -0.5}, 2, 1))
	b := g.Variable("b", f32tensor(t, []float32{0.1}, 1))
	x := g.Const(f32tensor(t, xs, 4, 2))
	negY := g.Const(f32tensor(t, []float32{-5, -4, -3, -2}, 4, 1))
	// (x·w + b - y)², all in tfgo's methods; the mean in tfwrap.
	sq := g.Build(func(s *op.Scope) tf.Output {
		return tg.NewTensor(s, x.TF()).MatMul(w.Value().TF()).Add(b.Value().TF()).Add(negY.TF()).Square().Output
	})
	loss := g.Mean(sq)
	grads, err := g.GradientTape().Gradient(loss, w, b)
	if err != nil {
		t.Fatal(err)
	}
	train, err := optimizers.SGD(lr).Build(g, []*tfwrap.Variable{w, b}, grads)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.InitVariables(); err != nil {
		t.Fatal(err)
	}

	// The reference: loss = mean((x·w + b - y)²), dL/dw = 2/n·xᵀr,
	// dL/db = 2/n·Σr, w -= lr·dL/dw.
	rw := []float64{0.5, -0.5}
	rb := 0.1
	refLoss := func() (float64, []float64, float64) {
		var l, gb float64
		gw := make([]float64, 2)
		for i := 0; i < 4; i++ {
			r := float64(xs[2*i])*rw[0] + float64(xs[2*i+1])*rw[1] + rb - float64(ys[i])
			l += r * r / 4
			gw[0] += 2 * r * float64(xs[2*i]) / 4
			gw[1] += 2 * r * float64(xs[2*i+1]) / 4
			gb += 2 * r / 4
		}
		return l, gw, gb
	}
	var first, last float64
	for step := 0; step < steps; step++ {
		res, err := sess.Run(nil, []tfwrap.Output{loss, grads[0], grads[1]})
		if err != nil {
			t.Fatal(err)
		}
		l, gw, gb := refLoss()
		near(t, fmt.Sprintf("step %d loss", step), f64s(t, res[0]), []float64{l}, 1e-5)
		near(t, fmt.Sprintf("step %d dL/dw", step), f64s(t, res[1]), gw, 1e-5)
		near(t, fmt.Sprintf("step %d dL/db", step), f64s(t, res[2]), []float64{gb}, 1e-5)
		if step == 0 {
			first = l
		}
		last = l
		if _, err := sess.Run(nil, nil, train); err != nil {
			t.Fatal(err)
		}
		rw[0] -= lr * gw[0]
		rw[1] -= lr * gw[1]
		rb -= lr * gb
	}
	if !(last < first/4) {
		t.Fatalf("loss went from %v to %v", first, last)
	}
	gotW, err := sess.Value(w)
	if err != nil {
		t.Fatal(err)
	}
	gotB, err := sess.Value(b)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "trained w", f64s(t, gotW), rw, 1e-4)
	near(t, "trained b", f64s(t, gotB), []float64{rb}, 1e-4)
}

// A graph built on a tfgo root crosses into tfwrap with WrapGraph, and
// tensors cross both ways as copies: tfwrap's go into tfgo's Exec as
// feeds, tfgo's results come back through WrapTensor. A copy is the price
// of never reading C memory a finalizer may free: tfwrap's tensors live in
// Go memory.
func TestTensorsCrossByCopy(t *testing.T) {
	root := tg.NewRoot()
	ph := op.Placeholder(root.SubScope("x"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1)))
	twice := tg.NewTensor(root, ph).Mul(tg.Const(root, float32(2))).Output

	in := f32tensor(t, []float32{1, 2, 3}, 3)
	var res []*tf.Tensor
	noPanic(t, "tg.Exec", func() {
		res = tg.Exec(root, []tf.Output{twice}, map[tf.Output]*tf.Tensor{ph: in.TF()}, nil)
	})
	if a, b := in.TF(), in.TF(); a == nil || a == b || fmt.Sprint(a.Value()) != fmt.Sprint(b.Value()) {
		t.Fatal("Tensor.TF does not give equal, separate copies")
	}
	out, err := tfwrap.WrapTensor(res[0])
	if err != nil {
		t.Fatal(err)
	}
	near(t, "tfgo result in tfwrap", f64s(t, out), []float64{2, 4, 6}, 0)

	// A 4 MB tensor crosses both ways with its values and shape intact.
	vals := make([]float32, 1<<20)
	for i := range vals {
		vals[i] = float32(i % 1000)
	}
	big, err := tfwrap.NewTensor(vals, 1<<10, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := tfwrap.WrapTensor(big.TF())
	if err != nil {
		t.Fatal(err)
	}
	back, err := wrapped.Float32s()
	if err != nil || !slices.Equal(back, vals) || fmt.Sprint(wrapped.Shape()) != "[1024 1024]" {
		t.Fatalf("4 MB round trip: shape %v, equal %v, %v", wrapped.Shape(), slices.Equal(back, vals), err)
	}

	// The graph behind the tfgo root is the tfwrap graph: its placeholder
	// and tfgo's output are fed and fetched through a tfwrap session.
	root2 := tg.NewRoot()
	ph2 := op.Placeholder(root2.SubScope("x"), tf.Float, op.PlaceholderShape(tf.MakeShape(-1)))
	sq := tg.NewTensor(root2, ph2).Square().Output
	graph, err := root2.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	g := tfwrap.WrapGraph(graph)
	x, y := g.FromTF(ph2), g.FromTF(sq)
	plus := g.Add(y, g.Scalar(1, tfwrap.Float32))
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	if g.TF() != graph {
		t.Fatal("WrapGraph did not keep the graph")
	}
	sess, err := g.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	got, err := sess.Run(tfwrap.Feeds{x: in}, []tfwrap.Output{plus})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "x²+1", f64s(t, got[0]), []float64{2, 5, 10}, 1e-6)
}
