package course_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tfgo-project/gotf/models/course"
	"github.com/tfgo-project/gotf/tfwrap"
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

// A GAN trains two models with a step Fit cannot express: the
// discriminator's update, then the generator's against the updated
// discriminator, each with its own optimizer (cmd/gan trains one on MNIST;
// TestGANMatchesKeras checks the step against Keras).
func ExampleGAN() {
	gen, err := course.MNISTGenerator(8)
	if err != nil {
		log.Fatal(err)
	}
	disc, err := course.MNISTDiscriminator()
	if err != nil {
		log.Fatal(err)
	}
	g, err := course.NewGAN(gen, disc, course.GANOptions{Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	// Stand-in "real" images: a bright square on black, in [-1, 1].
	real := make([]float32, 16*784)
	for i := range 16 {
		for p := range 784 {
			real[i*784+p] = -1
			if r, c := p/28, p%28; r > 8 && r < 20 && c > 8 && c < 20 {
				real[i*784+p] = 1
			}
		}
	}
	h, err := g.Train(context.Background(), real, course.GANTrainOptions{Epochs: 2, StepsPerEpoch: 10, BatchSize: 16})
	if err != nil {
		log.Fatal(err)
	}
	noise, _ := tfwrap.NewTensor(make([]float32, 2*8), 2, 8)
	x, err := g.Generate(noise)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(h.Metrics["d_loss"]), "epochs of d_loss and", len(h.Metrics["g_loss"]), "of g_loss; samples of shape", x.Shape())
	// Output:
	// 2 epochs of d_loss and 2 of g_loss; samples of shape [2 784]
}
