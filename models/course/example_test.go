package course_test

import (
	"fmt"
	"log"

	"github.com/tfgo-project/gotf/models/course"
)

// The course's perceptron learns to separate two clusters of points:
// predict(x) = max(0, x·W + b), trained by gradient steps on the MSE loss.
func ExamplePerceptron() {
	x, labels, err := course.TwoClusters(1000, 42)
	if err != nil {
		log.Fatal(err)
	}
	p, err := course.NewPerceptron(2, 1, course.PerceptronOptions{
		LearningRate: 0.1,
		InitialW:     []float32{0.5, 0.5},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	for step := 0; step < 40; step++ {
		loss, err := p.TrainStep(x, labels)
		if err != nil {
			log.Fatal(err)
		}
		if step%10 == 0 {
			fmt.Printf("step %2d: loss %.4f\n", step, loss)
		}
	}
	pred, err := p.Predict(x)
	if err != nil {
		log.Fatal(err)
	}
	pv, _ := pred.Float32s()
	lv, _ := labels.Float32s()
	correct := 0
	for i := range pv {
		if (pv[i] > 0.5) == (lv[i] > 0.5) {
			correct++
		}
	}
	fmt.Printf("accuracy %.2f\n", float64(correct)/float64(len(pv)))
	// Output:
	// step  0: loss 2.0203
	// step 10: loss 0.0474
	// step 20: loss 0.0409
	// step 30: loss 0.0358
	// accuracy 0.99
}
