// Command transfer runs the course's transfer-learning experiment: a CNN
// backbone pretrained on MNIST digits 0–4 (scripts/pretrain_backbone.py)
// helps a target task, digits 5–9, with only 20 labelled examples per
// class. It trains three models on those 100 examples and tests them on
// the held-out digits 5–9:
//
//   - scratch: the same CNN, from random weights;
//   - frozen: the pretrained backbone as a loaded SavedModel, frozen, with
//     a new head (Dropout, Dense softmax) trained on its features;
//   - finetuned: the backbone rebuilt in Go from its trainable form, the
//     first block frozen and the second trained on with the head, at a
//     lower learning rate.
//
// The fine-tuned model is exported as a SavedModel. The last line is
//
//	RESULT task=transfer scratch=0.8803 frozen=0.9089 finetuned=0.9036
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tfgo-project/gotf/data/mnist"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/models/transfer"
	"github.com/tfgo-project/gotf/tfwrap"
)

type config struct {
	backbone, data, out, depth string
	unfreeze                   string
	perClass, fineEpochs       int
	fineLR                     float64
	seed                       uint64
	quiet                      bool
}

func main() {
	var c config
	flag.StringVar(&c.backbone, "backbone", ".cache/backbone", "folder written by scripts/pretrain_backbone.py")
	flag.StringVar(&c.data, "data", mnist.DefaultDir, "MNIST folder")
	flag.StringVar(&c.out, "out", "out/transfer", "folder for the exported SavedModel")
	flag.StringVar(&c.depth, "depth", "features", "feature depth for the frozen model: block1, block2 or features")
	flag.IntVar(&c.perClass, "per-class", 20, "labelled examples per target class")
	flag.StringVar(&c.unfreeze, "unfreeze", "block2_conv", "fine-tuning trains the backbone from this layer up (block1_conv: all of it)")
	flag.IntVar(&c.fineEpochs, "fine-epochs", 20, "fine-tuning epochs")
	flag.Float64Var(&c.fineLR, "fine-lr", 1e-4, "fine-tuning learning rate")
	flag.Uint64Var(&c.seed, "seed", 1, "seed")
	flag.BoolVar(&c.quiet, "quiet", false, "print only the RESULT line")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: transfer [flags]\n\nTransfer learning from digits 0-4 to digits 5-9 with few labels.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "transfer:", err)
		os.Exit(1)
	}
}

// target returns digits 5–9 as classes 0–4: the first perClass of each
// class from train (its order is a seeded shuffle), and all of test.
func target(train, test *mnist.Set, perClass int) (*models.Dataset, *models.Dataset, error) {
	count := map[int32]int{}
	few := train.Filter(func(l int32) bool {
		if l < 5 || count[l] >= perClass {
			return false
		}
		count[l]++
		return true
	}, func(l int32) int32 { return l - 5 })
	if few.Len() != 5*perClass {
		return nil, nil, fmt.Errorf("found %d examples, want %d", few.Len(), 5*perClass)
	}
	all := test.Filter(func(l int32) bool { return l >= 5 }, func(l int32) int32 { return l - 5 })
	a, err := dataset(few, 28, 28, 1)
	if err != nil {
		return nil, nil, err
	}
	b, err := dataset(all, 28, 28, 1)
	return a, b, err
}

func compile(m *models.Sequential, lr float64, seed uint64) error {
	return m.Compile(models.CompileOptions{
		Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.Adam(lr),
		Metrics: []metrics.Metric{metrics.SparseCategoricalAccuracy{}}, Seed: seed,
	})
}

func fitAndTest(m *models.Sequential, train, test *models.Dataset, epochs int, seed uint64) (float64, error) {
	opts := models.FitOptions{Epochs: epochs, BatchSize: 20, Seed: seed, Progress: models.ProgressSilent, Output: io.Discard}
	if _, err := m.Fit(context.Background(), train, opts); err != nil {
		return 0, err
	}
	logs, err := m.Evaluate(test, models.EvaluateOptions{BatchSize: 256})
	if err != nil {
		return 0, err
	}
	return logs["accuracy"], nil
}

func head() []layers.Layer {
	return []layers.Layer{layers.Dropout(0.5), layers.Dense(5, layers.WithActivation(layers.Softmax), layers.WithName("head"))}
}

func run(c config) error {
	if c.perClass < 1 {
		return fmt.Errorf("--per-class must be positive, got %d", c.perClass)
	}
	logf := func(format string, args ...any) {
		if !c.quiet {
			fmt.Printf(format, args...)
		}
	}
	bb, err := transfer.LoadBackbone(c.backbone)
	if err != nil {
		return err
	}
	defer bb.Close()
	trainSet, testSet, err := mnist.Load(c.data)
	if err != nil {
		return err
	}
	train, test, err := target(trainSet, testSet, c.perClass)
	if err != nil {
		return err
	}
	logf("backbone: %s, pretrained on digits %v (source test accuracy %.4f)\n", c.backbone, bb.Spec.Source, bb.Spec.Acc)
	logf("target: digits 5-9, %d labelled examples, %d test digits\n", train.Len(), test.Len())

	// 1. From scratch: the backbone's architecture, random weights.
	all, err := bb.Layers("", "")
	if err != nil {
		return err
	}
	scratchM, err := models.NewSequential(bb.Spec.Input, append(all, head()...)...)
	if err != nil {
		return err
	}
	if err := compile(scratchM, 1e-3, c.seed); err != nil {
		return err
	}
	defer scratchM.Close()
	scratch, err := fitAndTest(scratchM, train, test, 40, c.seed)
	if err != nil {
		return err
	}
	logf("scratch:   %.4f (CNN from random weights, 40 epochs)\n", scratch)

	// 2. Frozen: features from the loaded SavedModel, a new head on them.
	fx, err := bb.Features(c.depth, train.X())
	if err != nil {
		return err
	}
	ftx, err := bb.Features(c.depth, test.X())
	if err != nil {
		return err
	}
	ftrain, err := models.NewDataset(fx, train.Y())
	if err != nil {
		return fmt.Errorf("backbone features: %w", err)
	}
	ftest, err := models.NewDataset(ftx, test.Y())
	if err != nil {
		return fmt.Errorf("backbone features: %w", err)
	}
	var hl []layers.Layer
	if fx.Rank() > 2 {
		hl = append(hl, layers.Flatten())
	}
	headM, err := models.NewSequential(fx.Shape()[1:], append(hl, head()...)...)
	if err != nil {
		return err
	}
	if err := compile(headM, 1e-3, c.seed); err != nil {
		return err
	}
	defer headM.Close()
	frozen, err := fitAndTest(headM, ftrain, ftest, 60, c.seed)
	if err != nil {
		return err
	}
	logf("frozen:    %.4f (SavedModel features %q %v, new head, 60 epochs)\n", frozen, c.depth, fx.Shape()[1:])

	// 3. Fine-tuned: rebuild the backbone, copy its weights and the head's,
	// freeze block 1, train block 2 and the head at a lower rate.
	ft, err := bb.Layers("", c.unfreeze)
	if err != nil {
		return err
	}
	fineM, err := models.NewSequential(bb.Spec.Input, append(ft, head()...)...)
	if err != nil {
		return err
	}
	if err := compile(fineM, c.fineLR, c.seed); err != nil {
		return err
	}
	defer fineM.Close()
	if err := bb.LoadInto(fineM); err != nil {
		return err
	}
	if c.depth == "features" {
		hw, err := headM.GetWeights()
		if err != nil {
			return err
		}
		if err := fineM.SetWeightsByName(map[string]*tfwrap.Tensor{"head/kernel": hw[0], "head/bias": hw[1]}); err != nil {
			return err
		}
	}
	finetuned, err := fitAndTest(fineM, train, test, c.fineEpochs, c.seed)
	if err != nil {
		return err
	}
	logf("finetuned: %.4f (backbone trained from %s up with the head, lr %g, %d epochs)\n", finetuned, c.unfreeze, c.fineLR, c.fineEpochs)

	dir := filepath.Join(c.out, "savedmodel", "1")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := fineM.Export(dir); err != nil {
		return err
	}
	logf("exported the fine-tuned model to %s\n", dir)
	fmt.Printf("RESULT task=transfer scratch=%.4f frozen=%.4f finetuned=%.4f\n", scratch, frozen, finetuned)
	return nil
}

// dataset turns MNIST digits into a models.Dataset of the per-sample
// shape given ({784} or {28, 28, 1}).
func dataset(s *mnist.Set, perSample ...int64) (*models.Dataset, error) {
	if s == nil || s.Len() == 0 {
		return nil, fmt.Errorf("no MNIST digits")
	}
	return models.ClassDataset(s.Images, s.Labels, perSample...)
}
