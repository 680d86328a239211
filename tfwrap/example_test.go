package tfwrap_test

import (
	"fmt"
	"log"

	"github.com/galeone/tensorflow/tensorflow/go/op"

	"github.com/tfgo-project/gotf/tfwrap"
)

// A constant is immutable and has a shape, a rank and a dtype; its value
// comes back as a Go slice, as .numpy() does in Python.
func ExampleGraph_Const() {
	x, err := tfwrap.NewTensor([]float32{1, 2, 3, 4}, 2, 2)
	if err != nil {
		log.Fatal(err)
	}
	g := tfwrap.NewGraph()
	c := g.Const(x)
	doubled := g.Mul(c, g.Scalar(2, tfwrap.Float32))
	s, err := g.NewSession()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	out, err := s.Eval(doubled, nil)
	if err != nil {
		log.Fatal(err)
	}
	values, _ := out.Float32s()
	fmt.Println(c.Shape(), c.Rank(), c.DType())
	fmt.Println(values)
	fmt.Println(out)
	// Output:
	// [2 2] 2 float32
	// [2 4 6 8]
	// tf.Tensor([[2 4] [6 8]], shape=(2, 2), dtype=float32)
}

// A variable holds state across runs: assign replaces its value, assign_add
// adds to it.
func ExampleVariable_Assign() {
	g := tfwrap.NewGraph()
	v := g.Variable("v", tfwrap.Scalar(float32(1)))
	assign := v.Assign(g, g.Scalar(3, tfwrap.Float32))
	add := v.AssignAdd(g, g.Scalar(1, tfwrap.Float32))
	s, err := g.NewSession()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.InitVariables(); err != nil {
		log.Fatal(err)
	}
	show := func(what string) {
		t, err := s.Value(v)
		if err != nil {
			log.Fatal(err)
		}
		x, _ := t.Float32s()
		fmt.Println(what, x[0])
	}
	show("initial")
	if _, err := s.Run(nil, nil, assign); err != nil {
		log.Fatal(err)
	}
	show("after assign(3)")
	if _, err := s.Run(nil, nil, add); err != nil {
		log.Fatal(err)
	}
	show("after assign_add(1)")
	// Output:
	// initial 1
	// after assign(3) 3
	// after assign_add(1) 4
}

// The gradient of a nonlinear function of a watched constant, as
// tf.GradientTape with tape.watch gives it: d/dx (x² · sin x) at x = 3.
func ExampleTape_Gradient() {
	g := tfwrap.NewGraph()
	x := g.Const(tfwrap.Scalar(3.0))
	tape := g.GradientTape()
	tape.Watch(x)
	y := g.Mul(g.Square(x), g.Sin(x))
	grads, err := tape.Gradient(y, x)
	if err != nil {
		log.Fatal(err)
	}
	s, err := g.NewSession()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	res, err := s.Run(nil, []tfwrap.Output{y, grads[0]})
	if err != nil {
		log.Fatal(err)
	}
	yv, _ := res[0].Float64s()
	dy, _ := res[1].Float64s()
	fmt.Printf("y = %.4f, dy/dx = 2x·sin x + x²·cos x = %.4f\n", yv[0], dy[0])
	// Output:
	// y = 1.2701, dy/dx = 2x·sin x + x²·cos x = -8.0632
}

// tfwrap in one screen: a linear unit trained by gradient descent, with
// ops by name from TensorFlow's registry (Apply, AddOp), the bindings' typed
// op wrappers through Scope, TF's gradients, and one session.
func Example() {
	g := tfwrap.NewGraph()
	x := g.Placeholder("x", tfwrap.Float32, -1, 2) // (None, 2)
	y := g.Placeholder("y", tfwrap.Float32, -1, 1)
	w0, _ := tfwrap.NewTensor([]float32{0.1, -0.1}, 2, 1)
	W := g.Variable("W", w0)
	b := g.Variable("b", tfwrap.Scalar(float32(0)))

	// Any op TensorFlow registers, by name, checked against its definition.
	pred := g.Apply("Relu", nil, g.Add(g.MatMul(x, W.Value()), b.Value()))
	loss := g.Mean(g.Square(g.Sub(y, pred)))
	grads, err := g.GradientTape().Gradient(loss, W, b)
	if err != nil {
		log.Fatal(err)
	}
	lr := g.Scalar(0.1, tfwrap.Float32)
	step := g.Group("step",
		W.AssignSub(g, g.Mul(lr, grads[0])),
		b.AssignSub(g, g.Mul(lr, grads[1])))

	// The bindings' generated wrappers build into the same graph.
	s := g.Scope()
	wT := g.FromTF(op.Transpose(s, W.Value().TF(), op.Const(s, []int32{1, 0})))
	both := g.Apply("ConcatV2", nil, tfwrap.OutputList{wT, wT}, g.Scalar(0, tfwrap.Int32))

	sess, err := g.NewSession() // the first building error, if any
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	if err := sess.InitVariables(); err != nil {
		log.Fatal(err)
	}
	xs, _ := tfwrap.NewTensor([]float32{0, 0, 0, 1, 1, 0, 1, 1}, 4, 2)
	ys, _ := tfwrap.NewTensor([]float32{1, 2, 3, 4}, 4, 1) // y = 2a + b + 1
	feeds := tfwrap.Feeds{x: xs, y: ys}
	for i := 0; i < 500; i++ {
		if _, err := sess.Run(feeds, nil, step); err != nil {
			log.Fatal(err)
		}
	}
	res, err := sess.Run(feeds, []tfwrap.Output{loss, both})
	if err != nil {
		log.Fatal(err)
	}
	l, _ := res[0].Float32s()
	w, _ := res[1].Float32s()
	fmt.Printf("loss %.4f\n", l[0])
	fmt.Printf("W^T twice %v: %.2f\n", res[1].Shape(), w)
	// Output:
	// loss 0.0000
	// W^T twice [2 2]: [2.00 1.00 2.00 1.00]
}

// TensorFlow defines the gradient of some ops only in Python, so the C
// API's registry has none. RegisterGradient adds one, written with graph
// ops, for every Tape: here the exponential integral Ei, d/dx Ei(x) =
// exp(x)/x.
func ExampleRegisterGradient() {
	err := tfwrap.RegisterGradient("Expint", func(g *tfwrap.Graph, op *tfwrap.Op, dys []tfwrap.Output) ([]tfwrap.Output, error) {
		x := op.Input(0)
		return []tfwrap.Output{g.Mul(dys[0], g.Div(g.Exp(x), x))}, g.Err()
	})
	if err != nil {
		log.Fatal(err)
	}
	g := tfwrap.NewGraph()
	x := g.Const(tfwrap.Scalar(1.0))
	tape := g.GradientTape()
	tape.Watch(x)
	y := g.Apply("Expint", nil, x)
	dx, err := tape.Gradient(y, x)
	if err != nil {
		log.Fatal(err)
	}
	s, err := g.NewSession()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	out, err := s.Eval(dx[0], nil)
	if err != nil {
		log.Fatal(err)
	}
	v, _ := out.Float64s()
	fmt.Printf("dEi/dx at 1 = %.6f (e = 2.718282)\n", v[0])
	fmt.Println(tfwrap.GradientOf("Expint"), tfwrap.GradientOf("MatMul"))
	// Output:
	// dEi/dx at 1 = 2.718282 (e = 2.718282)
	// go cpp
}
