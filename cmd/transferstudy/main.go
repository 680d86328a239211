// Command transferstudy runs the course's transfer-learning study: how much a
// CNN backbone pretrained on a source task (scripts/pretrain_backbone.py)
// helps a target task with few labels, against the same CNN from scratch.
//
// Two targets:
//
//   - near: MNIST digits 5–9, backbone pretrained on digits 0–4;
//   - far: scikit-learn's 8×8 optical-recognition digits upsampled to 28×28
//     (scripts/sklearn_digits.py), backbone pretrained on all ten MNIST
//     digits: blurred, blocky digits filling the frame, unlike MNIST's pen
//     strokes;
//   - rot (--targets near,far,rot): the near target's digits inverted and
//     rotated 90°, with the near backbone: far in pixels only.
//
// For each number of labels per class (--labels) and seed (--seeds: the
// labelled subset, the initial weights, the augmentation and dropout), it
// trains and tests on the target's test set:
//
//   - scratch: the backbone's architecture from random weights, with a new
//     head (Dropout, Dense softmax); scratch+aug the same on the labelled
//     images plus shifted copies of them (up to 2 pixels);
//   - frozen/DEPTH/HEAD: the pretrained backbone as a loaded SavedModel,
//     run once over every image at each depth (block1, block2, features);
//     on those features a new softmax head trained by Adam (linear) or a
//     nearest-class-mean classifier on centred, unit-length features
//     (cosine), each on the labelled images alone or with shifted copies
//     (+aug);
//   - finetuned/FROM: the backbone up to block 2 rebuilt in Go from its
//     trainable form, the layers below FROM frozen, the head started from
//     the frozen block-2 features' linear+aug head, trained at a lower
//     learning rate on the augmented images.
//
// It prints a table of mean ± standard deviation over the seeds (also
// written as Markdown), plots test accuracy against labels per class, and
// prints one line per target and label count:
//
//	RESULT task=transfer target=near labels=1 scratch=0.5751 frozen=0.6925 finetuned=0.6812 best_depth=block2
//
// frozen and finetuned are the best of their variants by mean test
// accuracy (chosen on the test set: the table shows every variant).
// --quick runs one label count and one seed. TRANSFER_TIMING=1 in the
// environment adds each model's time to the progress lines.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

type config struct {
	nearBackbone, farBackbone, mnistDir, farDir string
	targets, labels                             string
	seeds, steps, fineSteps                     int
	fineLR                                      float64
	finetune                                    string
	plot, table, raw, replot                    string
	quick, quiet                                bool
}

func main() {
	var c config
	flag.StringVar(&c.nearBackbone, "near-backbone", ".cache/backbone", "backbone pretrained on MNIST digits 0-4 (pretrain_backbone.py --source 0-4)")
	flag.StringVar(&c.farBackbone, "far-backbone", ".cache/backbone-all", "backbone pretrained on all ten MNIST digits (pretrain_backbone.py --source all)")
	flag.StringVar(&c.mnistDir, "data", ".cache/mnist", "MNIST folder")
	flag.StringVar(&c.farDir, "far-data", ".cache/sklearn-digits", "scikit-learn digits folder (scripts/sklearn_digits.py)")
	flag.StringVar(&c.targets, "targets", "near,far", "targets to run, comma-separated: near, far, rot (near's digits inverted and rotated 90°)")
	flag.StringVar(&c.labels, "labels", "1,2,5,10,20,50", "labelled examples per class, comma-separated")
	flag.IntVar(&c.seeds, "seeds", 5, "seeds per label count (seeds 1..N)")
	flag.IntVar(&c.steps, "steps", 120, "gradient steps (batches of 16) for scratch and the frozen heads")
	flag.IntVar(&c.fineSteps, "fine-steps", 100, "gradient steps for fine-tuning")
	flag.Float64Var(&c.fineLR, "fine-lr", 1e-4, "fine-tuning learning rate (scratch and heads use 1e-3)")
	flag.StringVar(&c.finetune, "finetune", "block2_conv", "fine-tuning variants, comma-separated: the backbone (up to block 2) is trained from each of these layers up (block1_conv: all of it)")
	flag.StringVar(&c.plot, "plot", "out/transfer/study.png", "PNG of test accuracy against labels per class ('' for none)")
	flag.StringVar(&c.table, "table", "out/transfer/study.md", "Markdown table of the results ('' for none)")
	flag.StringVar(&c.raw, "raw", "out/transfer/study.json", "JSON of every accuracy, per target, method, label count and seed ('' for none)")
	flag.StringVar(&c.replot, "replot", "", "train nothing: redo the table, RESULT lines and plot from a --raw JSON file")
	flag.BoolVar(&c.quick, "quick", false, "one label count (5) and one seed: a smoke run")
	flag.BoolVar(&c.quiet, "quiet", false, "print only the RESULT lines")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: transfer [flags]\n\nLabel-efficiency study of transfer learning: scratch, frozen backbone, fine-tuned.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if c.quick {
		c.labels, c.seeds = "5", 1
	}
	start := time.Now()
	if err := run(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "transfer:", err)
		os.Exit(1)
	}
	if !c.quiet {
		fmt.Printf("done in %s\n", time.Since(start).Round(time.Second))
	}
}

func (c config) targetNames() ([]string, error) {
	var out []string
	for _, t := range strings.Split(c.targets, ",") {
		switch t = strings.TrimSpace(t); t {
		case "near", "far", "rot":
			out = append(out, t)
		default:
			return nil, fmt.Errorf("--targets: unknown target %q (near, far, rot)", t)
		}
	}
	return out, nil
}
