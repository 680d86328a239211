package models

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// Symbol is a symbolic tensor of a functional model, as Keras's
// KerasTensor: a model input (Input) or an output of a layer called on
// symbols (Call, CallMulti, CallAll). It knows its per-sample shape; no
// TensorFlow op exists until the model is compiled.
//
// A call that fails (shapes that do not fit, a nil layer) returns a Symbol
// holding the error; calls on it hold the same error, and NewModel returns
// it. So a model is written as in Keras, one call per line, with one error
// check at the end.
type Symbol struct {
	node  *node  // the call that made it; nil for an Input
	index int    // which of the call's outputs
	name  string // an Input's name
	shape []int64
	err   error
}

// Shape returns the per-sample shape, or nil for a Symbol holding an
// error.
func (s *Symbol) Shape() []int64 {
	if s == nil || s.err != nil {
		return nil
	}
	return append([]int64{}, s.shape...)
}

// Err returns the error the Symbol holds, if any.
func (s *Symbol) Err() error {
	if s == nil {
		return errors.New("models: the symbol is nil")
	}
	return s.err
}

// node is one call of a layer.
type node struct {
	id       int64
	layer    layers.MultiLayer // what the model calls
	given    layers.Common     // the layer as the user gave it
	in       []*Symbol
	out      []*Symbol
	inShapes [][]int64
	auto     bool // the layer had no name when called: the model names it
}

// nodeIDs orders calls: a call's inputs always come from earlier calls,
// so sorting by id sorts a model's calls topologically.
var nodeIDs atomic.Int64

var inputName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.\-]*$`)

// Input returns a model input named name (a letter, then letters, digits,
// '_', '.' or '-') taking float32 samples of the per-sample shape, as
// keras.Input(shape, name=name). The name is the input's key in
// NewNamedDataset, PredictNamed and the exported serving signature.
func Input(name string, perSample ...int64) *Symbol {
	if !inputName.MatchString(name) {
		return &Symbol{err: fmt.Errorf("models: input name %q: want a letter, then letters, digits, '_', '.' or '-'", name)}
	}
	if len(perSample) == 0 {
		return &Symbol{err: fmt.Errorf("models: input %q: the shape is empty; give the shape of one sample, e.g. 784", name)}
	}
	for _, d := range perSample {
		if d < 1 {
			return &Symbol{err: fmt.Errorf("models: input %q: shape %v must have positive dimensions", name, perSample)}
		}
	}
	if _, err := shape.NumElements(perSample); err != nil {
		return &Symbol{err: fmt.Errorf("models: input %q: %w", name, err)}
	}
	return &Symbol{name: name, shape: append([]int64{}, perSample...)}
}

// single lets a functional model call a one-input, one-output Layer.
type single struct{ layers.Layer }

func (s single) OutputShapes(in [][]int64) ([][]int64, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("%s: %s takes one input, got %d", s.Name(), s.Type(), len(in))
	}
	out, err := s.OutputShape(in[0])
	if err != nil {
		return nil, err
	}
	return [][]int64{out}, nil
}

func (s single) ParamCounts(in [][]int64) (int64, int64) {
	if len(in) != 1 {
		return 0, 0
	}
	return s.ParamCount(in[0])
}

func (s single) ForwardAll(ctx *layers.Context, xs []tfwrap.Output) ([]tfwrap.Output, error) {
	if len(xs) != 1 {
		return nil, fmt.Errorf("layer %s: %s takes one input, got %d", s.Name(), s.Type(), len(xs))
	}
	out, err := s.Forward(ctx, xs[0])
	if err != nil {
		return nil, err
	}
	return []tfwrap.Output{out}, nil
}

// Call calls layer l on x, as l(x) in Keras, and returns its output.
func Call(l layers.Layer, x *Symbol) *Symbol {
	if l == nil {
		return &Symbol{err: errors.New("models: call: the layer is nil")}
	}
	outs, err := call(single{l}, l, []*Symbol{x})
	if err != nil {
		return &Symbol{err: err}
	}
	return outs[0]
}

// CallMulti calls a layer of several inputs (layers.Add, Concatenate, a
// functional model used as a layer, …) on xs and returns its first
// output.
func CallMulti(l layers.MultiLayer, xs ...*Symbol) *Symbol {
	outs, err := CallAll(l, xs...)
	if err != nil {
		return &Symbol{err: err}
	}
	return outs[0]
}

// CallAll calls l on xs and returns all its outputs (a recurrent layer's
// output and states, a model's several outputs).
func CallAll(l layers.MultiLayer, xs ...*Symbol) ([]*Symbol, error) {
	if l == nil {
		return nil, errors.New("models: call: the layer is nil")
	}
	if ml, ok := l.(*modelLayer); ok && ml.m == nil {
		return nil, errors.New("models: call: the model is nil")
	}
	return call(l, l, xs)
}

func call(l layers.MultiLayer, given layers.Common, xs []*Symbol) ([]*Symbol, error) {
	if len(xs) == 0 {
		return nil, fmt.Errorf("models: call %s: no inputs", describe(given))
	}
	for i, x := range xs {
		if x == nil {
			return nil, fmt.Errorf("models: call %s: input %d is nil", describe(given), i)
		}
		if x.err != nil {
			return nil, x.err
		}
	}
	auto := false
	if given.Name() == "" {
		given.SetName(snake(given.Type()))
		auto = true
	}
	if err := layers.CheckOptions(given); err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	in := make([][]int64, len(xs))
	for i, x := range xs {
		in[i] = x.shape
	}
	shapes, err := l.OutputShapes(in)
	if err != nil {
		return nil, fmt.Errorf("models: layer %s (%s) called on %s: %w", given.Name(), given.Type(), describeSymbols(xs), err)
	}
	if len(shapes) == 0 {
		return nil, fmt.Errorf("models: layer %s (%s) has no outputs", given.Name(), given.Type())
	}
	n := &node{id: nodeIDs.Add(1), layer: l, given: given, in: append([]*Symbol{}, xs...), inShapes: in, auto: auto}
	for i, s := range shapes {
		n.out = append(n.out, &Symbol{node: n, index: i, shape: s})
	}
	return append([]*Symbol{}, n.out...), nil
}

func describe(l layers.Common) string {
	if l.Name() != "" {
		return fmt.Sprintf("%s (%s)", l.Name(), l.Type())
	}
	return "a " + l.Type() + " layer"
}

func describeSymbols(xs []*Symbol) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = x.describe() + " " + shape.String(append([]int64{-1}, x.shape...))
	}
	return strings.Join(parts, ", ")
}

// describe names a symbol as Keras's summary does: input, or
// layer[call][output].
func (s *Symbol) describe() string {
	if s.node == nil {
		return s.name
	}
	return fmt.Sprintf("%s[%d]", s.node.given.Name(), s.index)
}

// NewModel returns the functional model that computes outputs from
// inputs, as keras.Model(inputs, outputs, name=name) ("" names it
// "functional"). It checks, in Go: that every Symbol is error-free; that
// the inputs are distinct Inputs with distinct names; that every output
// depends only on the model's inputs and every input reaches an output;
// that a layer called more than once (a shared layer) with weights sees
// one input shape; and it names unnamed layers as Keras does (dense,
// dense_1, …), in the order they are called.
//
// A model is a layer of another model through AsLayer:
// CallMulti(model.AsLayer(), x) uses it, with its weights. Such an inner
// model is not compiled on its own.
func NewModel(name string, inputs, outputs []*Symbol) (*Model, error) {
	if name == "" {
		name = "functional"
	}
	if strings.ContainsAny(name, " :/") {
		return nil, fmt.Errorf("models: model name %q may not hold spaces, ':' or '/'", name)
	}
	if len(inputs) == 0 || len(outputs) == 0 {
		return nil, fmt.Errorf("models: a model needs inputs and outputs, got %d and %d", len(inputs), len(outputs))
	}
	for i, s := range outputs {
		if s == nil {
			return nil, fmt.Errorf("models: output %d is nil", i)
		}
		if s.err != nil {
			return nil, s.err
		}
	}
	isInput := map[*Symbol]bool{}
	inNames := map[string]bool{}
	for i, s := range inputs {
		switch {
		case s == nil:
			return nil, fmt.Errorf("models: input %d is nil", i)
		case s.err != nil:
			return nil, s.err
		case s.node != nil:
			return nil, fmt.Errorf("models: input %d is the output %s of a layer, not an Input", i, s.describe())
		case isInput[s]:
			return nil, fmt.Errorf("models: input %q is listed twice", s.name)
		case inNames[s.name]:
			return nil, fmt.Errorf("models: two inputs are named %q", s.name)
		}
		isInput[s], inNames[s.name] = true, true
	}
	// Walk back from the outputs.
	const (
		visiting = 1
		done     = 2
	)
	state := map[*node]int{}
	reached := map[*Symbol]bool{}
	var nodes []*node
	var walk func(s *Symbol, path string) error
	walk = func(s *Symbol, path string) error {
		if s.node == nil {
			if !isInput[s] {
				return fmt.Errorf("models: %s depends on input %q, which is not among the model's inputs", path, s.name)
			}
			reached[s] = true
			return nil
		}
		switch state[s.node] {
		case visiting:
			return fmt.Errorf("models: %s: the layers form a cycle through %s", path, s.node.given.Name())
		case done:
			return nil
		}
		state[s.node] = visiting
		for _, in := range s.node.in {
			if err := walk(in, path); err != nil {
				return err
			}
		}
		state[s.node] = done
		nodes = append(nodes, s.node)
		return nil
	}
	for i, s := range outputs {
		if err := walk(s, fmt.Sprintf("output %d (%s)", i, s.describe())); err != nil {
			return nil, err
		}
	}
	for _, s := range inputs {
		if !reached[s] {
			return nil, fmt.Errorf("models: input %q is not connected to any output", s.name)
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].id < nodes[j].id })
	m := &Model{name: name, inputs: append([]*Symbol{}, inputs...), outputs: append([]*Symbol{}, outputs...), nodes: nodes}
	if err := m.nameLayers(inNames); err != nil {
		return nil, err
	}
	if err := m.checkShared(); err != nil {
		return nil, err
	}
	m.nameOutputs()
	m.layerList = m.kerasOrder()
	return m, nil
}

// kerasOrder lists the layers as Keras's functional model.layers does,
// and so its get_weights: by depth from the outputs, deepest (nearest the
// inputs) first, and layers of one depth in the order a depth-first walk
// from the outputs meets them (Keras's map_graph). A skip connection's
// projection then comes where Keras has it, and SetWeights takes Keras's
// get_weights list as it is.
func (m *Model) kerasOrder() []layers.Common {
	var post []*node // Keras's nodes_in_decreasing_depth
	index := map[layers.Common]int{}
	seen := map[*node]bool{}
	var walk func(s *Symbol)
	walk = func(s *Symbol) {
		n := s.node
		if n == nil || seen[n] {
			return
		}
		if _, ok := index[n.given]; !ok {
			index[n.given] = len(index)
		}
		seen[n] = true
		for _, in := range n.in {
			walk(in)
		}
		post = append(post, n)
	}
	for _, s := range m.outputs {
		walk(s)
	}
	nodeDepth := map[*node]int{}
	layerDepth := map[layers.Common]int{}
	for i := len(post) - 1; i >= 0; i-- {
		n := post[i]
		d := max(nodeDepth[n], layerDepth[n.given])
		layerDepth[n.given], nodeDepth[n] = d, d
		for _, in := range n.in {
			if in.node != nil {
				nodeDepth[in.node] = max(nodeDepth[in.node], d+1)
			}
		}
	}
	out := append([]layers.Common{}, m.layerList...)
	sort.SliceStable(out, func(i, j int) bool {
		if di, dj := layerDepth[out[i]], layerDepth[out[j]]; di != dj {
			return di > dj
		}
		return index[out[i]] < index[out[j]]
	})
	return out
}

// nameLayers lists the model's layers in call order and gives the ones
// called unnamed their Keras default names, unique in the model.
func (m *Model) nameLayers(inNames map[string]bool) error {
	seen := map[layers.Common]bool{}
	auto := map[layers.Common]bool{}
	for _, n := range m.nodes {
		if !seen[n.given] {
			seen[n.given] = true
			m.layerList = append(m.layerList, n.given)
		}
		if n.auto && len(n.given.Weights()) == 0 {
			auto[n.given] = true
		}
	}
	used := map[string]layers.Common{}
	for name := range inNames {
		used[name] = nil
	}
	for _, l := range m.layerList {
		if auto[l] {
			continue
		}
		if other, ok := used[l.Name()]; ok {
			if other == nil {
				return fmt.Errorf("models: layer %s has the name of an input", l.Name())
			}
			return fmt.Errorf("models: two layers are named %q", l.Name())
		}
		used[l.Name()] = l
	}
	for _, l := range m.layerList {
		if !auto[l] {
			continue
		}
		base := snake(l.Type())
		name := base
		for i := 1; ; i++ {
			if _, ok := used[name]; !ok {
				break
			}
			name = fmt.Sprintf("%s_%d", base, i)
		}
		used[name] = l
		l.SetName(name)
	}
	return nil
}

// checkShared refuses a layer with weights called on different input
// shapes: its weights were made for the first.
func (m *Model) checkShared() error {
	first := map[layers.Common]*node{}
	for _, n := range m.nodes {
		f, ok := first[n.given]
		if !ok {
			first[n.given] = n
			continue
		}
		t, nt := n.layer.ParamCounts(f.inShapes)
		if t+nt == 0 {
			continue
		}
		same := len(f.inShapes) == len(n.inShapes)
		for i := 0; same && i < len(n.inShapes); i++ {
			same = shape.Equal(f.inShapes[i], n.inShapes[i])
		}
		if !same {
			return fmt.Errorf("models: layer %s is shared but called on %s and then on %s; a layer with weights takes one input shape",
				n.given.Name(), describeSymbols(f.in), describeSymbols(n.in))
		}
	}
	return nil
}

// nameOutputs names the outputs after the layers that make them, as
// Keras's output_names: the layer's name, with _1, _2, … when one layer
// makes several outputs.
func (m *Model) nameOutputs() {
	used := map[string]bool{}
	m.outNames = make([]string, len(m.outputs))
	for i, s := range m.outputs {
		base := s.name // an output that is one of the inputs
		if s.node != nil {
			base = s.node.given.Name()
		}
		name := base
		for k := 1; used[name]; k++ {
			name = fmt.Sprintf("%s_%d", base, k)
		}
		used[name] = true
		m.outNames[i] = name
	}
}

// InputNames returns the names of the model's inputs, in order.
func (m *Model) InputNames() []string {
	out := make([]string, len(m.inputs))
	for i, s := range m.inputs {
		out[i] = s.name
	}
	return out
}

// OutputNames returns the names of the model's outputs, in order: the
// keys of CompileOptions.Losses, NewNamedDataset's labels and the
// serving signature's outputs.
func (m *Model) OutputNames() []string { return append([]string{}, m.outNames...) }

// InputShapes returns the per-sample shape of each input.
func (m *Model) InputShapes() [][]int64 {
	out := make([][]int64, len(m.inputs))
	for i, s := range m.inputs {
		out[i] = s.Shape()
	}
	return out
}

// AsLayer returns the model as a layer of another model:
// CallMulti(m.AsLayer(), x) (or CallAll, for several outputs) uses it,
// with its weights, inside another model, as calling a Keras model on a
// tensor does. Every call shares the same weights, made on the first
// call. Such an inner model is not compiled on its own.
func (m *Model) AsLayer() layers.MultiLayer {
	if m == nil {
		return &modelLayer{} // CallMulti says "the model is nil"
	}
	m.layerOnce.Do(func() { m.layer = &modelLayer{m} })
	return m.layer
}

// modelLayer is a Model as a layers.MultiLayer, through AsLayer.
type modelLayer struct{ m *Model }

func (l *modelLayer) Name() string                { return l.m.name }
func (l *modelLayer) Weights() []*tfwrap.Variable { return l.m.Weights() }

// OutputShapes returns the per-sample shapes of the outputs for inputs of
// the per-sample shapes in: those of the model's inputs.
func (l *modelLayer) OutputShapes(in [][]int64) ([][]int64, error) {
	m := l.m
	if len(in) != len(m.inputs) {
		return nil, fmt.Errorf("%s: the model takes %d inputs, got %d", m.name, len(m.inputs), len(in))
	}
	for i, s := range m.inputs {
		if !shape.Equal(in[i], s.shape) {
			return nil, fmt.Errorf("%s: input %q takes per-sample shape %v, got %v", m.name, s.name, s.shape, in[i])
		}
	}
	out := make([][]int64, len(m.outputs))
	for i, s := range m.outputs {
		out[i] = s.Shape()
	}
	return out, nil
}

// ParamCounts implements layers.MultiLayer: ParamCount.
func (l *modelLayer) ParamCounts([][]int64) (int64, int64) { return l.m.ParamCount() }

// Name returns the model's name.
func (m *Model) Name() string { return m.name }

// SetName renames the model (as a layer of another model, its scope).
func (l *modelLayer) SetName(name string) { l.m.name = name }

// Type is "Sequential" for a model NewSequential made and "Functional"
// otherwise, as Keras's class names.
func (l *modelLayer) Type() string { return l.m.kind() }

func (m *Model) kind() string {
	if m.seq {
		return "Sequential"
	}
	return "Functional"
}

// Config describes the model as a layer: its type and name.
func (l *modelLayer) Config() layers.Config { return layers.Config{Type: l.m.kind(), Name: l.m.name} }

// ForwardAll adds the model's ops for the batches xs, as a layer of
// another model: its layers' weights, made on the first call, are shared
// by every call.
func (l *modelLayer) ForwardAll(ctx *layers.Context, xs []tfwrap.Output) ([]tfwrap.Output, error) {
	m := l.m
	if len(xs) != len(m.inputs) {
		return nil, fmt.Errorf("layer %s: the model takes %d inputs, got %d", m.name, len(m.inputs), len(xs))
	}
	g, seed := ctx.Graph, ctx.Seed
	outs, err := m.forward(g, ctx, seed, xs, ctx.Masks)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", m.name, err)
	}
	res := make([]tfwrap.Output, len(outs))
	masks := make([]tfwrap.Output, len(outs))
	for i, o := range outs {
		res[i], masks[i] = o.pred.Out, o.mask
	}
	ctx.Graph, ctx.Seed = g, seed
	ctx.Logits, ctx.LogitsOf = outs[0].pred.Logits, outs[0].pred.LogitsOf
	ctx.Masks, ctx.OutMasks = nil, masks
	return res, nil
}

// result is one output of a forward pass: the tensor, the logits it came
// from (for the losses), and its mask.
type result struct {
	pred losses.Pred
	mask tfwrap.Output
}

// forward adds every call's ops for the batches xs (with their masks, if
// any) and returns the model's outputs. Its errors name the layer; the
// caller adds its own prefix.
func (m *Model) forward(g *tfwrap.Graph, ctx *layers.Context, seed uint64, xs, masks []tfwrap.Output) ([]result, error) {
	vals := map[*Symbol]result{}
	for i, s := range m.inputs {
		r := result{pred: losses.Pred{Out: xs[i]}}
		if i < len(masks) {
			r.mask = masks[i]
		}
		vals[s] = r
	}
	for _, n := range m.nodes {
		ins := make([]tfwrap.Output, len(n.in))
		ms := make([]tfwrap.Output, len(n.in))
		for i, s := range n.in {
			ins[i], ms[i] = vals[s].pred.Out, vals[s].mask
		}
		name := n.given.Name()
		ctx.Graph = g.WithScope(name)
		ctx.Seed = seedFor(seed, name)
		ctx.Masks, ctx.OutMasks = ms, nil
		ctx.Logits, ctx.LogitsOf = tfwrap.Output{}, layers.Linear
		outs, err := n.layer.ForwardAll(ctx, ins)
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				err = fmt.Errorf("layer %s: %w", name, err)
			}
			return nil, err
		}
		if len(outs) != len(n.out) {
			return nil, fmt.Errorf("layer %s gave %d outputs, its output shapes say %d", name, len(outs), len(n.out))
		}
		for i, s := range n.out {
			r := result{pred: losses.Pred{Out: outs[i]}}
			switch {
			case ctx.OutMasks != nil:
				if i < len(ctx.OutMasks) {
					r.mask = ctx.OutMasks[i]
				}
			case i == 0 && layers.PassesMask(n.given.Type()):
				r.mask = ms[0]
			}
			if i == 0 && ctx.Logits.Valid() {
				r.pred.Logits, r.pred.LogitsOf = ctx.Logits, ctx.LogitsOf
			}
			if got := outs[i].Shape(); len(got) > 0 && !shape.Compatible(append([]int64{-1}, s.shape...), got) {
				return nil, fmt.Errorf("layer %s: output %d has shape %s, its output shapes say %s",
					name, i, shape.String(got), shape.String(append([]int64{-1}, s.shape...)))
			}
			vals[s] = r
		}
	}
	ctx.Masks, ctx.OutMasks = nil, nil
	res := make([]result, len(m.outputs))
	for i, s := range m.outputs {
		res[i] = vals[s]
	}
	return res, nil
}
