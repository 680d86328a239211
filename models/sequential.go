package models

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/metrics"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// Model is a Keras model: a functional one (NewModel: several named
// inputs and outputs, shared layers, skip connections, models used as
// layers) or a stack of layers (NewSequential, the special case of one
// input, one output and one layer after the other). Choose the loss,
// optimizer and metrics (Compile), then Fit, Evaluate and Predict.
// TensorFlow does all the math, including the gradients and the weight
// updates.
//
// A compiled model owns a Session: Close it. Its methods are safe for
// concurrent use: the read-only ones (Predict, Evaluate, GetWeights,
// SaveWeights, …) run side by side; while Fit trains, they wait for the
// current step, and the calls that would change the model return
// ErrTraining instead of waiting for the whole run. Fit's callbacks get a
// read-only TrainingView.
type Model struct {
	mu        sync.RWMutex
	name      string
	seq       bool        // made by NewSequential
	layer     *modelLayer // the model as a layer, once AsLayer made it
	layerOnce sync.Once
	inputs    []*Symbol
	outputs   []*Symbol
	outNames  []string
	nodes     []*node         // the layer calls, in topological order
	layerList []layers.Common // each layer once, in call order
	c         *compiled
	stop      atomic.Bool
	training  atomic.Bool // set by Fit while it runs, under mu
}

// Sequential is a Model made by NewSequential, as keras.Sequential: a
// stack of layers from one input to one output.
type Sequential = Model

// NewSequential checks, in Go, that the layers fit together on per-sample
// inputs of shape input (e.g. {784} or {28, 28, 1}) and names unnamed
// layers as Keras does (dense, dense_1, …). Its input is named "inputs"
// and its output "outputs", the names its SavedModel signature has.
func NewSequential(input []int64, ls ...layers.Layer) (*Sequential, error) {
	if len(input) == 0 {
		return nil, errors.New("models: the input shape is empty; give the shape of one sample, e.g. {784}")
	}
	for _, d := range input {
		if d < 1 {
			return nil, fmt.Errorf("models: input shape %v must have positive dimensions", input)
		}
	}
	if _, err := shape.NumElements(input); err != nil {
		return nil, fmt.Errorf("models: input shape: %w", err)
	}
	if len(ls) == 0 {
		return nil, errors.New("models: a Sequential model needs at least one layer")
	}
	used := map[string]int{}
	seen := map[layers.Layer]bool{}
	for _, l := range ls {
		if l == nil {
			return nil, errors.New("models: a layer is nil")
		}
		if seen[l] {
			return nil, fmt.Errorf("models: layer %s is given twice; a Sequential model calls each layer once (share layers in a functional model)", describe(l))
		}
		seen[l] = true
		if l.Name() != "" {
			if used[l.Name()] > 0 {
				return nil, fmt.Errorf("models: two layers are named %q", l.Name())
			}
			used[l.Name()]++
		}
	}
	for _, l := range ls {
		if l.Name() != "" {
			continue
		}
		base := snake(l.Type())
		name := base
		for i := 1; used[name] > 0; i++ {
			name = fmt.Sprintf("%s_%d", base, i)
		}
		used[name]++
		l.SetName(name)
	}
	in := &Symbol{name: "inputs", shape: append([]int64{}, input...)}
	m := &Model{name: "sequential", seq: true, inputs: []*Symbol{in}, outNames: []string{"outputs"}}
	x := in
	for i, l := range ls {
		if err := layers.CheckOptions(l); err != nil {
			return nil, fmt.Errorf("models: layer %d: %w", i, err)
		}
		out, err := l.OutputShape(x.shape)
		if err != nil {
			return nil, fmt.Errorf("models: layer %d: %w", i, err)
		}
		n := &node{id: nodeIDs.Add(1), layer: single{l}, given: l, in: []*Symbol{x}, inShapes: [][]int64{x.shape}}
		n.out = []*Symbol{{node: n, shape: out}}
		m.nodes = append(m.nodes, n)
		m.layerList = append(m.layerList, l)
		x = n.out[0]
	}
	m.outputs = []*Symbol{x}
	return m, nil
}

// snake turns a Keras class name into its default layer name: Conv2D →
// conv2d, MaxPooling2D → max_pooling2d, BatchNormalization →
// batch_normalization.
func snake(typ string) string {
	var b strings.Builder
	for i, r := range typ {
		if r >= 'A' && r <= 'Z' {
			if i > 0 && !(typ[i-1] >= 'A' && typ[i-1] <= 'Z') && !(typ[i-1] >= '0' && typ[i-1] <= '9') {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Layers returns the model's layers, each once, in the order they are
// called: layers.Layer or layers.MultiLayer values (a model used as a
// layer is its AsLayer; InnerModel gives the model back).
func (m *Model) Layers() []layers.Common { return append([]layers.Common{}, m.layerList...) }

// InnerModel returns the model l is when l is a model used as a layer
// (Model.AsLayer), and nil otherwise.
func InnerModel(l layers.Common) *Model {
	if ml, ok := l.(*modelLayer); ok {
		return ml.m
	}
	return nil
}

// InputShape returns the per-sample shape of the (first) input.
func (m *Model) InputShape() []int64 {
	if len(m.inputs) == 0 {
		return nil
	}
	return m.inputs[0].Shape()
}

// OutputShape returns the per-sample shape of the (first) output.
func (m *Model) OutputShape() []int64 {
	if len(m.outputs) == 0 {
		return nil
	}
	return m.outputs[0].Shape()
}

// firstCalls maps each layer to its first call.
func (m *Model) firstCalls() map[layers.Common]*node {
	first := map[layers.Common]*node{}
	for _, n := range m.nodes {
		if _, ok := first[n.given]; !ok {
			first[n.given] = n
		}
	}
	return first
}

// ParamCount returns the numbers of trainable and non-trainable parameters.
func (m *Model) ParamCount() (trainable, nonTrainable int64) {
	m.countParams(map[layers.Common]bool{}, &trainable, &nonTrainable)
	return trainable, nonTrainable
}

// countParams adds the parameters of the layers not yet seen, those of
// models used as layers included: a layer called both here and inside
// such a model counts once, as its weights do.
func (m *Model) countParams(seen map[layers.Common]bool, trainable, nonTrainable *int64) {
	first := m.firstCalls()
	for _, l := range m.layerList {
		if ml, ok := l.(*modelLayer); ok {
			ml.m.countParams(seen, trainable, nonTrainable)
			continue
		}
		if seen[l] {
			continue
		}
		seen[l] = true
		t, nt := layerParams(first[l])
		*trainable += t
		*nonTrainable += nt
	}
}

// layerParams counts a call's layer's parameters, a frozen layer's all as
// non-trainable, as Keras counts them once layer.trainable = False.
func layerParams(n *node) (trainable, nonTrainable int64) {
	t, nt := n.layer.ParamCounts(n.inShapes)
	if _, isModel := n.given.(*modelLayer); !isModel && n.given.Config().Frozen {
		return 0, t + nt
	}
	return t, nt
}

// Summary returns the table keras.Model.summary() prints: each layer's
// name and type, output shape and parameter count, then the totals; a
// functional model's table has the inputs and a "Connected to" column
// (layer[call][output], as Keras writes it).
func (m *Model) Summary() string {
	cols := []string{"Layer (type)", "Output Shape", "Param #"}
	var rows [][]string
	if !m.seq {
		cols = append(cols, "Connected to")
		for _, s := range m.inputs {
			rows = append(rows, []string{s.name + " (InputLayer)", shape.String(append([]int64{-1}, s.shape...)), "0", "-"})
		}
	}
	first := m.firstCalls()
	calls := map[*node]int{}
	count := map[layers.Common]int{}
	for _, n := range m.nodes {
		calls[n] = count[n.given]
		count[n.given]++
	}
	for _, l := range m.layerList {
		n := first[l]
		t, nt := layerParams(n)
		row := []string{fmt.Sprintf("%s (%s)", l.Name(), l.Type()), shape.String(append([]int64{-1}, n.out[0].shape...)), commas(t + nt)}
		if !m.seq {
			var conn []string
			for _, c := range m.nodes {
				if c.given != l {
					continue
				}
				for _, in := range c.in {
					if in.node == nil {
						conn = append(conn, in.name+"[0][0]")
					} else {
						conn = append(conn, fmt.Sprintf("%s[%d][%d]", in.node.given.Name(), calls[in.node], in.index))
					}
				}
			}
			row = append(row, strings.Join(conn, ", "))
		}
		rows = append(rows, row)
	}
	widths := []int{33, 24, 15, 24}
	for _, r := range rows {
		for i, c := range r {
			if n := len([]rune(c)) + 2; n > widths[i] {
				widths[i] = n
			}
		}
	}
	widths = widths[:len(cols)]
	var b strings.Builder
	line := func(l, mid, r, fill string) {
		b.WriteString(l)
		for i, w := range widths {
			if i > 0 {
				b.WriteString(mid)
			}
			b.WriteString(strings.Repeat(fill, w))
		}
		b.WriteString(r + "\n")
	}
	row := func(edge string, cells []string) {
		for i, c := range cells {
			if i == 2 {
				fmt.Fprintf(&b, "%s %*s ", edge, widths[i]-2, c)
			} else {
				fmt.Fprintf(&b, "%s %-*s ", edge, widths[i]-2, c)
			}
		}
		b.WriteString(edge + "\n")
	}
	fmt.Fprintf(&b, "Model: %q\n", m.name)
	line("┏", "┳", "┓", "━")
	row("┃", cols)
	line("┡", "╇", "┩", "━")
	for i, r := range rows {
		row("│", r)
		if i < len(rows)-1 {
			line("├", "┼", "┤", "─")
		}
	}
	line("└", "┴", "┘", "─")
	t, n := m.ParamCount()
	fmt.Fprintf(&b, " Total params: %s (%s)\n", commas(t+n), bytesize(4*(t+n)))
	fmt.Fprintf(&b, " Trainable params: %s (%s)\n", commas(t), bytesize(4*t))
	fmt.Fprintf(&b, " Non-trainable params: %s (%s)\n", commas(n), bytesize(4*n))
	return b.String()
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func bytesize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d.00 B", n)
}

// seedFor derives a layer's seed from the model's.
func seedFor(seed uint64, layer string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", seed, layer)
	return h.Sum64()
}

// CompileOptions configures Compile. Loss and Optimizer are required.
type CompileOptions struct {
	// Loss is every output's loss, unless Losses gives it one; a model of
	// one output needs it.
	Loss      losses.Loss
	Optimizer optimizers.Optimizer
	// Metrics are computed on every output.
	Metrics []metrics.Metric
	// Losses gives outputs of a functional model their own losses, by
	// output name (OutputNames), as Keras's loss={"name": …}.
	Losses map[string]losses.Loss
	// LossWeights weighs each output's loss in the total that training
	// minimizes (and the "loss" log reports), by output name; 1 by
	// default, as Keras's loss_weights. The per-output logs
	// (name_loss) are unweighted.
	LossWeights map[string]float64
	// OutputMetrics adds metrics for one output, by output name, as
	// Keras's metrics={"name": […]}. With several outputs the logs name
	// them name_metric (cls_accuracy), and each output's loss name_loss.
	OutputMetrics map[string][]metrics.Metric
	// Seed seeds the initial weights and the dropout masks; the same seed
	// gives the same model.
	Seed uint64
	// Device places the model's ops, e.g. "/device:GPU:0" ("" lets TF choose).
	Device string
	// Threads caps TensorFlow's intra-op threads and runs one op at a
	// time (one inter-op thread); 0: TF's defaults. IntraOpThreads and
	// InterOpThreads, when set, take precedence.
	Threads int
	// IntraOpThreads sizes the pool a kernel splits its work over (the
	// blocks of a MatMul), InterOpThreads the pool independent ops run on
	// side by side: TensorFlow's intra_op_parallelism_threads and
	// inter_op_parallelism_threads. 0: TensorFlow's default, one thread
	// per core; a negative InterOpThreads runs ops in the caller's
	// thread. TensorFlow sizes both pools once per process, from the
	// first session: see tfwrap.WithThreads. Unless InterOpThreads or
	// Threads is set > 0, Predict runs ops in the caller's thread
	// (tfwrap.RunOptions.Inline), which on 2 cores cut a batch-1 MLP
	// predict from about 65 to 37 µs (README, "Threads: measured, not assumed").
	IntraOpThreads, InterOpThreads int
	// Precision is Keras's dtype policy: "" or "float32", or
	// "mixed_bfloat16": variables, optimizer state and losses stay
	// float32 while matrix ops (MatMul, Conv2D and their gradients) and
	// the element-wise ops between them run in bfloat16. It is
	// TensorFlow's own oneDNN bfloat16 rewrite (Grappler's
	// auto_mixed_precision_onednn_bfloat16) applied to the model's graph,
	// training and inference alike, so it needs oneDNN and a CPU with
	// AVX512-BF16 or AMX-BF16; elsewhere Compile says so
	// (cpuinfo.ErrNoBFloat16). Keras casts at each layer instead, so the
	// two round in slightly different places (README, "bfloat16"). It is
	// the session's, not the model's: Export writes a float32 SavedModel.
	Precision string
	// Distribute trains the model across the tasks of a TensorFlow
	// cluster (see Distribute); nil trains in this process.
	Distribute *Distribute
}
