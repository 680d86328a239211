// Command perceptron trains the course's perceptron, predict(x) =
// max(0, x·W + b), on two clusters of points and shows the loss falling
// step by step, then the learned weights and the accuracy.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/tfgo-project/gotf/models/course"
	"github.com/tfgo-project/gotf/tfwrap"
)

func main() {
	steps := flag.Int("steps", 50, "gradient steps (full batch)")
	lr := flag.Float64("lr", 0.1, "learning rate")
	n := flag.Int("n", 1000, "points per cluster")
	seed := flag.Uint64("seed", 42, "seed for the data and the initial weights")
	flag.Parse()
	if err := run(*steps, *lr, *n, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "perceptron:", err)
		os.Exit(1)
	}
}

func run(steps int, lr float64, n int, seed uint64) error {
	if steps < 1 {
		return fmt.Errorf("--steps must be at least 1, got %d", steps)
	}
	info, err := tfwrap.Check()
	if err != nil {
		return err
	}
	fmt.Printf("libtensorflow %s, %d device(s): %s\n", info.Version, len(info.Devices), info.Devices[0].Name)
	x, labels, err := course.TwoClusters(n, seed)
	if err != nil {
		return err
	}
	p, err := course.NewPerceptron(2, 1, course.PerceptronOptions{LearningRate: lr, Seed: seed})
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Printf("training predict(x) = max(0, x·W + b) on %d points, lr=%g\n", 2*n, lr)
	var first float32
	for i := 0; i < steps; i++ {
		loss, err := p.TrainStep(x, labels)
		if err != nil {
			return err
		}
		if i == 0 {
			first = loss
		}
		bar := int(40 * loss / max(first, 1e-9))
		fmt.Printf("step %3d  loss %.4f  %s\n", i, loss, strings.Repeat("█", min(max(bar, 0), 40)))
	}
	W, b, err := p.Weights()
	if err != nil {
		return err
	}
	pred, err := p.Predict(x)
	if err != nil {
		return err
	}
	pv, err := pred.Float32s()
	if err != nil {
		return err
	}
	lv, err := labels.Float32s()
	if err != nil {
		return err
	}
	correct := 0
	for i := range pv {
		if (pv[i] > 0.5) == (lv[i] > 0.5) {
			correct++
		}
	}
	fmt.Printf("W = [%.4f %.4f]ᵀ  b = %.4f\n", W[0], W[1], b[0])
	fmt.Printf("RESULT model=perceptron accuracy=%.4f steps=%d\n", float64(correct)/float64(len(pv)), steps)
	return nil
}
