package course_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/course"
	"github.com/tfgo-project/gotf/tfwrap"
)

func newMNISTGAN(t *testing.T, latent int, seed uint64) *course.GAN {
	t.Helper()
	gen, err := course.MNISTGenerator(latent)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := course.MNISTDiscriminator()
	if err != nil {
		t.Fatal(err)
	}
	g, err := course.NewGAN(gen, disc, course.GANOptions{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func uniform(rng *rand.Rand, n int, lo, hi float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return out
}

func flat(t *testing.T, ts []*tfwrap.Tensor) [][]float32 {
	t.Helper()
	out := make([][]float32, len(ts))
	for i, x := range ts {
		v, err := x.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = v
	}
	return out
}

// TestGANMatchesKeras trains the GAN for 3 steps from Go and the same GAN
// written with Keras (two GradientTapes, two Adams) from the same weights
// on the same data and noise, and compares both losses of every step and
// every weight after the last within 1e-5.
func TestGANMatchesKeras(t *testing.T) {
	const latent, batch, steps = 16, 32, 3
	g := newMNISTGAN(t, latent, 11)
	defer g.Close()
	gen0, disc0, err := g.Weights()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	type stepData struct {
		Real []float32 `json:"real"`
		Z1   []float32 `json:"z1"`
		Z2   []float32 `json:"z2"`
	}
	var data []stepData
	var dLoss, gLoss []float64
	for range steps {
		s := stepData{uniform(rng, batch*784, -1, 1), uniform(rng, batch*latent, -1, 1), uniform(rng, batch*latent, -1, 1)}
		data = append(data, s)
		real, _ := tfwrap.NewTensor(s.Real, batch, 784)
		z1, _ := tfwrap.NewTensor(s.Z1, batch, latent)
		z2, _ := tfwrap.NewTensor(s.Z2, batch, latent)
		l, err := g.Step(real, z1, z2)
		if err != nil {
			t.Fatal(err)
		}
		dLoss, gLoss = append(dLoss, l.Discriminator), append(gLoss, l.Generator)
	}
	gen, disc, err := g.Weights()
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		DLoss []float64   `json:"d_loss"`
		GLoss []float64   `json:"g_loss"`
		Gen   [][]float32 `json:"gen"`
		Disc  [][]float32 `json:"disc"`
	}
	err = pyref.Run("keras_gan.py", map[string]any{"latent": latent, "lr": 2e-4, "beta1": 0.5,
		"gen": flat(t, gen0), "disc": flat(t, disc0), "steps": data}, &ref)
	if err != nil {
		t.Fatal(err)
	}
	worstLoss := 0.0
	for i := range steps {
		worstLoss = math.Max(worstLoss, math.Max(math.Abs(dLoss[i]-ref.DLoss[i]), math.Abs(gLoss[i]-ref.GLoss[i])))
	}
	t.Logf("losses, Go: d %.6f g %.6f; Keras: d %.6f g %.6f", dLoss, gLoss, ref.DLoss, ref.GLoss)
	worstW := 0.0
	for _, c := range []struct {
		what      string
		got, want [][]float32
	}{{"generator", flat(t, gen), ref.Gen}, {"discriminator", flat(t, disc), ref.Disc}} {
		if len(c.got) != len(c.want) {
			t.Fatalf("%s: %d weights in Go, %d in Keras", c.what, len(c.got), len(c.want))
		}
		for i := range c.got {
			if len(c.got[i]) != len(c.want[i]) {
				t.Fatalf("%s weight %d: %d values in Go, %d in Keras", c.what, i, len(c.got[i]), len(c.want[i]))
			}
			for j := range c.got[i] {
				worstW = math.Max(worstW, math.Abs(float64(c.got[i][j]-c.want[i][j])))
			}
		}
	}
	t.Logf("largest difference from Keras after %d steps: losses %.2g, weights %.2g", steps, worstLoss, worstW)
	if worstLoss > 1e-5 || worstW > 1e-5 {
		t.Errorf("Go's GAN is %.2g (losses) and %.2g (weights) from Keras's; bound 1e-5", worstLoss, worstW)
	}
	// The weights moved: a step that did nothing would also match.
	moved := 0.0
	for i, w := range flat(t, gen) {
		w0 := flat(t, gen0)[i]
		for j := range w {
			moved = math.Max(moved, math.Abs(float64(w[j]-w0[j])))
		}
	}
	if moved < 1e-4 {
		t.Errorf("the generator's weights moved at most %g in %d steps", moved, steps)
	}
}

// TestGANRefuses: bad batches are errors before TensorFlow, and a closed
// GAN says so.
func TestGANRefuses(t *testing.T) {
	g := newMNISTGAN(t, 4, 1)
	real, _ := tfwrap.NewTensor(make([]float32, 2*784), 2, 784)
	z, _ := tfwrap.NewTensor(make([]float32, 2*4), 2, 4)
	z3, _ := tfwrap.NewTensor(make([]float32, 3*4), 3, 4)
	bad, _ := tfwrap.NewTensor(make([]float32, 2*5), 2, 5)
	ints, _ := tfwrap.NewTensor([]int32{1, 2}, 2, 1)
	for _, c := range []struct {
		name         string
		real, z1, z2 *tfwrap.Tensor
	}{
		{"nil real", nil, z, z}, {"wrong noise size", real, bad, z}, {"batch mismatch", real, z3, z},
		{"int noise", real, z, ints}, {"one sample too short", z, z, z},
	} {
		if _, err := g.Step(c.real, c.z1, c.z2); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if _, err := g.Step(real, z, z3); err != nil {
		t.Errorf("a generator batch of another size: %v", err)
	}
	nan := make([]float32, 2*784)
	nan[784+5] = float32(math.NaN())
	realNaN, _ := tfwrap.NewTensor(nan, 2, 784)
	before, _, _ := g.Weights()
	if _, err := g.Step(realNaN, z, z); err == nil || !strings.Contains(err.Error(), "sample 1 holds NaN") {
		t.Errorf("a NaN pixel: %v, want the sample named", err)
	}
	after, _, _ := g.Weights()
	if fmt.Sprint(flat(t, before)) != fmt.Sprint(flat(t, after)) {
		t.Error("a refused step changed the generator")
	}
	if _, err := g.Train(context.Background(), nan, course.GANTrainOptions{Epochs: 1, StepsPerEpoch: 1}); err == nil {
		t.Error("Train on NaN data: no error")
	}
	if _, err := g.Train(context.Background(), make([]float32, 784), course.GANTrainOptions{Epochs: -5}); err == nil {
		t.Error("Train with -5 epochs: no error")
	}
	if _, err := g.TrainStep(make([]float32, 784), 1, 1<<40, 0); err == nil {
		t.Error("TrainStep with a batch of 2^40: no error")
	}
	if _, err := g.Generate(bad); err == nil {
		t.Error("Generate with the wrong noise size: no error")
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := g.Step(real, z, z); err != models.ErrClosed {
		t.Errorf("Step after Close: %v, want ErrClosed", err)
	}
	gen, _ := course.MNISTGenerator(4)
	if _, err := course.NewGAN(gen, gen, course.GANOptions{}); err == nil {
		t.Error("a generator as its own discriminator: no error")
	}
	// Models are used up by the GAN that holds their weights.
	gen, _ = course.MNISTGenerator(4)
	disc, _ := course.MNISTDiscriminator()
	first, err := course.NewGAN(gen, disc, course.GANOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := course.NewGAN(gen, disc, course.GANOptions{}); err == nil || !strings.Contains(err.Error(), "already has weights") {
		t.Errorf("models given to a second GAN: %v", err)
	}
}
