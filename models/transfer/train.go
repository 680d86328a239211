package transfer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/kerasfile"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/savedmodels"
)

// TrainOptions choose how Train adapts a pretrained backbone to a new
// task; zero fields take the defaults.
type TrainOptions struct {
	// Backbone is a Keras 3 .keras file (a keras.applications model saved
	// with include_top=False, say), a SavedModel folder (its
	// serving_default signature, one float32 image input, one feature
	// output: scripts/export_keras_app.py, Keras's model.export), or a
	// folder in this project's backbone format (backbone.json and
	// weights, scripts/pretrain_backbone.py). A SavedModel is frozen:
	// it takes no FineFrom and no Scratch (see SavedModelLayer).
	Backbone string
	// Classes is the number of classes of the new head.
	Classes int
	// Scale and Offset map pixel values (0–255) to what the backbone was
	// trained on, as a Rescaling layer at the model's start that the export
	// keeps: MobileNetV2's preprocess_input is 1/127.5 and -1 (the
	// default). For a backbone that rescales itself, set Scale 1.
	Scale, Offset float64
	// Dropout before the new head (default 0.2; negative: none).
	Dropout float64
	// Epochs trains the head with the backbone frozen (default 5) at LR
	// (Adam, default 1e-3).
	Epochs int
	LR     float64
	// FineFrom, when set, then trains every layer from the one of this name
	// up (the head included) for FineEpochs (default 5) at FineLR (Adam,
	// default 1e-5), as Keras's fine-tuning guide does.
	FineFrom   string
	FineEpochs int
	FineLR     float64
	// TrainBatchNorm lets the BatchNormalization layers above FineFrom
	// train in fine-tuning (batch statistics, moving averages updated).
	// By default they stay frozen in inference mode, as Keras's
	// transfer-learning guide advises: on small batches, training them
	// costs more accuracy than it gains (in the shapes test, validation
	// accuracy fell from 0.71 to 0.46 in the first fine-tuning epoch).
	TrainBatchNorm bool
	// Scratch trains the same architecture from random weights, every
	// layer trainable, for Epochs + FineEpochs at LR: the baseline a
	// pretrained backbone has to beat.
	Scratch   bool
	BatchSize int // default 32
	Seed      uint64
	Progress  models.Progress
}

func (o *TrainOptions) defaults() error {
	if o.Backbone == "" {
		return errors.New("transfer: no backbone: give a .keras file, a SavedModel folder or a backbone folder")
	}
	if o.Classes < 2 {
		return fmt.Errorf("transfer: %d classes: want at least 2", o.Classes)
	}
	if o.Scale == 0 {
		o.Scale, o.Offset = 1/127.5, -1
	}
	if o.Dropout == 0 {
		o.Dropout = 0.2
	}
	if o.Epochs == 0 {
		o.Epochs = 5
	}
	if o.LR == 0 {
		o.LR = 1e-3
	}
	if o.FineEpochs == 0 {
		o.FineEpochs = 5
	}
	if o.FineLR == 0 {
		o.FineLR = 1e-5
	}
	if o.BatchSize == 0 {
		o.BatchSize = 32
	}
	for _, v := range []float64{o.Scale, o.Offset, o.Dropout, o.LR, o.FineLR} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("transfer: options: scale %g, offset %g, dropout %g and rates %g, %g must be finite numbers", o.Scale, o.Offset, o.Dropout, o.LR, o.FineLR)
		}
	}
	if o.Epochs < 0 || o.FineEpochs < 0 || o.BatchSize < 1 || o.LR < 0 || o.FineLR < 0 || o.Dropout >= 1 {
		return fmt.Errorf("transfer: options: epochs %d and %d, batch %d, rates %g and %g, dropout %g: want epochs ≥ 0, batch ≥ 1, rates ≥ 0, dropout < 1",
			o.Epochs, o.FineEpochs, o.BatchSize, o.LR, o.FineLR, o.Dropout)
	}
	return nil
}

// Trained is what Train made.
type Trained struct {
	// Model takes images (height, width, 3) of values 0–255 under the
	// input name "image" and gives class probabilities; it is compiled.
	// Close it.
	Model *models.Model
	// Frozen and Fine are the two phases' histories (Fine is nil without
	// FineFrom); a Scratch run has only Frozen, covering every epoch.
	Frozen, Fine *models.History
}

// BackboneInput returns the per-sample image shape a backbone takes
// (height, width, channels).
func BackboneInput(path string) ([]int64, error) {
	if err := checkBackbone(path); err != nil {
		return nil, err
	}
	if isSavedModel(path) {
		sigs, err := savedmodels.SignatureDefs(path)
		if err != nil {
			return nil, err
		}
		sig := sigs[savedmodels.DefaultSignature]
		if sig == nil || len(sig.Inputs) != 1 {
			return nil, fmt.Errorf("transfer: %s: a SavedModel backbone needs a %s signature of one input", path, savedmodels.DefaultSignature)
		}
		var shape []int64
		for _, in := range sig.Inputs {
			dims := in.GetTensorShape().GetDim()
			for i := 1; i < len(dims); i++ {
				shape = append(shape, dims[i].GetSize())
			}
			if slices.ContainsFunc(shape, func(d int64) bool { return d < 1 }) {
				return nil, fmt.Errorf("transfer: %s: the SavedModel's input %q has per-sample shape %v (-1: any size); a backbone needs a fixed image size: export it with one", path, in.GetName(), shape)
			}
		}
		return shape, nil
	}
	if isKeras(path) {
		s, err := kerasfile.Read(path, kerasfile.Options{})
		if err != nil {
			return nil, err
		}
		in := s.Model.InputShapes()
		if len(in) != 1 {
			return nil, fmt.Errorf("transfer: %s takes %d inputs; a backbone takes one image", path, len(in))
		}
		return in[0], nil
	}
	b, err := LoadBackbone(path)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return append([]int64{}, b.Spec.Input...), nil
}

func isKeras(path string) bool {
	if strings.HasSuffix(strings.ToLower(path), ".keras") {
		return true
	}
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// checkBackbone refuses a path that is neither a regular file nor a
// folder (a FIFO would block the zip reader).
func checkBackbone(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("transfer: backbone: %w", err)
	}
	if !st.Mode().IsRegular() && !st.IsDir() {
		return fmt.Errorf("transfer: backbone %s is neither a file nor a folder", path)
	}
	return nil
}

// build makes backbone + head. freeze is "all", "none" or the name of the
// first trainable layer.
func build(o TrainOptions, freeze string) (*models.Model, func(*models.Model) error, error) {
	if err := checkBackbone(o.Backbone); err != nil {
		return nil, nil, err
	}
	if isSavedModel(o.Backbone) {
		if freeze != "all" {
			return nil, nil, fmt.Errorf("transfer: %s is a SavedModel: it is used frozen (Go cannot see its layers or build gradients through its functions); to fine-tune or train from scratch, give the model as a .keras file", o.Backbone)
		}
		bb, err := SavedModelLayer(o.Backbone, SavedModelOptions{Name: "backbone"})
		if err != nil {
			return nil, nil, err
		}
		in := models.Input("image", bb.(*savedLayer).in...)
		x := models.Call(layers.Rescaling(o.Scale, o.Offset, layers.WithName("preprocess")), in)
		m, err := head(o, in, models.Call(bb, x))
		if err != nil {
			return nil, nil, err
		}
		return m, func(*models.Model) error { return nil }, nil // its values come with its variables
	}
	if isKeras(o.Backbone) {
		ko := kerasfile.Options{FreezeBatchNorm: freeze != "none" && !o.TrainBatchNorm}
		switch freeze {
		case "all":
			ko.Frozen = true
		case "none":
		default:
			ko.TrainableFrom = freeze
		}
		s, err := kerasfile.Read(o.Backbone, ko)
		if err != nil {
			return nil, nil, err
		}
		ins := s.Model.InputShapes()
		if len(ins) != 1 || len(ins[0]) != 3 || ins[0][2] != 3 {
			return nil, nil, fmt.Errorf("transfer: %s takes inputs %v; a backbone here takes one RGB image (height, width, 3)", o.Backbone, ins)
		}
		if outs := s.Model.OutputNames(); len(outs) != 1 {
			return nil, nil, fmt.Errorf("transfer: %s has %d outputs; a backbone has one, its features", o.Backbone, len(outs))
		}
		if ls := s.Model.Layers(); len(ls) > 0 {
			if c := ls[len(ls)-1].Config(); c.Activation == "softmax" || c.Activation == "sigmoid" {
				return nil, nil, fmt.Errorf("transfer: %s ends in layer %s with a %s: that is a classifier, not a backbone; save the model without its top (keras.applications' include_top=False) or up to a feature layer", o.Backbone, c.Name, c.Activation)
			}
		}
		in := models.Input("image", ins[0]...)
		x := models.Call(layers.Rescaling(o.Scale, o.Offset, layers.WithName("preprocess")), in)
		feats := models.CallMulti(s.Model.AsLayer(), x)
		m, err := head(o, in, feats)
		if err != nil {
			return nil, nil, err
		}
		return m, func(m *models.Model) error { _, err := s.Assign(m); return err }, nil
	}
	b, err := LoadBackbone(o.Backbone)
	if err != nil {
		return nil, nil, err
	}
	defer b.Close()
	from := ""
	switch freeze {
	case "all":
		from = "\x00" // no layer has this name: everything frozen
	case "none":
	default:
		from = freeze
	}
	ls, err := b.Layers("", from)
	if err != nil {
		return nil, nil, err
	}
	if freeze != "all" && freeze != "none" {
		found := false
		for _, l := range ls {
			found = found || l.Name() == freeze
		}
		if !found {
			return nil, nil, fmt.Errorf("transfer: the backbone has no layer %q", freeze)
		}
	}
	shape := append([]int64{}, b.Spec.Input...)
	in := models.Input("image", shape...)
	x := models.Call(layers.Rescaling(o.Scale, o.Offset, layers.WithName("preprocess")), in)
	for _, l := range ls {
		x = models.Call(l, x)
	}
	m, err := head(o, in, x)
	if err != nil {
		return nil, nil, err
	}
	dir := o.Backbone
	return m, func(m *models.Model) error {
		bb, err := LoadBackbone(dir)
		if err != nil {
			return err
		}
		defer bb.Close()
		return bb.LoadInto(m)
	}, nil
}

// head adds global average pooling (for a feature map), dropout and a
// softmax Dense layer.
func head(o TrainOptions, in, feats *models.Symbol) (*models.Model, error) {
	if err := feats.Err(); err != nil {
		return nil, fmt.Errorf("transfer: %w", err)
	}
	x := feats
	if len(x.Shape()) == 3 {
		x = models.Call(layers.GlobalAveragePooling2D(layers.WithName("head_pool")), x)
	}
	if len(x.Shape()) != 1 {
		x = models.Call(layers.Flatten(layers.WithName("head_flatten")), x)
	}
	if o.Dropout > 0 {
		x = models.Call(layers.Dropout(o.Dropout, layers.WithName("head_dropout")), x)
	}
	out := models.Call(layers.Dense(o.Classes, layers.WithActivation(layers.Softmax), layers.WithName("head")), x)
	return models.NewModel("transfer", []*models.Symbol{in}, []*models.Symbol{out})
}

func compileWith(m *models.Model, lr float64, o TrainOptions) error {
	return m.Compile(models.CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.Adam(lr),
		Metrics: []metrics.Metric{metrics.SparseCategoricalAccuracy{}}, Seed: o.Seed})
}

// Train adapts the backbone to train (images 0–255 and class ids): a new
// head trained with the backbone frozen, then, with FineFrom, the layers
// from FineFrom up fine-tuned at a low rate. val (may be nil) is evaluated
// after each epoch.
func Train(ctx context.Context, train, val *models.Dataset, o TrainOptions) (*Trained, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	fit := func(m *models.Model, epochs int) (*models.History, error) {
		return m.Fit(ctx, train, models.FitOptions{Epochs: epochs, BatchSize: o.BatchSize, Seed: o.Seed,
			ValidationData: val, Progress: o.Progress})
	}
	if o.FineFrom != "" && !o.Scratch {
		// A wrong name is an error now, not after the first phase.
		m, _, err := build(o, o.FineFrom)
		if err != nil {
			return nil, err
		}
		_ = m // never compiled: nothing to close
	}
	if o.Scratch {
		m, _, err := build(o, "none")
		if err != nil {
			return nil, err
		}
		if err := compileWith(m, o.LR, o); err != nil {
			return nil, err
		}
		phase(o, "training from scratch: %d epochs at %g", o.Epochs+o.FineEpochs, o.LR)
		h, err := fit(m, o.Epochs+o.FineEpochs)
		if err != nil {
			m.Close()
			return nil, err
		}
		return &Trained{Model: m, Frozen: h}, nil
	}
	m, assign, err := build(o, "all")
	if err != nil {
		return nil, err
	}
	if err := compileWith(m, o.LR, o); err != nil {
		return nil, err
	}
	if err := assign(m); err != nil {
		m.Close()
		return nil, err
	}
	phase(o, "training the new head, backbone frozen: %d epochs at %g", o.Epochs, o.LR)
	h, err := fit(m, o.Epochs)
	if err != nil {
		m.Close()
		return nil, err
	}
	t := &Trained{Model: m, Frozen: h}
	if o.FineFrom == "" {
		return t, nil
	}
	// Fine-tuning: the same model with the layers from FineFrom trainable,
	// starting from every weight the first phase ended with.
	weights, err := m.GetWeights()
	m.Close()
	if err != nil {
		return nil, err
	}
	m2, _, err := build(o, o.FineFrom)
	if err != nil {
		return nil, err
	}
	if err := compileWith(m2, o.FineLR, o); err != nil {
		return nil, err
	}
	if err := m2.SetWeights(weights); err != nil {
		m2.Close()
		return nil, err
	}
	bn := ", BatchNormalization frozen"
	if o.TrainBatchNorm {
		bn = ""
	}
	phase(o, "fine-tuning from %s up%s: %d epochs at %g", o.FineFrom, bn, o.FineEpochs, o.FineLR)
	if t.Fine, err = fit(m2, o.FineEpochs); err != nil {
		m2.Close()
		return nil, err
	}
	t.Model = m2
	return t, nil
}

// phase announces a training phase unless progress is silent.
func phase(o TrainOptions, format string, args ...any) {
	if o.Progress != models.ProgressSilent {
		fmt.Printf(format+"\n", args...)
	}
}

// Confusion counts predictions per true class: row = true class, column =
// predicted class (the highest probability).
func Confusion(probs []float32, labels []int32, classes int) ([][]int, error) {
	if classes < 1 || len(probs) != len(labels)*classes {
		return nil, fmt.Errorf("transfer: confusion: %d probabilities for %d labels of %d classes", len(probs), len(labels), classes)
	}
	c := make([][]int, classes)
	for i := range c {
		c[i] = make([]int, classes)
	}
	for i, y := range labels {
		if y < 0 || int(y) >= classes {
			return nil, fmt.Errorf("transfer: confusion: label %d of sample %d is not a class", y, i)
		}
		row := probs[i*classes : (i+1)*classes]
		best := 0
		for k, p := range row {
			if p > row[best] {
				best = k
			}
		}
		c[y][best]++
	}
	return c, nil
}
