// Command gan trains a small generative adversarial network on MNIST from
// Go: a generator that turns noise into digits and a discriminator that
// tells them from real ones, each with its own Adam, in a training step of
// its own (course.GAN; TestGANMatchesKeras checks it against the same GAN
// written with Keras), run by the same models.Loop as Fit, with Keras's
// progress display as a hook. It writes the two loss curves and a grid of
// generated digits, at the start and after training, to --out. Its last
// line is machine-readable:
//
//	RESULT model=gan epochs=30 steps=200 d_loss=0.3788 g_loss=1.7641 seconds=27.3
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tfgo-project/gotf/data/mnist"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/course"
	"github.com/tfgo-project/gotf/models/plot"
	"github.com/tfgo-project/gotf/tfwrap"
)

func main() {
	var (
		data, out                 string
		epochs, steps, batch, lat int
		seed                      uint64
	)
	flag.StringVar(&data, "data", mnist.DefaultDir, "folder with train.bin (made by make setup)")
	flag.StringVar(&out, "out", "out/gan", "folder for the curves and the samples")
	flag.IntVar(&epochs, "epochs", 30, "epochs")
	flag.IntVar(&steps, "steps", 200, "training steps an epoch")
	flag.IntVar(&batch, "batch", 64, "real samples a step")
	flag.IntVar(&lat, "latent", 64, "size of the generator's noise")
	flag.Uint64Var(&seed, "seed", 1, "seed of the weights, the batches and the noise")
	flag.Parse()
	if epochs < 1 || steps < 1 || batch < 1 || lat < 1 {
		fail(fmt.Errorf("--epochs, --steps, --batch and --latent must be positive"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, data, out, epochs, steps, batch, lat, seed); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gan:", err)
	os.Exit(1)
}

func run(ctx context.Context, data, out string, epochs, steps, batch, latent int, seed uint64) error {
	train, _, err := mnist.Load(data)
	if err != nil {
		return err
	}
	// Pixels to [-1, 1], the generator's tanh range.
	real := make([]float32, len(train.Images))
	for i, p := range train.Images {
		real[i] = 2*p - 1
	}
	gen, err := course.MNISTGenerator(latent)
	if err != nil {
		return err
	}
	disc, err := course.MNISTDiscriminator()
	if err != nil {
		return err
	}
	g, err := course.NewGAN(gen, disc, course.GANOptions{Seed: seed})
	if err != nil {
		return err
	}
	defer g.Close()

	// The same 64 noise vectors before and after, to see what training did.
	const shown = 64
	zs := make([]float32, shown*latent)
	rng := newNormal(seed + 1)
	for i := range zs {
		zs[i] = rng()
	}
	z, err := tfwrap.NewTensor(zs, shown, int64(latent))
	if err != nil {
		return err
	}
	samples := func(name string) error {
		x, err := g.Generate(z)
		if err != nil {
			return err
		}
		px, err := x.Float32s()
		if err != nil {
			return err
		}
		return plot.ImageGrid(filepath.Join(out, name), px, shown, 28, 28, 8, -1, 1)
	}
	if err := samples("samples_start.png"); err != nil {
		return err
	}
	fmt.Printf("training a GAN on %d MNIST digits: %d epochs of %d steps of %d, noise of %d\n", train.Len(), epochs, steps, batch, latent)
	start := time.Now()
	h, err := g.Train(ctx, real, course.GANTrainOptions{Epochs: epochs, StepsPerEpoch: steps, BatchSize: batch, Seed: seed,
		Hooks: []models.Hook{models.ProgressHook(os.Stdout, models.ProgressAuto)}})
	if err != nil && (h == nil || len(h.Epochs) == 0) {
		return err
	}
	if perr := plot.LearningCurves(h, "GAN", filepath.Join(out, "losses.png")); perr != nil {
		return perr
	}
	if serr := samples("samples.png"); serr != nil {
		return serr
	}
	fmt.Printf("wrote %s, %s and %s\n", filepath.Join(out, "losses.png"), filepath.Join(out, "samples_start.png"), filepath.Join(out, "samples.png"))
	if err != nil {
		return err
	}
	d, _ := h.Last("d_loss")
	gl, _ := h.Last("g_loss")
	fmt.Printf("RESULT model=gan epochs=%d steps=%d d_loss=%.4f g_loss=%.4f seconds=%.1f\n", epochs, steps, d, gl, time.Since(start).Seconds())
	return nil
}

// newNormal returns a source of standard normal float32s.
func newNormal(seed uint64) func() float32 {
	r := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	return func() float32 { return float32(r.NormFloat64()) }
}
