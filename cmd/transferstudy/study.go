package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tfgo-project/gotf/data/mnist"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/models/plot"
	"github.com/tfgo-project/gotf/models/transfer"
	"github.com/tfgo-project/gotf/tfwrap"
)

var depths = []string{"block1", "block2", "features"}

const (
	batchSize = 16
	maxShift  = 2
)

// results holds each variant's test accuracies by label count, one per seed.
type results struct {
	target   *target
	labels   []int
	variants []string
	acc      map[string]map[int][]float64
}

func (r *results) add(variant string, labels int, acc float64) {
	if r.acc == nil {
		r.acc = map[string]map[int][]float64{}
	}
	if r.acc[variant] == nil {
		r.acc[variant] = map[int][]float64{}
		r.variants = append(r.variants, variant)
	}
	r.acc[variant][labels] = append(r.acc[variant][labels], acc)
}

func (r *results) mean(variant string, labels int) float64 {
	m, _ := meanSD(r.acc[variant][labels])
	return m
}

// best returns the variant with the given prefix of highest mean accuracy
// at a label count (labels 0: averaged over every label count).
func (r *results) best(prefix string, labels int) (string, float64) {
	bestV, bestM := "", math.Inf(-1)
	for _, v := range r.variants {
		if !strings.HasPrefix(v, prefix) {
			continue
		}
		var m float64
		if labels > 0 {
			m = r.mean(v, labels)
		} else {
			for _, n := range r.labels {
				m += r.mean(v, n) / float64(len(r.labels))
			}
		}
		if m > bestM {
			bestV, bestM = v, m
		}
	}
	return bestV, bestM
}

// resultLine is the study's one-line summary of a label count.
func (r *results) resultLine(labels int) string {
	frozenV, frozen := r.best("frozen/", labels)
	_, fine := r.best("finetuned/", labels)
	depth := "none"
	if parts := strings.Split(frozenV, "/"); len(parts) > 1 {
		depth = parts[1]
	}
	return fmt.Sprintf("RESULT task=transfer target=%s labels=%d scratch=%.4f frozen=%.4f finetuned=%.4f best_depth=%s",
		r.target.name, labels, r.mean("scratch", labels), frozen, fine, depth)
}

// table is the results as Markdown: mean ± sd in percent, a row per variant.
func (r *results) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s; %d test images; mean ± sd of test accuracy (%%) over %d seed(s)\n\n", r.target.name, r.target.desc,
		r.target.test.Len(), len(r.acc["scratch"][r.labels[0]]))
	b.WriteString("| method |")
	for _, n := range r.labels {
		fmt.Fprintf(&b, " %d/class |", n)
	}
	b.WriteString("\n| --- |")
	for range r.labels {
		b.WriteString(" ---: |")
	}
	b.WriteString("\n")
	for _, v := range r.variants {
		fmt.Fprintf(&b, "| %s |", v)
		for _, n := range r.labels {
			m, sd := meanSD(r.acc[v][n])
			fmt.Fprintf(&b, " %.1f ± %.1f |", 100*m, 100*sd)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// panel plots scratch, scratch+aug, the best head at each depth and the
// best fine-tuning (each chosen by its mean over every label count).
func (r *results) panel() plot.Panel {
	p := plot.Panel{Title: r.target.name + ": " + r.target.desc, XLabel: "labelled examples per class", YLabel: "test accuracy", LogX: true}
	if len(p.Title) > 60 {
		p.Title = p.Title[:strings.Index(p.Title, ",")]
	}
	band := func(name, v string) {
		b := plot.Band{Name: name}
		for _, n := range r.labels {
			m, sd := meanSD(r.acc[v][n])
			b.X, b.Mean, b.SD = append(b.X, float64(n)), append(b.Mean, m), append(b.SD, sd)
		}
		p.Bands = append(p.Bands, b)
	}
	band("scratch", "scratch")
	band("scratch+aug", "scratch+aug")
	for _, d := range depths {
		v, _ := r.best("frozen/"+d+"/", 0)
		band("frozen "+strings.TrimPrefix(v, "frozen/"), v)
	}
	v, _ := r.best("finetuned/", 0)
	band(v, v)
	return p
}

func run(c config, w io.Writer) error {
	labels, err := parseInts(c.labels)
	if err != nil {
		return fmt.Errorf("--labels: %w", err)
	}
	names, err := c.targetNames()
	if err != nil {
		return err
	}
	if c.seeds < 1 || c.steps < 1 || c.fineSteps < 1 {
		return fmt.Errorf("--seeds, --steps and --fine-steps must be positive")
	}
	logf := func(format string, args ...any) {
		if !c.quiet {
			fmt.Fprintf(w, format, args...)
		}
	}
	var all []*results
	for _, name := range names {
		if c.replot != "" {
			break
		}
		var t *target
		switch name {
		case "near":
			t, err = nearTarget(c.mnistDir, c.nearBackbone)
		case "rot":
			t, err = rotTarget(c.mnistDir, c.nearBackbone)
		default:
			t, err = farTarget(c.farDir, c.farBackbone)
		}
		if err != nil {
			return err
		}
		r, err := study(c, t, labels, logf)
		if err != nil {
			return fmt.Errorf("%s target: %w", name, err)
		}
		all = append(all, r)
		logf("\n%s\n", r.table())
	}
	if c.replot != "" {
		if all, err = readRaw(c.replot, names, labels); err != nil {
			return err
		}
		c.raw = ""
	}
	var md strings.Builder
	for _, r := range all {
		md.WriteString(r.table() + "\n")
	}
	for _, r := range all {
		for _, n := range labels {
			line := r.resultLine(n)
			fmt.Fprintln(w, line)
			md.WriteString("    " + line + "\n")
		}
	}
	if c.raw != "" {
		if err := writeRaw(c.raw, all); err != nil {
			return err
		}
		logf("raw accuracies: %s\n", c.raw)
	}
	if c.table != "" {
		if err := os.MkdirAll(filepath.Dir(c.table), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(c.table, []byte(md.String()), 0o644); err != nil {
			return err
		}
		logf("table: %s\n", c.table)
	}
	if c.plot != "" {
		var panels []plot.Panel
		for _, r := range all {
			panels = append(panels, r.panel())
		}
		if err := plot.MeanSD(c.plot, panels...); err != nil {
			return err
		}
		logf("plot: %s\n", c.plot)
	}
	return nil
}

// features is the frozen backbone's output at one depth for every image of
// the pool and of the test set.
type features struct {
	shape      []int64 // of one sample
	d          int
	pool, test []float32
	testSet    *models.Dataset
}

func (f *features) rows(idx []int) []float32 {
	out := make([]float32, 0, len(idx)*f.d)
	for _, i := range idx {
		out = append(out, f.pool[i*f.d:(i+1)*f.d]...)
	}
	return out
}

func images(x []float32) (*tfwrap.Tensor, error) {
	return tfwrap.NewTensor(x, int64(len(x)/mnist.Size), 28, 28, 1)
}

func extract(bb *transfer.Backbone, depth string, x []float32) ([]float32, []int64, error) {
	in, err := images(x)
	if err != nil {
		return nil, nil, err
	}
	out, err := bb.Features(depth, in)
	if err != nil {
		return nil, nil, err
	}
	v, err := out.Float32s()
	return v, out.Shape()[1:], err
}

func study(c config, t *target, labels []int, logf func(string, ...any)) (*results, error) {
	start := time.Now()
	bb, err := transfer.LoadBackbone(t.backbone)
	if err != nil {
		return nil, err
	}
	defer bb.Close()
	logf("== %s target: %s\n   backbone %s (source digits %v, source test accuracy %.4f); pool %d, test %d images\n",
		t.name, t.desc, t.backbone, bb.Spec.Source, bb.Spec.Acc, t.pool.Len(), t.test.Len())
	testImages, err := models.ClassDataset(t.test.Images, t.test.Labels, 28, 28, 1)
	if err != nil {
		return nil, err
	}
	feats := map[string]*features{}
	for _, d := range depths {
		f := &features{}
		if f.pool, f.shape, err = extract(bb, d, t.pool.Images); err != nil {
			return nil, err
		}
		if f.test, _, err = extract(bb, d, t.test.Images); err != nil {
			return nil, err
		}
		f.d = int(shapeSize(f.shape))
		if f.testSet, err = models.ClassDataset(f.test, t.test.Labels, f.shape...); err != nil {
			return nil, err
		}
		feats[d] = f
	}
	logf("   frozen features of %d images at %v in %s\n", t.pool.Len()+t.test.Len(), depths, time.Since(start).Round(100*time.Millisecond))
	r := &results{target: t, labels: labels}
	for _, n := range labels {
		for s := 1; s <= c.seeds; s++ {
			seed := uint64(s)
			cell := time.Now()
			idx, err := sample(t.pool.Labels, t.classes, n, seed)
			if err != nil {
				return nil, err
			}
			x, y := gather(t.pool, idx)
			xa, ya := augment(x, y, augCopies(len(y)), maxShift, seed*1000+uint64(n))
			var line []string
			last := time.Now()
			note := func(v string, acc float64) {
				r.add(v, n, acc)
				line = append(line, fmt.Sprintf("%s %.4f", v, acc))
				if os.Getenv("TRANSFER_TIMING") != "" {
					line[len(line)-1] += fmt.Sprintf(" [%s]", time.Since(last).Round(10*time.Millisecond))
					last = time.Now()
				}
			}

			// 1. From scratch: the backbone's architecture, random weights.
			for _, aug := range []bool{false, true} {
				sx, sy, v := x, y, "scratch"
				if aug {
					sx, sy, v = xa, ya, "scratch+aug"
				}
				acc, err := trainCNN(bb, "", "", "", t.classes, nil, 1e-3, sx, sy, testImages, c.steps, seed)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", v, err)
				}
				note(v, acc)
			}

			// 2. Frozen: the SavedModel's features at each depth, a new head.
			var probe []*tfwrap.Tensor
			for _, d := range depths {
				f := feats[d]
				fx := f.rows(idx)
				fa, _, err := extract(bb, d, xa)
				if err != nil {
					return nil, err
				}
				note("frozen/"+d+"/cosine", cosineNCM(fx, y, f.test, t.test.Labels, f.d, t.classes))
				note("frozen/"+d+"/cosine+aug", cosineNCM(fa, ya, f.test, t.test.Labels, f.d, t.classes))
				for _, aug := range []bool{false, true} {
					hx, hy, v := fx, y, "frozen/"+d+"/linear"
					if aug {
						hx, hy, v = fa, ya, v+"+aug"
					}
					acc, w, err := trainHead(f, t.classes, hx, hy, c.steps, seed)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", v, err)
					}
					note(v, acc)
					if d == "block2" && aug {
						probe = w
					}
				}
			}

			// 3. Fine-tuned: the backbone rebuilt in Go with its weights up to
			// block 2 (the best depth of the frozen study on both targets;
			// the dense top layer is left out), trained from a layer up with
			// the block-2 linear+aug head, at a lower rate.
			for _, from := range strings.Split(c.finetune, ",") {
				if from = strings.TrimSpace(from); from == "" {
					continue
				}
				v := "finetuned/" + strings.TrimSuffix(from, "_conv") + "+"
				acc, err := trainCNN(bb, "pretrained", "flatten", from, t.classes, probe, c.fineLR, xa, ya, testImages, c.fineSteps, seed)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", v, err)
				}
				note(v, acc)
			}
			logf("%s labels=%d seed=%d (%s): %s\n", t.name, n, s, time.Since(cell).Round(100*time.Millisecond), strings.Join(line, ", "))
		}
	}
	logf("   %s target done in %s\n", t.name, time.Since(start).Round(time.Second))
	sort.SliceStable(r.variants, func(i, j int) bool { return rank(r.variants[i]) < rank(r.variants[j]) })
	return r, nil
}

// rank orders the table: scratch, frozen by depth, fine-tuned.
func rank(v string) int {
	switch {
	case strings.HasPrefix(v, "scratch"):
		return 0
	case strings.HasPrefix(v, "frozen/"):
		for i, d := range depths {
			if strings.HasPrefix(v, "frozen/"+d+"/") {
				return 1 + i
			}
		}
	}
	return 9
}

func shapeSize(s []int64) int64 {
	n := int64(1)
	for _, d := range s {
		n *= d
	}
	return n
}

func head(classes int) []layers.Layer {
	return []layers.Layer{layers.Dropout(0.5), layers.Dense(classes, layers.WithActivation(layers.Softmax), layers.WithName("head"))}
}

func compile(m *models.Sequential, lr float64, seed uint64) error {
	return m.Compile(models.CompileOptions{
		Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.Adam(lr),
		Metrics: []metrics.Metric{metrics.SparseCategoricalAccuracy{}}, Seed: seed,
	})
}

// fitAndTest trains for about steps batches and returns the test accuracy.
func fitAndTest(m *models.Sequential, x []float32, y []int32, shape []int64, test *models.Dataset, steps int, seed uint64) (float64, error) {
	train, err := models.ClassDataset(x, y, shape...)
	if err != nil {
		return 0, err
	}
	perEpoch := (len(y) + batchSize - 1) / batchSize
	epochs := max(1, (steps+perEpoch-1)/perEpoch)
	opts := models.FitOptions{Epochs: epochs, BatchSize: batchSize, Seed: seed, Progress: models.ProgressSilent, Output: io.Discard}
	if _, err := m.Fit(context.Background(), train, opts); err != nil {
		return 0, err
	}
	logs, err := m.Evaluate(test, models.EvaluateOptions{BatchSize: 256})
	if err != nil {
		return 0, err
	}
	return logs["accuracy"], nil
}

// trainCNN trains the backbone's architecture up to the layer upTo ("" for
// all) with a new head on images: from random weights when init is "",
// else from the pretrained weights with the layers below trainFrom frozen
// and the head started from headWeights (when not nil).
func trainCNN(bb *transfer.Backbone, init, upTo, trainFrom string, classes int, headWeights []*tfwrap.Tensor, lr float64,
	x []float32, y []int32, test *models.Dataset, steps int, seed uint64) (float64, error) {
	ls, err := bb.Layers(upTo, trainFrom)
	if err != nil {
		return 0, err
	}
	m, err := models.NewSequential(bb.Spec.Input, append(ls, head(classes)...)...)
	if err != nil {
		return 0, err
	}
	defer m.Close()
	if err := compile(m, lr, seed); err != nil {
		return 0, err
	}
	if init != "" {
		if err := bb.LoadInto(m); err != nil {
			return 0, err
		}
		if headWeights != nil {
			if err := m.SetWeightsByName(map[string]*tfwrap.Tensor{"head/kernel": headWeights[0], "head/bias": headWeights[1]}); err != nil {
				return 0, err
			}
		}
	}
	return fitAndTest(m, x, y, bb.Spec.Input, test, steps, seed)
}

// trainHead trains a new head on frozen features and returns its test
// accuracy and weights (kernel, bias).
func trainHead(f *features, classes int, x []float32, y []int32, steps int, seed uint64) (float64, []*tfwrap.Tensor, error) {
	var ls []layers.Layer
	if len(f.shape) > 1 {
		ls = append(ls, layers.Flatten())
	}
	m, err := models.NewSequential(f.shape, append(ls, head(classes)...)...)
	if err != nil {
		return 0, nil, err
	}
	defer m.Close()
	if err := compile(m, 1e-3, seed); err != nil {
		return 0, nil, err
	}
	acc, err := fitAndTest(m, x, y, f.shape, f.testSet, steps, seed)
	if err != nil {
		return 0, nil, err
	}
	w, err := m.GetWeights()
	return acc, w, err
}

// rawResult is one target's accuracies in the --raw JSON file.
type rawResult struct {
	Target, Desc string
	TestImages   int
	Labels       []int
	Variants     []string
	Acc          map[string]map[int][]float64
}

func writeRaw(path string, all []*results) error {
	var out []rawResult
	for _, r := range all {
		out = append(out, rawResult{r.target.name, r.target.desc, r.target.test.Len(), r.labels, r.variants, r.acc})
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// readRaw reads what writeRaw wrote, for the targets and label counts asked.
func readRaw(path string, names []string, labels []int) ([]*results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var in []rawResult
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var all []*results
	for _, name := range names {
		for _, r := range in {
			if r.Target != name {
				continue
			}
			for _, n := range labels {
				if len(r.Acc["scratch"][n]) == 0 {
					return nil, fmt.Errorf("%s: no %s results at %d labels per class", path, name, n)
				}
			}
			t := &target{name: r.Target, desc: r.Desc, test: &mnist.Set{Labels: make([]int32, r.TestImages)}}
			all = append(all, &results{target: t, labels: labels, variants: r.Variants, acc: r.Acc})
		}
	}
	if len(all) != len(names) {
		return nil, fmt.Errorf("%s: found %d of the targets %v", path, len(all), names)
	}
	return all, nil
}
