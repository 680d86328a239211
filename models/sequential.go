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

// ErrNotCompiled is returned by Fit, Evaluate, Predict and the weight
// methods of a model that has not been compiled.
var ErrNotCompiled = errors.New("models: model is not compiled; call Compile first")

// Sequential is a stack of layers, as keras.Sequential: define the layers
// (NewSequential), choose the loss, optimizer and metrics (Compile), then
// Fit, Evaluate and Predict. TensorFlow does all the math, including the
// gradients and the weight updates.
//
// A compiled model owns a Session: Close it. Its methods are safe for
// concurrent use: the read-only ones (Predict, Evaluate, GetWeights,
// SaveWeights, …) run side by side; while Fit trains, they wait for the
// current step, and the calls that would change the model return
// ErrTraining instead of waiting for the whole run. Fit's callbacks get a
// read-only TrainingView.
type Sequential struct {
	mu       sync.RWMutex
	name     string
	input    []int64
	layers   []layers.Layer
	shapes   [][]int64 // per-sample output shape of each layer
	c        *compiled
	stop     atomic.Bool
	training atomic.Bool // set by Fit while it runs, under mu
}

// NewSequential checks, in Go, that the layers fit together on per-sample
// inputs of shape input (e.g. {784} or {28, 28, 1}) and names unnamed
// layers as Keras does (dense, dense_1, …).
func NewSequential(input []int64, ls ...layers.Layer) (*Sequential, error) {
	if len(input) == 0 {
		return nil, errors.New("models: the input shape is empty; give the shape of one sample, e.g. {784}")
	}
	for _, d := range input {
		if d < 1 {
			return nil, fmt.Errorf("models: input shape %v must have positive dimensions", input)
		}
	}
	if len(ls) == 0 {
		return nil, errors.New("models: a Sequential model needs at least one layer")
	}
	m := &Sequential{name: "sequential", input: append([]int64{}, input...), layers: ls}
	used := map[string]int{}
	for _, l := range ls {
		if l == nil {
			return nil, errors.New("models: a layer is nil")
		}
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
	in := m.input
	for i, l := range ls {
		if err := layers.CheckOptions(l); err != nil {
			return nil, fmt.Errorf("models: layer %d: %w", i, err)
		}
		out, err := l.OutputShape(in)
		if err != nil {
			return nil, fmt.Errorf("models: layer %d: %w", i, err)
		}
		m.shapes = append(m.shapes, out)
		in = out
	}
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

// Layers returns the model's layers.
func (m *Sequential) Layers() []layers.Layer { return append([]layers.Layer{}, m.layers...) }

// InputShape returns the per-sample input shape.
func (m *Sequential) InputShape() []int64 { return append([]int64{}, m.input...) }

// OutputShape returns the per-sample output shape.
func (m *Sequential) OutputShape() []int64 {
	return append([]int64{}, m.shapes[len(m.shapes)-1]...)
}

// ParamCount returns the numbers of trainable and non-trainable parameters.
func (m *Sequential) ParamCount() (trainable, nonTrainable int64) {
	in := m.input
	for i, l := range m.layers {
		t, n := l.ParamCount(in)
		trainable += t
		nonTrainable += n
		in = m.shapes[i]
	}
	return trainable, nonTrainable
}

// Summary returns the table keras.Model.summary() prints: each layer's
// name and type, output shape and parameter count, then the totals.
func (m *Sequential) Summary() string {
	const w1, w2, w3 = 33, 24, 15
	var b strings.Builder
	line := func(l, mid, r, fill string) {
		b.WriteString(l + strings.Repeat(fill, w1) + mid + strings.Repeat(fill, w2) + mid + strings.Repeat(fill, w3) + r + "\n")
	}
	row := func(edge, a, s, p string) {
		fmt.Fprintf(&b, "%s %-*s %s %-*s %s %*s %s\n", edge, w1-2, a, edge, w2-2, s, edge, w3-2, p, edge)
	}
	fmt.Fprintf(&b, "Model: %q\n", m.name)
	line("┏", "┳", "┓", "━")
	row("┃", "Layer (type)", "Output Shape", "Param #")
	line("┡", "╇", "┩", "━")
	in := m.input
	for i, l := range m.layers {
		t, n := l.ParamCount(in)
		row("│", fmt.Sprintf("%s (%s)", l.Name(), l.Type()), shape.String(append([]int64{-1}, m.shapes[i]...)), commas(t+n))
		if i < len(m.layers)-1 {
			line("├", "┼", "┤", "─")
		}
		in = m.shapes[i]
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
	Loss      losses.Loss
	Optimizer optimizers.Optimizer
	Metrics   []metrics.Metric
	// Seed seeds the initial weights and the dropout masks; the same seed
	// gives the same model.
	Seed uint64
	// Device places the model's ops, e.g. "/device:GPU:0" ("" lets TF choose).
	Device string
	// Threads caps TensorFlow's intra-op threads (0: TF's default).
	Threads int
}
