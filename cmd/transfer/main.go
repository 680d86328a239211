// Command transfer trains an image classifier on your own folder of images
// from a pretrained backbone: a Keras 3 .keras file (a keras.applications
// model saved with include_top=False, say) or this project's backbone
// format. It trains a new head with the backbone frozen, then, with
// --fine-from, fine-tunes the layers from that one up at a low rate; it
// prints progress, a confusion matrix on the validation split and a RESULT
// line, draws the learning curves, and with --export writes one SavedModel
// (images of values 0–255 in, class probabilities out, the rescaling
// inside) that cmd/serve serves.
//
//	transfer --data photos/ --backbone mobilenet.keras --fine-from block_16_expand --export out/model/1
//
// photos/ holds one folder of images (JPEG, PNG, GIF, BMP) per class, read
// as Keras's image_dataset_from_directory reads them, resized to the
// backbone's input size. --scratch trains the same architecture from
// random weights instead, for comparison.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/tfgo-project/gotf/data/imagefolder"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/plot"
	"github.com/tfgo-project/gotf/models/transfer"
	"github.com/tfgo-project/gotf/tfwrap"
)

func main() {
	var (
		data, backbone, export, curves string
		val                            float64
		o                              transfer.TrainOptions
		seed                           int64
		quiet                          bool
	)
	flag.StringVar(&data, "data", "", "folder of images, one subfolder per class (required)")
	flag.StringVar(&backbone, "backbone", "", "pretrained backbone: a .keras file, a SavedModel folder (frozen: no --fine-from) or a backbone folder (required)")
	flag.Float64Var(&val, "val", 0.2, "fraction of the images kept for validation (0: none)")
	flag.Int64Var(&seed, "seed", 1, "seed of the split, the shuffles, the new head's weights and dropout")
	flag.IntVar(&o.Epochs, "epochs", 5, "epochs training the new head on the frozen backbone")
	flag.Float64Var(&o.LR, "lr", 1e-3, "Adam learning rate of those epochs")
	flag.StringVar(&o.FineFrom, "fine-from", "", "then fine-tune every layer from this one up ('' skips fine-tuning)")
	flag.IntVar(&o.FineEpochs, "fine-epochs", 5, "fine-tuning epochs")
	flag.Float64Var(&o.FineLR, "fine-lr", 1e-5, "fine-tuning Adam learning rate")
	flag.IntVar(&o.BatchSize, "batch", 32, "batch size")
	flag.Float64Var(&o.Scale, "scale", 1/127.5, "pixel scale before the backbone (1/127.5 with -offset -1 is MobileNetV2's preprocess_input)")
	flag.Float64Var(&o.Offset, "offset", -1, "pixel offset before the backbone")
	flag.Float64Var(&o.Dropout, "dropout", 0.2, "dropout before the new head (negative: none)")
	flag.BoolVar(&o.TrainBatchNorm, "train-batchnorm", false, "let BatchNormalization layers train while fine-tuning (default: frozen, as Keras advises)")
	flag.BoolVar(&o.Scratch, "scratch", false, "train the backbone's architecture from random weights instead (a baseline)")
	flag.StringVar(&curves, "plot", "out/transfer/curves.png", "learning curves PNG ('' for none)")
	flag.StringVar(&export, "export", "", "write the trained model as a SavedModel here (e.g. out/model/1)")
	flag.BoolVar(&quiet, "quiet", false, "no progress, only the summary")
	flag.Parse()
	if data == "" || backbone == "" || flag.NArg() > 0 {
		usage("")
	}
	switch {
	case o.Epochs < 1 || o.BatchSize < 1:
		usage("--epochs and --batch must be at least 1")
	case o.FineFrom != "" && o.FineEpochs < 1:
		usage("--fine-epochs must be at least 1 with --fine-from")
	case !(val >= 0 && val < 1):
		usage("--val must be at least 0 and under 1")
	}
	o.Backbone, o.Seed = backbone, uint64(seed)
	if quiet {
		o.Progress = models.ProgressSilent
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, data, val, seed, curves, export, o); err != nil {
		fmt.Fprintln(os.Stderr, "transfer:", err)
		os.Exit(1)
	}
}

func usage(why string) {
	if why != "" {
		fmt.Fprintln(os.Stderr, "transfer:", why)
	}
	fmt.Fprintln(os.Stderr, "usage: transfer --data DIR --backbone FILE.keras [flags]; -h lists the flags")
	os.Exit(2)
}

func run(ctx context.Context, data string, val float64, seed int64, curves, export string, o transfer.TrainOptions) error {
	// Everything that can fail after training is checked before it.
	if export != "" {
		if _, err := os.Stat(export); err == nil {
			return fmt.Errorf("--export %s already exists; a served model's versions are never overwritten: give a new version folder", export)
		}
		if err := os.MkdirAll(filepath.Dir(export), 0o755); err != nil {
			return fmt.Errorf("--export: %w", err)
		}
	}
	if curves != "" {
		if err := os.MkdirAll(filepath.Dir(curves), 0o755); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	in, err := transfer.BackboneInput(o.Backbone)
	if err != nil {
		return err
	}
	if len(in) != 3 || in[2] != 3 {
		return fmt.Errorf("the backbone takes %v; this tool feeds RGB images (height, width, 3)", in)
	}
	load := func(subset string) (*imagefolder.Set, error) {
		opts := imagefolder.Options{Height: int(in[0]), Width: int(in[1]), Shuffle: true, Seed: seed}
		if val > 0 {
			opts.ValidationSplit, opts.Subset = val, subset
		}
		return imagefolder.Load(data, opts)
	}
	train, err := load("training")
	if err != nil {
		return err
	}
	var valSet *imagefolder.Set
	if val > 0 {
		if valSet, err = load("validation"); err != nil {
			return err
		}
	}
	o.Classes = len(train.Classes)
	fmt.Printf("classes: %s; %d training images", strings.Join(train.Classes, ", "), len(train.Files))
	if valSet != nil {
		fmt.Printf(", %d validation", len(valSet.Files))
	}
	fmt.Printf("; images %d×%d\n", in[0], in[1])
	trainDS, err := dataset(train)
	if err != nil {
		return err
	}
	var valDS *models.Dataset
	if valSet != nil {
		if valDS, err = dataset(valSet); err != nil {
			return err
		}
	}
	t, err := transfer.Train(ctx, trainDS, valDS, o)
	if err != nil {
		return err
	}
	defer t.Model.Close()
	h := t.Frozen
	if t.Fine != nil {
		h = joined(t.Frozen, t.Fine)
	}
	if export != "" {
		if err := t.Model.ExportWith(export, models.ExportOptions{ImageBytes: true}); err != nil {
			return err
		}
		fmt.Printf("exported: %s (serving_default: input \"image\", %d×%d×3 values 0–255; serving_bytes: input \"image_bytes\", encoded images; output: %d class probabilities, in the order %s)\n",
			export, in[0], in[1], o.Classes, strings.Join(train.Classes, ", "))
	}
	if curves != "" {
		if err := plot.LearningCurves(h, "transfer: "+o.Backbone, curves); err != nil {
			return err
		}
		fmt.Println("learning curves:", curves)
	}
	acc := -1.0
	if valSet != nil {
		c, a, err := confusion(t.Model, valSet)
		if err != nil {
			return err
		}
		acc = a
		printConfusion(valSet.Classes, c)
	}
	method := "frozen"
	switch {
	case o.Scratch:
		method = "scratch"
	case o.FineFrom != "":
		method = "finetuned"
	}
	fmt.Printf("RESULT task=transfer method=%s classes=%d train=%d val_accuracy=%.4f\n", method, o.Classes, len(train.Files), acc)
	return nil
}

func dataset(s *imagefolder.Set) (*models.Dataset, error) {
	x, err := tfwrap.NewTensor(s.Images, int64(len(s.Files)), int64(s.Height), int64(s.Width), 3)
	if err != nil {
		return nil, err
	}
	y, err := tfwrap.NewTensor(s.Labels, int64(len(s.Labels)))
	if err != nil {
		return nil, err
	}
	return models.NewDataset(x, y)
}

// confusion predicts the set and counts the outcomes per class.
func confusion(m *models.Model, s *imagefolder.Set) ([][]int, float64, error) {
	x, err := tfwrap.NewTensor(s.Images, int64(len(s.Files)), int64(s.Height), int64(s.Width), 3)
	if err != nil {
		return nil, 0, err
	}
	p, err := m.Predict(x, models.PredictOptions{})
	if err != nil {
		return nil, 0, err
	}
	probs, err := p.Float32s()
	if err != nil {
		return nil, 0, err
	}
	c, err := transfer.Confusion(probs, s.Labels, len(s.Classes))
	if err != nil {
		return nil, 0, err
	}
	right := 0
	for i := range c {
		right += c[i][i]
	}
	return c, float64(right) / float64(len(s.Labels)), nil
}

func printConfusion(classes []string, c [][]int) {
	w := 8
	for _, n := range classes {
		w = max(w, len(n)+1)
	}
	fmt.Printf("confusion on the validation split (rows: true class, columns: predicted)\n%*s", w, "")
	for _, n := range classes {
		fmt.Printf("%*s", w, n)
	}
	fmt.Println()
	for i, row := range c {
		fmt.Printf("%*s", w, classes[i])
		for _, v := range row {
			fmt.Printf("%*d", w, v)
		}
		fmt.Println()
	}
}

// joined puts the fine-tuning epochs after the frozen ones.
func joined(a, b *models.History) *models.History {
	h := &models.History{Metrics: map[string][]float64{}}
	h.Epochs = append(h.Epochs, a.Epochs...)
	for _, e := range b.Epochs {
		h.Epochs = append(h.Epochs, e+len(a.Epochs))
	}
	for k, v := range a.Metrics {
		h.Metrics[k] = append(append([]float64{}, v...), b.Metrics[k]...)
	}
	return h
}
