package kerasfile

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/tfgo-project/gotf/internal/h5"
	"github.com/tfgo-project/gotf/internal/suggest"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// Saved is a .keras file read into Go: Model, the architecture, not yet
// compiled, and the weights that Assign gives it (or a bigger model that
// holds it, such as the same backbone with a new head). A Saved is not
// safe for concurrent use; the weights it holds are read-only.
type Saved struct {
	// Model is the file's model, built from the layers package with the
	// Keras layer names. Compile it, or use it as a layer of another model
	// (models.CallMulti), then call Assign.
	Model *models.Model
	// KerasVersion is the Keras version that saved the file.
	KerasVersion string
	weights      map[layers.Common][]*h5.Dataset
	fromFile     map[layers.Common]bool
	path         string
}

// Read reads a .keras file: its config.json into an uncompiled model and
// its model.weights.h5 into memory. Nothing about the file runs: a layer,
// argument or weights layout it does not read is an error naming it.
func Read(path string, o Options) (*Saved, error) {
	a, err := readArchive(path, o.orDefaults())
	if err != nil {
		return nil, err
	}
	var top entry
	if err := json.Unmarshal(a.config, &top); err != nil {
		return nil, fmt.Errorf("%w: %s: config.json: %v", ErrFormat, path, err)
	}
	root, err := a.weights.Root()
	if err != nil {
		return nil, fmt.Errorf("kerasfile: %s: model.weights.h5: %w", path, err)
	}
	b := &builder{path: path, weights: map[layers.Common][]*h5.Dataset{}, fromFile: map[layers.Common]bool{}}
	if o.Frozen {
		b.frozen = 1
	}
	b.freezeBN = o.FreezeBatchNorm
	if o.TrainableFrom != "" {
		var order []string
		if err := b.plan(top, "", &order); err != nil {
			return nil, err
		}
		b.freeze = map[string]bool{}
		found := false
		for _, k := range order {
			if k[strings.LastIndexByte(k, '|')+1:] == o.TrainableFrom {
				found = true
				break
			}
			b.freeze[k] = true
		}
		if !found {
			var names []string
			for _, k := range order {
				names = append(names, k[strings.LastIndexByte(k, '|')+1:])
			}
			return nil, fmt.Errorf("kerasfile: %s: TrainableFrom %q names no layer%s", path, o.TrainableFrom, suggest.Hint(o.TrainableFrom, names))
		}
	}
	m, err := b.model(top, root, "")
	if err != nil {
		return nil, err
	}
	// Every weight comes from the file, so a config that declares more
	// than the file stores is refused before any variable is made. Only
	// float data the file holds counts, each object once (links to one
	// dataset, or datasets never written, add nothing).
	stored := int64(0)
	seen := map[uint64]bool{}
	for _, ds := range b.weights {
		for _, d := range ds {
			if d.Class != h5.Float || !d.Stored() || seen[d.Addr] {
				continue
			}
			seen[d.Addr] = true
			stored += d.NumElements()
		}
	}
	if tr, nt := m.ParamCount(); tr < 0 || nt < 0 || tr+nt < 0 || tr+nt > stored {
		return nil, fmt.Errorf("%w: %s: the config declares %d weights, the weights file stores %d", ErrFormat, path, uint64(tr)+uint64(nt), stored)
	}
	return &Saved{Model: m, KerasVersion: a.meta.KerasVersion, weights: b.weights, fromFile: b.fromFile, path: path}, nil
}

// Load reads a .keras file, compiles its model with opts (as
// models.Model.Compile) and assigns its weights: keras.models.load_model
// for Go. The caller owns the model: Close it.
func Load(path string, opts models.CompileOptions) (*models.Model, error) {
	s, err := Read(path, Options{})
	if err != nil {
		return nil, err
	}
	if err := s.Model.Compile(opts); err != nil {
		return nil, fmt.Errorf("kerasfile: %s: %w", path, err)
	}
	if _, err := s.Assign(s.Model); err != nil {
		s.Model.Close()
		return nil, err
	}
	return s.Model, nil
}

// Assign sets the weights of every layer read from the file that m holds,
// itself or inside a model m uses as a layer; m must be compiled. Other
// layers (a new head) keep theirs. It returns how many layers it set.
func (s *Saved) Assign(m *models.Model) (int, error) {
	vars := m.Weights()
	if len(vars) == 0 {
		if err := checkCompiled(m); err != nil {
			return 0, err
		}
	}
	values, err := m.GetWeights()
	if err != nil {
		return 0, fmt.Errorf("kerasfile: assign: %w", err)
	}
	index := map[*tfwrap.Variable]int{}
	for i, v := range vars {
		index[v] = i
	}
	set := 0
	var walk func(m *models.Model) error
	walk = func(m *models.Model) error {
		for _, l := range m.Layers() {
			if sub := models.InnerModel(l); sub != nil {
				if err := walk(sub); err != nil {
					return err
				}
				continue
			}
			ds, ok := s.weights[l]
			ws := l.Weights()
			if !ok && len(ws) > 0 && s.fromFile[l] {
				return fmt.Errorf("%w: %s: layer %s (%s) has no weights in the file", ErrFormat, s.path, l.Name(), l.Type())
			}
			if !ok {
				continue
			}
			if len(ws) != len(ds) {
				return fmt.Errorf("%w: %s: layer %s (%s) has %d weights in the file and %d in Go", ErrFormat, s.path, l.Name(), l.Type(), len(ds), len(ws))
			}
			for i, w := range ws {
				d := ds[i]
				if fmt.Sprint(d.Shape) != fmt.Sprint(w.Shape()) {
					return fmt.Errorf("%w: %s: layer %s (%s): weight %d (%s) has shape %v in the file, %v in Go", ErrFormat, s.path, l.Name(), l.Type(), i, w.Name(), d.Shape, w.Shape())
				}
				if d.Class != h5.Float {
					return fmt.Errorf("%w: %s: layer %s: weight %d holds %s, not floats", ErrFormat, s.path, l.Name(), i, d.DType())
				}
				t, err := tfwrap.NewTensor(d.Float32(), d.Shape...)
				if err != nil {
					return fmt.Errorf("kerasfile: %s: layer %s: %w", s.path, l.Name(), err)
				}
				j, ok := index[w]
				if !ok {
					return fmt.Errorf("kerasfile: layer %s: weight %s is not among the model's weights", l.Name(), w.Name())
				}
				values[j] = t
			}
			set++
		}
		return nil
	}
	if err := walk(m); err != nil {
		return 0, err
	}
	if set == 0 && len(s.weights) > 0 {
		return 0, fmt.Errorf("kerasfile: assign: model %s holds none of the layers read from %s", m.Name(), s.path)
	}
	if err := m.SetWeights(values); err != nil {
		return 0, fmt.Errorf("kerasfile: assign: %w", err)
	}
	return set, nil
}

func checkCompiled(m *models.Model) error {
	if _, err := m.GetWeights(); err != nil {
		return fmt.Errorf("kerasfile: assign: %w", err)
	}
	return nil
}

// entry is one element of config.json's layer lists (and the top level).
type entry struct {
	Class   string          `json:"class_name"`
	Module  string          `json:"module"`
	Name    string          `json:"name"`
	Config  json.RawMessage `json:"config"`
	Inbound []inboundNode   `json:"inbound_nodes"`
}

type inboundNode struct {
	Args   []any          `json:"args"`
	Kwargs map[string]any `json:"kwargs"`
}

// modelConfig is a Sequential or Functional model's config.
type modelConfig struct {
	Name         string          `json:"name"`
	Trainable    *bool           `json:"trainable"`
	Layers       []entry         `json:"layers"`
	InputLayers  json.RawMessage `json:"input_layers"`
	OutputLayers json.RawMessage `json:"output_layers"`
	BuildInput   []any           `json:"build_input_shape"`
}

// builder turns model configs into models, and finds each layer's weights
// where Keras's saving_lib writes them.
type builder struct {
	path     string
	weights  map[layers.Common][]*h5.Dataset
	fromFile map[layers.Common]bool
	freeze   map[string]bool // where|name of the layers TrainableFrom freezes
	freezeBN bool
	frozen   int // > 0 inside a model whose config says trainable: false
	depth    int
}

// plan lists every layer as where|name in file order, models used as
// layers at their place, with the same where strings model and layer use.
func (b *builder) plan(e entry, where string, out *[]string) error {
	b.depth++
	defer func() { b.depth-- }()
	if b.depth > maxNesting {
		return fmt.Errorf("%w: %s: models nested more than %d deep", ErrFormat, b.path, maxNesting)
	}
	var mc modelConfig
	if err := json.Unmarshal(e.Config, &mc); err != nil {
		return fmt.Errorf("%w: %s: model %s: %v", ErrFormat, b.path, e.Name, err)
	}
	where = nest(where, mc.Name)
	for _, l := range mc.Layers {
		if l.Class == "InputLayer" {
			continue
		}
		if l.Class == "Sequential" || l.Class == "Functional" {
			if err := b.plan(l, where, out); err != nil {
				return err
			}
			continue
		}
		*out = append(*out, where+"|"+entryName(l))
	}
	return nil
}

func nest(where, name string) string {
	if where == "" {
		return "model " + name
	}
	return where + " > " + name
}

// entryName is a layer's name: on the entry in functional models, in its
// config in Sequential ones.
func entryName(e entry) string {
	if e.Name != "" {
		return e.Name
	}
	var c struct {
		Name string `json:"name"`
	}
	json.Unmarshal(e.Config, &c)
	return c.Name
}

// Bounds on what a file may declare, far above what real models use
// (MobileNetV2 has 157 layers, ResNet152 about 500, a layer a handful of
// variables), so a crafted file cannot make the reader work for hours.
const (
	maxNesting = 16    // models inside models
	maxLayers  = 10000 // layers in one model
	maxVars    = 64    // variables of one layer
	// maxInputElems bounds one input sample (a 8192×8192 RGB image).
	maxInputElems = 3 << 26
)

func (b *builder) model(e entry, store *h5.Group, where string) (*models.Model, error) {
	if e.Class != "Sequential" && e.Class != "Functional" && e.Class != "Model" {
		return nil, fmt.Errorf("kerasfile: %s: the model is a %s; only Sequential and Functional models (not subclassed ones) are read", b.path, e.Class)
	}
	b.depth++
	defer func() { b.depth-- }()
	if b.depth > maxNesting {
		return nil, fmt.Errorf("%w: %s: models nested more than %d deep", ErrFormat, b.path, maxNesting)
	}
	var mc modelConfig
	if err := json.Unmarshal(e.Config, &mc); err != nil {
		return nil, fmt.Errorf("%w: %s: model %s: %v", ErrFormat, b.path, e.Name, err)
	}
	where = nest(where, mc.Name)
	if mc.Trainable != nil && !*mc.Trainable {
		b.frozen++
		defer func() { b.frozen-- }()
	}
	var lstore *h5.Group
	if store.Has("layers") {
		var err error
		if lstore, err = store.Group("layers"); err != nil {
			return nil, fmt.Errorf("kerasfile: %s: model.weights.h5: %w", b.path, err)
		}
	}
	var m *models.Model
	var err error
	if e.Class == "Sequential" {
		m, err = b.sequential(mc, lstore, where)
	} else {
		m, err = b.functional(mc, lstore, where)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// storeNames gives each layer its folder in the weights file as Keras's
// saving_lib does: the class name in snake case, made unique by _1, _2, …
// in the order of model.layers.
type storeNames map[string]int

var (
	nonWord    = regexp.MustCompile(`\W+`)
	capWords   = regexp.MustCompile(`(.)([A-Z][a-z]+)`)
	lowerUpper = regexp.MustCompile(`([a-z])([A-Z])`)
)

func snake(class string) string {
	s := nonWord.ReplaceAllString(class, "")
	s = capWords.ReplaceAllString(s, "${1}_${2}")
	return strings.ToLower(lowerUpper.ReplaceAllString(s, "${1}_${2}"))
}

func (n storeNames) next(class string) string {
	s := snake(class)
	k, seen := n[s]
	if !seen {
		n[s] = 0
		return s
	}
	n[s] = k + 1
	return fmt.Sprintf("%s_%d", s, k+1)
}

// varFolders lists where, under its folder, Keras's saving_lib keeps a
// layer's variables: a recurrent layer's in its cell, a Bidirectional
// layer's in its two copies' cells (forward first), anyone else's in vars.
func varFolders(class string) []string {
	switch class {
	case "LSTM", "GRU":
		return []string{"cell/vars"}
	case "Bidirectional":
		return []string{"forward_layer/cell/vars", "backward_layer/cell/vars"}
	}
	return []string{"vars"}
}

// layerWeights reads the vars of the layer of class stored at name in the
// layers group (none when the layer has no folder or no vars).
func (b *builder) layerWeights(lstore *h5.Group, name, class string) ([]*h5.Dataset, error) {
	if lstore == nil || !lstore.Has(name) {
		return nil, nil
	}
	var out []*h5.Dataset
	for _, sub := range varFolders(class) {
		g, err := lstore.Group(name)
		for _, part := range strings.Split(sub, "/") {
			if err != nil {
				break
			}
			if !g.Has(part) {
				g = nil
				break
			}
			g, err = g.Group(part)
		}
		if err != nil {
			return nil, fmt.Errorf("kerasfile: %s: model.weights.h5: %w", b.path, err)
		}
		if g == nil {
			continue
		}
		if n := len(g.Names()); n > maxVars {
			return nil, fmt.Errorf("%w: %s: model.weights.h5: layers/%s/%s has %d members; a layer has at most %d", ErrFormat, b.path, name, sub, n, maxVars)
		}
		ds, err := g.NumberedDatasets()
		if err != nil {
			return nil, fmt.Errorf("kerasfile: %s: model.weights.h5: %w", b.path, err)
		}
		out = append(out, ds...)
	}
	return out, nil
}

// layer converts the entry at position i of a model's layers, records where
// its weights are, and returns it as a one-input or several-input layer.
func (b *builder) layer(e entry, i int, rank int, lstore *h5.Group, store, where string) (built, error) {
	name := entryName(e)
	at := fmt.Sprintf("%s, layer %d (%s %q)", where, i, e.Class, name)
	if e.Class == "Sequential" || e.Class == "Functional" {
		var sub *h5.Group
		if lstore != nil && lstore.Has(store) {
			var err error
			if sub, err = lstore.Group(store); err != nil {
				return built{}, fmt.Errorf("kerasfile: %s: %s: model.weights.h5: %w", b.path, at, err)
			}
		} else {
			return built{}, fmt.Errorf("%w: %s: %s: no weights folder layers/%s", ErrFormat, b.path, at, store)
		}
		m, err := b.model(e, sub, where)
		if err != nil {
			return built{}, err
		}
		return built{multi: m.AsLayer()}, nil
	}
	var cfg map[string]any
	if err := json.Unmarshal(e.Config, &cfg); err != nil {
		return built{}, fmt.Errorf("%w: %s: %s: %v", ErrFormat, b.path, at, err)
	}
	frozen := b.frozen > 0 || b.freeze[where+"|"+name] || (b.freezeBN && e.Class == "BatchNormalization")
	l, err := convert(e.Class, cfg, rank, frozen)
	if err != nil {
		return built{}, fmt.Errorf("kerasfile: %s: %s: %w", b.path, at, err)
	}
	ds, err := b.layerWeights(lstore, store, e.Class)
	if err != nil {
		return built{}, err
	}
	var key layers.Common = l.multi
	if l.single != nil {
		key = l.single
	}
	b.fromFile[key] = true
	if len(ds) > 0 {
		b.weights[key] = ds
	}
	return l, nil
}

// inputShape reads an InputLayer's per-sample shape.
func inputShape(e entry, where string) ([]int64, error) {
	var c struct {
		BatchShape      []any  `json:"batch_shape"`
		BatchInputShape []any  `json:"batch_input_shape"`
		DType           any    `json:"dtype"`
		Sparse          bool   `json:"sparse"`
		Ragged          bool   `json:"ragged"`
		Name            string `json:"name"`
	}
	if err := json.Unmarshal(e.Config, &c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, where, err)
	}
	if c.Sparse || c.Ragged {
		return nil, fmt.Errorf("kerasfile: %s: sparse and ragged inputs are not supported", where)
	}
	switch d, _ := c.DType.(string); d {
	case "", "float32":
	case "int32", "int64":
		// Ids for an Embedding: Go models take float32 inputs and an
		// Embedding casts them, as Keras's casts a float input.
	default:
		return nil, fmt.Errorf("kerasfile: %s: input dtype %s is not supported (only float32, or int32 and int64 ids)", where, d)
	}
	shape := c.BatchShape
	if shape == nil {
		shape = c.BatchInputShape
	}
	return perSample(shape, where)
}

func perSample(batch []any, where string) ([]int64, error) {
	if len(batch) < 2 {
		return nil, fmt.Errorf("kerasfile: %s: input shape %v: want a batch axis and at least one more", where, batch)
	}
	if len(batch) > 9 {
		return nil, fmt.Errorf("kerasfile: %s: input shape %s: at most 8 axes per sample", where, jsonString(batch))
	}
	out := make([]int64, len(batch)-1)
	elems := int64(1)
	for i, d := range batch[1:] {
		f, ok := d.(float64)
		if !ok || f < 1 || f > 1<<31 || f != float64(int64(f)) {
			return nil, fmt.Errorf("kerasfile: %s: input shape %s: every axis but the batch must have a fixed size (Go models have static per-sample shapes)", where, jsonString(batch))
		}
		out[i] = int64(f)
		if elems *= out[i]; elems > maxInputElems {
			return nil, fmt.Errorf("kerasfile: %s: input shape %s holds over %d values per sample", where, jsonString(batch), maxInputElems)
		}
	}
	return out, nil
}
