package optimizers_test

import (
	"fmt"
	"log"

	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// A training loop of one's own, as Keras users write one with
// tf.GradientTape and optimizer.apply_gradients: the graph and its loss
// are yours, a GradientTape gives the gradients, and Build adds the op
// that applies them (Keras's apply_gradients); run it once per step.
// Here: fitting y = 2x + 1.
func Example_ownLoop() {
	g := tfwrap.NewGraph()
	w := g.Variable("w", tfwrap.Scalar(float32(0)))
	b := g.Variable("b", tfwrap.Scalar(float32(0)))
	x := g.Placeholder("x", tfwrap.Float32, -1)
	y := g.Placeholder("y", tfwrap.Float32, -1)
	pred := g.Add(g.Mul(x, w.Value()), b.Value())
	loss := g.Mean(g.Square(g.Sub(pred, y)))
	grads, err := g.GradientTape().Gradient(loss, w, b)
	if err != nil {
		log.Fatal(err)
	}
	opt := optimizers.Adam(0.1)
	step, err := opt.Build(g, []*tfwrap.Variable{w, b}, grads)
	if err != nil {
		log.Fatal(err)
	}
	s, err := g.NewSession()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	// The model's variables and the optimizer's own (its slots, the
	// iteration count, the learning rate).
	if err := s.InitVariables(append([]*tfwrap.Variable{w, b}, opt.State()...)...); err != nil {
		log.Fatal(err)
	}
	xs, _ := tfwrap.NewTensor([]float32{-2, -1, 0, 1, 2, 3}, 6)
	ys, _ := tfwrap.NewTensor([]float32{-3, -1, 1, 3, 5, 7}, 6)
	for i := range 300 {
		res, err := s.Run(tfwrap.Feeds{x: xs, y: ys}, []tfwrap.Output{loss}, step)
		if err != nil {
			log.Fatal(err)
		}
		if l, _ := res[0].Float32s(); i == 0 || i == 299 {
			fmt.Printf("step %d: loss %.3f\n", i+1, l[0])
		}
	}
	wv, _ := s.Value(w)
	bv, _ := s.Value(b)
	fmt.Printf("w %.2f, b %.2f\n", must(wv.Float32s())[0], must(bv.Float32s())[0])
	// Output:
	// step 1: loss 15.667
	// step 300: loss 0.000
	// w 2.00, b 1.00
}

func must(v []float32, err error) []float32 {
	if err != nil {
		log.Fatal(err)
	}
	return v
}
