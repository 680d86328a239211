package kerasfile

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/tfgo-project/gotf/internal/h5"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// FormatVersion is the Keras release whose .keras layout Save writes
// (config.json, metadata.json and model.weights.h5 as its saving_lib
// does); the tests load what Save writes with that Keras.
const FormatVersion = "3.15.1"

// Save writes m, compiled, as a Keras 3 .keras file at path: the
// architecture as config.json, the weights (trainable and not, as
// BatchNormalization's moving statistics) as model.weights.h5.
// keras.models.load_model opens it and computes what m computes, and Load
// reads it back. Sequential and functional models are written, models
// used as layers inside them too, with every layer type Read reads; any
// other layer is an error naming it, and nothing is written. The file
// appears whole or not at all (written to a temporary file, then
// renamed). The optimizer's state and the compile options are not saved:
// the file is for inference, transfer learning and fine-tuning, as
// Keras's compile=False load. Save reads the weights under the model's
// lock, so a concurrent Fit cannot change them halfway.
func Save(m *models.Model, path string) error {
	if m == nil {
		return errors.New("kerasfile: save: the model is nil")
	}
	if path == "" {
		return errors.New("kerasfile: save: the path is empty")
	}
	values, err := m.GetWeights()
	if errors.Is(err, models.ErrNotCompiled) {
		return fmt.Errorf("kerasfile: save %s: %w (a model used only as a layer of another is saved with the model that holds it)", path, err)
	}
	if err != nil {
		return fmt.Errorf("kerasfile: save %s: %w", path, err)
	}
	vars := m.Weights()
	if len(vars) != len(values) {
		return fmt.Errorf("kerasfile: save %s: the model has %d weights and gave %d values", path, len(vars), len(values))
	}
	s := &saver{w: h5.NewWriter(), values: map[*tfwrap.Variable]*tfwrap.Tensor{}}
	for i, v := range vars {
		s.values[v] = values[i]
	}
	if err := s.w.Group("vars"); err != nil {
		return fmt.Errorf("kerasfile: save %s: %w", path, err)
	}
	top, err := s.model(m, "")
	if err != nil {
		return fmt.Errorf("kerasfile: save %s: %w", path, err)
	}
	top["build_config"] = map[string]any{"input_shape": nil}
	top["compile_config"] = nil
	config, err := json.Marshal(top)
	if err != nil {
		return fmt.Errorf("kerasfile: save %s: %w", path, err)
	}
	meta, _ := json.Marshal(map[string]string{
		"keras_version": FormatVersion,
		"date_saved":    time.Now().Format("2006-01-02@15:04:05"),
	})
	weights, err := s.w.Bytes()
	if err != nil {
		return fmt.Errorf("kerasfile: save %s: %w", path, err)
	}
	return writeZip(path, []zipEntry{{"metadata.json", meta}, {"config.json", config}, {"model.weights.h5", weights}})
}

type zipEntry struct {
	name string
	data []byte
}

// writeZip writes the entries uncompressed, as Keras does, to a temporary
// file beside path, and renames it into place once it is complete. A
// symbolic link at path is written through; anything else there but a
// regular file (a device, a pipe, a folder) is refused. The file gets the
// mode of the one it replaces, or 0644.
func writeZip(path string, entries []zipEntry) (err error) {
	mode := os.FileMode(0o644)
	if fi, lerr := os.Lstat(path); lerr == nil {
		if fi.Mode()&os.ModeSymlink != 0 {
			if path, err = filepath.EvalSymlinks(path); err != nil {
				return fmt.Errorf("kerasfile: save: %w", err)
			}
			if fi, err = os.Stat(path); err != nil {
				return fmt.Errorf("kerasfile: save: %w", err)
			}
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("kerasfile: save %s: not a regular file (%v); give the path of a .keras file", path, fi.Mode().Type())
		}
		mode = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("kerasfile: save: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	z := zip.NewWriter(f)
	for _, e := range entries {
		w, err := z.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store, Modified: time.Now()})
		if err != nil {
			return fmt.Errorf("kerasfile: save %s: %w", path, err)
		}
		if _, err := w.Write(e.data); err != nil {
			return fmt.Errorf("kerasfile: save %s: %w", path, err)
		}
	}
	if err := z.Close(); err != nil {
		return fmt.Errorf("kerasfile: save %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("kerasfile: save %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("kerasfile: save %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("kerasfile: save %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("kerasfile: save %s: %w", path, err)
	}
	return nil
}

// saver turns models into Keras configs and their weights into HDF5.
type saver struct {
	w      *h5.Writer
	values map[*tfwrap.Variable]*tfwrap.Tensor
	depth  int
}

var float32Policy = map[string]any{"module": "keras", "class_name": "DTypePolicy",
	"config": map[string]any{"name": "float32"}, "registered_name": nil}

// batchShape is a per-sample shape with Keras's unknown batch axis.
func batchShape(s []int64) []any {
	out := []any{nil}
	for _, d := range s {
		out = append(out, d)
	}
	return out
}

// model returns m's Keras entry (module, class_name, config) and writes
// its layers' weights under store, the folder Keras's saving_lib gives
// it ("" for the top model).
func (s *saver) model(m *models.Model, store string) (map[string]any, error) {
	if s.depth++; s.depth > maxNesting {
		return nil, fmt.Errorf("models nested more than %d deep", maxNesting)
	}
	defer func() { s.depth-- }()
	t := m.Topology()
	names := storeNames{}
	cfg := map[string]any{"name": m.Name(), "trainable": true}
	var list []any
	used := map[string]string{}
	claim := func(name, what string) error {
		if prev, dup := used[name]; dup {
			return fmt.Errorf("model %s: %s and %s are both named %q; Keras needs every layer name once", m.Name(), prev, what, name)
		}
		used[name] = what
		return nil
	}
	input := func(in models.TopologyInput) map[string]any {
		return map[string]any{"module": "keras.layers", "class_name": "InputLayer", "registered_name": nil,
			"config": map[string]any{"batch_shape": batchShape(in.Shape), "dtype": "float32", "sparse": false,
				"ragged": false, "name": in.Name, "optional": false}}
	}
	for _, in := range t.Inputs {
		if err := claim(in.Name, "input "+in.Name); err != nil {
			return nil, err
		}
	}
	if t.Sequential {
		if len(t.Inputs) != 1 {
			return nil, fmt.Errorf("model %s: a Sequential model with %d inputs", m.Name(), len(t.Inputs))
		}
		list = append(list, input(t.Inputs[0]))
		for _, c := range t.Calls { // a chain: one call a layer, in order
			e, err := s.layer(c.Layer, store, names, claim)
			if err != nil {
				return nil, err
			}
			e["build_config"] = map[string]any{"input_shape": batchShape(shapeOf(t, c.Args[0]))}
			list = append(list, e)
		}
		cfg["layers"] = list
		cfg["dtype"] = float32Policy
		cfg["build_input_shape"] = batchShape(t.Inputs[0].Shape)
		return map[string]any{"module": "keras", "class_name": "Sequential", "config": cfg, "registered_name": nil}, nil
	}

	// Functional: the inputs, then each layer once, in the order of
	// Keras's model.layers (m.Layers() has it; Keras names the weights
	// folders in that order), with all of a layer's calls as its inbound
	// nodes.
	entries := map[string]map[string]any{}
	functional := map[string]bool{} // names of Functional models used as layers
	for _, c := range t.Calls {
		name := c.Layer.Name()
		if _, ok := entries[name]; !ok {
			entries[name] = map[string]any{"name": name, "inbound_nodes": []any{}}
		}
		args := make([]any, len(c.Args))
		for i, a := range c.Args {
			args[i] = map[string]any{"class_name": "__keras_tensor__", "config": map[string]any{
				"shape": batchShape(shapeOf(t, a)), "dtype": "float32",
				"keras_history": []any{a.Layer, a.Call, a.Index}}}
		}
		node := map[string]any{"args": args, "kwargs": map[string]any{}}
		if len(args) > 1 {
			node["args"] = []any{args} // Add()([a, b]) and model([a, b]) take one list
		}
		entries[name]["inbound_nodes"] = append(entries[name]["inbound_nodes"].([]any), node)
	}
	for _, in := range t.Inputs {
		e := input(in)
		e["name"], e["inbound_nodes"] = in.Name, []any{}
		if err := s.w.Group(join(store, "layers", names.next("InputLayer"), "vars")); err != nil {
			return nil, err
		}
		list = append(list, e)
	}
	for _, l := range m.Layers() { // in Keras's model.layers order
		name := l.Name()
		e, err := s.layer(l, store, names, claim)
		if err != nil {
			return nil, err
		}
		for k, v := range entries[name] {
			e[k] = v
		}
		if e["class_name"] == "Functional" {
			functional[name] = true
		}
		list = append(list, e)
	}
	// In input_layers and output_layers Keras counts a Functional model's
	// calls from 1: its first node is its own graph.
	endpoints := func(rs []models.TensorRef) any {
		out := make([]any, len(rs))
		for i, r := range rs {
			call := r.Call
			if functional[r.Layer] {
				call++
			}
			out[i] = []any{r.Layer, call, r.Index}
		}
		if len(out) == 1 {
			return out[0]
		}
		return out
	}
	ins := make([]models.TensorRef, len(t.Inputs))
	for i, in := range t.Inputs {
		ins[i] = models.TensorRef{Layer: in.Name}
	}
	cfg["layers"] = list
	cfg["input_layers"] = endpoints(ins)
	cfg["output_layers"] = endpoints(t.Outputs)
	return map[string]any{"module": "keras.src.models.functional", "class_name": "Functional", "config": cfg,
		"registered_name": "Functional"}, nil
}

// shapeOf is the per-sample shape of the tensor r names.
func shapeOf(t models.Topology, r models.TensorRef) []int64 {
	for _, in := range t.Inputs {
		if in.Name == r.Layer {
			return in.Shape
		}
	}
	seen := 0
	for _, c := range t.Calls {
		if c.Layer.Name() != r.Layer {
			continue
		}
		if seen == r.Call && r.Index < len(c.OutShapes) {
			return c.OutShapes[r.Index]
		}
		seen++
	}
	return nil
}

// layer returns l's Keras entry and writes its weights under
// store/layers/<its folder>.
func (s *saver) layer(l layers.Common, store string, names storeNames, claim func(name, what string) error) (map[string]any, error) {
	if err := claim(l.Name(), fmt.Sprintf("layer %s (%s)", l.Name(), l.Type())); err != nil {
		return nil, err
	}
	folder := join(store, "layers", names.next(l.Type()))
	// Keras writes a vars group for every layer and model, weights or
	// not; the reader looks for a nested model's folder.
	if err := s.w.Group(join(folder, "vars")); err != nil {
		return nil, err
	}
	if inner := models.InnerModel(l); inner != nil {
		return s.model(inner, folder)
	}
	class, cfg, err := kerasLayerConfig(l.Config())
	if err == nil {
		err = finite(cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("layer %s (%s): %w", l.Name(), l.Type(), err)
	}
	// The weights, split evenly over the layer's variable folders (a
	// Bidirectional layer's: the forward copy's, then the backward's).
	ws, folders := l.Weights(), varFolders(class)
	if len(ws)%len(folders) != 0 {
		return nil, fmt.Errorf("layer %s: %d weights for %d variable folders", l.Name(), len(ws), len(folders))
	}
	per := len(ws) / len(folders)
	for k, sub := range folders {
		if err := s.w.Group(join(folder, sub)); err != nil {
			return nil, err
		}
		for i, v := range ws[k*per : (k+1)*per] {
			t, ok := s.values[v]
			if !ok {
				return nil, fmt.Errorf("layer %s: weight %s is not among the model's weights", l.Name(), v.Name())
			}
			data, err := t.Float32s()
			if err != nil {
				return nil, fmt.Errorf("layer %s: weight %s: %w", l.Name(), v.Name(), err)
			}
			if err := s.w.Float32(join(folder, sub, fmt.Sprint(i)), t.Shape(), data); err != nil {
				return nil, fmt.Errorf("layer %s: %w", l.Name(), err)
			}
		}
	}
	return map[string]any{"module": "keras.layers", "class_name": class, "config": cfg, "registered_name": nil}, nil
}

func join(parts ...string) string {
	out := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		if out != "" {
			out += "/"
		}
		out += p
	}
	return out
}

// kerasLayerConfig writes a layer's Config as Keras's get_config does
// for the same layer: the arguments that differ from Keras's defaults,
// and those the Keras loader needs.
func kerasLayerConfig(c layers.Config) (string, map[string]any, error) {
	cfg := map[string]any{"name": c.Name, "trainable": !c.Frozen, "dtype": float32Policy}
	act := c.Activation
	if act == "" {
		act = "linear"
	}
	regularizer := func(r *layers.RegularizerConfig) any {
		switch {
		case r == nil:
			return nil
		case r.L1 != 0 && r.L2 != 0:
			return map[string]any{"module": "keras.regularizers", "class_name": "L1L2", "config": map[string]any{"l1": r.L1, "l2": r.L2}, "registered_name": nil}
		case r.L1 != 0:
			return map[string]any{"module": "keras.regularizers", "class_name": "L1", "config": map[string]any{"l1": r.L1}, "registered_name": nil}
		default:
			return map[string]any{"module": "keras.regularizers", "class_name": "L2", "config": map[string]any{"l2": r.L2}, "registered_name": nil}
		}
	}
	window := func() {
		if c.Strides != nil {
			cfg["strides"] = c.Strides
		}
		cfg["padding"] = orDefault(c.Padding, "valid")
		cfg["data_format"] = "channels_last"
	}
	var err error
	seed := func() {
		if c.Seed != nil {
			if *c.Seed > maxSeed {
				err = fmt.Errorf("seed %d: Keras and Read take seeds up to 2^53", *c.Seed)
			}
			cfg["seed"] = *c.Seed
		}
	}
	transform := func() {
		cfg["fill_mode"] = orDefault(c.FillMode, "reflect")
		cfg["fill_value"] = c.FillValue
		cfg["interpolation"] = orDefault(c.Interpolation, "bilinear")
		seed()
	}
	switch c.Type {
	case "Dense":
		cfg["units"], cfg["activation"], cfg["use_bias"] = c.Units, act, !c.NoBias
		cfg["kernel_regularizer"], cfg["bias_regularizer"] = regularizer(c.KernelRegularizer), regularizer(c.BiasRegularizer)
	case "Conv2D":
		cfg["filters"], cfg["kernel_size"], cfg["activation"], cfg["use_bias"] = c.Filters, c.Kernel, act, !c.NoBias
		cfg["kernel_regularizer"], cfg["bias_regularizer"] = regularizer(c.KernelRegularizer), regularizer(c.BiasRegularizer)
		window()
	case "DepthwiseConv2D", "SeparableConv2D":
		if c.KernelRegularizer != nil || c.BiasRegularizer != nil {
			return "", nil, fmt.Errorf("regularizers on a %s are not written", c.Type)
		}
		cfg["kernel_size"], cfg["activation"], cfg["use_bias"] = c.Kernel, act, !c.NoBias
		cfg["depth_multiplier"] = max(c.DepthMultiplier, 1)
		if c.Type == "SeparableConv2D" {
			cfg["filters"] = c.Filters
		}
		window()
	case "MaxPooling2D", "AveragePooling2D":
		cfg["pool_size"] = c.Size
		window()
	case "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalMaxPooling1D":
		cfg["data_format"], cfg["keepdims"] = "channels_last", false
	case "Flatten":
		cfg["data_format"] = "channels_last"
	case "Dropout":
		cfg["rate"] = c.Rate
		seed()
	case "BatchNormalization":
		cfg["axis"], cfg["momentum"], cfg["epsilon"] = -1, orDefaultF(c.Momentum, 0.99), orDefaultF(c.Epsilon, 1e-3)
		cfg["center"], cfg["scale"] = true, true
	case "ReLU":
		cfg["negative_slope"], cfg["threshold"] = c.NegativeSlope, 0.0
		if c.MaxValue > 0 {
			cfg["max_value"] = c.MaxValue
		}
	case "Activation":
		cfg["activation"] = act
	case "Reshape":
		cfg["target_shape"] = c.TargetShape
	case "Permute":
		cfg["dims"] = c.Dims
	case "ZeroPadding2D":
		cfg["padding"], cfg["data_format"] = c.PadWidths, "channels_last"
	case "Rescaling":
		cfg["scale"], cfg["offset"] = c.Scale, c.Offset
	case "LayerNormalization":
		cfg["axis"], cfg["epsilon"] = -1, orDefaultF(c.Epsilon, 1e-3)
		cfg["center"], cfg["scale"], cfg["rms_scaling"] = !c.NoCenter, !c.NoScale, false
	case "RandomFlip":
		cfg["mode"] = orDefault(c.Mode, "horizontal_and_vertical")
		seed()
	case "RandomTranslation":
		cfg["height_factor"], cfg["width_factor"] = c.HeightFactor, c.WidthFactor
		transform()
	case "RandomRotation":
		cfg["factor"] = c.Factor
		transform()
	case "RandomZoom":
		cfg["height_factor"] = c.HeightFactor
		if c.WidthFactor != nil {
			cfg["width_factor"] = c.WidthFactor
		}
		transform()
	case "Conv1D":
		if c.KernelRegularizer != nil || c.BiasRegularizer != nil {
			return "", nil, fmt.Errorf("regularizers on a Conv1D are not written")
		}
		cfg["filters"], cfg["kernel_size"], cfg["activation"], cfg["use_bias"] = c.Filters, c.Kernel, act, !c.NoBias
		cfg["strides"], cfg["padding"], cfg["data_format"] = c.Strides, orDefault(c.Padding, "valid"), "channels_last"
		cfg["dilation_rate"], cfg["groups"] = []int{1}, 1
	case "Embedding":
		cfg["input_dim"], cfg["output_dim"], cfg["mask_zero"] = c.InputDim, c.OutputDim, c.MaskZero
	case "LSTM", "GRU":
		recurrentConfig(cfg, c)
	case "Bidirectional":
		if c.Layer == nil || (c.Layer.Type != "LSTM" && c.Layer.Type != "GRU") {
			return "", nil, errors.New("a Bidirectional layer is written around an LSTM or GRU only")
		}
		inner := map[string]any{"name": "forward_" + c.Name, "trainable": !c.Frozen, "dtype": float32Policy}
		recurrentConfig(inner, *c.Layer)
		inner["zero_output_for_mask"] = c.Layer.ReturnSequences // as Keras's Bidirectional sets it
		cfg["merge_mode"] = "concat"
		cfg["layer"] = map[string]any{"module": "keras.layers", "class_name": c.Layer.Type, "config": inner, "registered_name": nil}
	case "Add", "Multiply":
	case "Concatenate":
		axis := -1
		if c.Axis != nil {
			axis = *c.Axis
		}
		cfg["axis"] = axis
	default:
		return "", nil, fmt.Errorf("layer type %s is not written to .keras files (%s are)", c.Type, writable)
	}
	if err != nil {
		return "", nil, err
	}
	return c.Type, cfg, nil
}

// finite checks that a config holds no NaN or infinite number, which
// JSON cannot hold.
func finite(v any) error {
	switch v := v.(type) {
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("an argument is %v, which a .keras file cannot hold", v)
		}
	case []float64:
		for _, f := range v {
			if err := finite(f); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range v {
			if err := finite(e); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
	}
	return nil
}

const writable = "Dense, Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D, MaxPooling2D, AveragePooling2D, the global poolings, " +
	"Flatten, Dropout, BatchNormalization, ReLU, Activation, Reshape, Permute, ZeroPadding2D, Rescaling, " +
	"LayerNormalization, RandomFlip, RandomTranslation, RandomRotation, RandomZoom, Embedding, LSTM, GRU, Bidirectional, " +
	"Add, Multiply, Concatenate"

// recurrentConfig writes an LSTM or GRU layer's arguments: the Go layers
// compute Keras's defaults.
func recurrentConfig(cfg map[string]any, c layers.Config) {
	cfg["units"], cfg["return_sequences"], cfg["return_state"] = c.Units, c.ReturnSequences, c.ReturnState
	cfg["activation"], cfg["recurrent_activation"], cfg["use_bias"] = "tanh", "sigmoid", true
	cfg["go_backwards"], cfg["stateful"], cfg["unroll"] = false, false, false
	cfg["dropout"], cfg["recurrent_dropout"] = 0.0, 0.0
	if c.Type == "GRU" {
		cfg["reset_after"] = true
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDefaultF(f, def float64) float64 {
	if f == 0 {
		return def
	}
	return f
}
