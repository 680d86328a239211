package kerasfile

import (
	"encoding/json"
	"fmt"

	"github.com/tfgo-project/gotf/internal/h5"
	"github.com/tfgo-project/gotf/models"
)

// sequential builds a Keras Sequential model: its input from the
// InputLayer (or build_input_shape), then each layer called on the last
// one's output.
func (b *builder) sequential(mc modelConfig, lstore *h5.Group, where string) (*models.Model, error) {
	ls := mc.Layers
	if len(ls) > maxLayers {
		return nil, fmt.Errorf("%w: %s: %s has %d layers; at most %d are read", ErrFormat, b.path, where, len(ls), maxLayers)
	}
	var shape []int64
	inName := "inputs"
	var err error
	if len(ls) > 0 && ls[0].Class == "InputLayer" {
		if shape, err = inputShape(ls[0], where+", layer 0 (InputLayer)"); err != nil {
			return nil, err
		}
		if ls[0].Name != "" {
			inName = ls[0].Name
		}
		ls = ls[1:]
	} else if mc.BuildInput != nil {
		if shape, err = perSample(mc.BuildInput, where+": build_input_shape"); err != nil {
			return nil, err
		}
	} else {
		return nil, fmt.Errorf("%w: %s: %s has no InputLayer and no build_input_shape: build the model (keras.Input first) before saving it", ErrFormat, b.path, where)
	}
	in := models.Input(inName, shape...)
	x := in
	names := storeNames{}
	for i, e := range ls {
		if e.Class == "InputLayer" {
			return nil, fmt.Errorf("%w: %s: %s, layer %d: an InputLayer after the first layer", ErrFormat, b.path, where, i)
		}
		l, err := b.layer(e, i, len(x.Shape()), lstore, names.next(e.Class), where)
		if err != nil {
			return nil, err
		}
		if l.single != nil {
			x = models.Call(l.single, x)
		} else {
			outs, err := models.CallAll(l.multi, x)
			if err != nil {
				return nil, fmt.Errorf("kerasfile: %s: %s, layer %d (%s %q): %w", b.path, where, i, e.Class, e.Name, err)
			}
			if len(outs) != 1 {
				return nil, fmt.Errorf("kerasfile: %s: %s, layer %d (%s %q) gives %d outputs (return_state, or a model of several outputs); a Sequential model passes one on: save it as a functional model", b.path, where, i, e.Class, entryName(e), len(outs))
			}
			x = outs[0]
		}
		if err := x.Err(); err != nil {
			return nil, fmt.Errorf("kerasfile: %s: %s, layer %d (%s %q): %w", b.path, where, i, e.Class, e.Name, err)
		}
	}
	m, err := models.NewModel(mc.Name, []*models.Symbol{in}, []*models.Symbol{x})
	if err != nil {
		return nil, fmt.Errorf("kerasfile: %s: %s: %w", b.path, where, err)
	}
	return m, nil
}

// ref names a tensor as Keras's keras_history does: the layer, which of
// its calls, and which of that call's outputs.
type ref struct {
	layer        string
	node, tensor int
}

func (r ref) String() string { return fmt.Sprintf("%s[%d][%d]", r.layer, r.node, r.tensor) }

// refs collects the Keras tensors in a node's positional arguments, in
// order: one tensor, or a list of them (Add, Concatenate).
func refs(v any) ([]ref, error) {
	switch v := v.(type) {
	case []any:
		var out []ref
		for _, e := range v {
			r, err := refs(e)
			if err != nil {
				return nil, err
			}
			out = append(out, r...)
		}
		return out, nil
	case map[string]any:
		if v["class_name"] != "__keras_tensor__" {
			return nil, fmt.Errorf("argument %s is not a tensor", jsonString(v))
		}
		c, _ := v["config"].(map[string]any)
		h, _ := c["keras_history"].([]any)
		if len(h) != 3 {
			return nil, fmt.Errorf("tensor %s has no keras_history", jsonString(v))
		}
		name, _ := h[0].(string)
		n, ok1 := h[1].(float64)
		t, ok2 := h[2].(float64)
		if name == "" || !ok1 || !ok2 || n < 0 || t < 0 || n > 1<<20 || t > 1<<20 {
			return nil, fmt.Errorf("tensor %s has a bad keras_history", jsonString(v))
		}
		return []ref{{name, int(n), int(t)}}, nil
	}
	return nil, fmt.Errorf("argument %s is not supported (only tensors)", jsonString(v))
}

// endpoints reads a list of [layer, node, tensor].
func endpoints(raw json.RawMessage) ([]ref, error) {
	var many [][]any
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, err
	}
	if len(many) == 0 {
		return nil, fmt.Errorf("no endpoints")
	}
	out := make([]ref, 0, len(many))
	for _, e := range many {
		if len(e) != 3 {
			return nil, fmt.Errorf("endpoint %s: want [layer, node, tensor]", jsonString(e))
		}
		name, _ := e[0].(string)
		n, ok1 := e[1].(float64)
		t, ok2 := e[2].(float64)
		if name == "" || !ok1 || !ok2 {
			return nil, fmt.Errorf("endpoint %s: want [layer, node, tensor]", jsonString(e))
		}
		out = append(out, ref{name, int(n), int(t)})
	}
	return out, nil
}

// endpointList decodes [name, n, t] as one endpoint and [[…], …] as many.
func endpointList(raw json.RawMessage) ([]ref, error) {
	var first []json.RawMessage
	if err := json.Unmarshal(raw, &first); err != nil {
		return nil, err
	}
	if len(first) > 0 {
		var s string
		if json.Unmarshal(first[0], &s) == nil { // [name, n, t]
			return endpoints(json.RawMessage("[" + string(raw) + "]"))
		}
	}
	return endpoints(raw)
}

// functional builds a Keras functional model: inputs from its InputLayers,
// then every layer call (inbound node) once its inputs exist, in passes
// over the layer list as Keras's functional_from_config does.
func (b *builder) functional(mc modelConfig, lstore *h5.Group, where string) (*models.Model, error) {
	ins, err := endpointList(mc.InputLayers)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s: input_layers: %v", ErrFormat, b.path, where, err)
	}
	outs, err := endpointList(mc.OutputLayers)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s: output_layers: %v", ErrFormat, b.path, where, err)
	}
	if len(mc.Layers) > maxLayers {
		return nil, fmt.Errorf("%w: %s: %s has %d layers; at most %d are read", ErrFormat, b.path, where, len(mc.Layers), maxLayers)
	}
	masks, err := maskNodes(mc.Layers)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s, %v", ErrFormat, b.path, where, err)
	}
	byName := make(map[string]*entry, len(mc.Layers))
	for i := range mc.Layers {
		byName[mc.Layers[i].Name] = &mc.Layers[i]
	}
	syms := map[ref]*models.Symbol{}
	names := storeNames{}
	type pending struct {
		e     entry
		i     int
		store string // its weights folder
		next  int    // the next inbound node to call
		l     *built
	}
	var todo []*pending
	for i, e := range mc.Layers {
		if e.Name == "" {
			return nil, fmt.Errorf("%w: %s: %s, layer %d (%s) has no name", ErrFormat, b.path, where, i, e.Class)
		}
		if e.Class == "InputLayer" {
			names.next(e.Class)
			shape, err := inputShape(e, fmt.Sprintf("%s, layer %d (InputLayer %q)", where, i, e.Name))
			if err != nil {
				return nil, err
			}
			s := models.Input(e.Name, shape...)
			if err := s.Err(); err != nil {
				return nil, fmt.Errorf("kerasfile: %s: %s, layer %d: %w", b.path, where, i, err)
			}
			syms[ref{e.Name, 0, 0}] = s
			continue
		}
		if _, isMask := masks[e.Name]; isMask {
			continue // an op node, not a layer: no weights folder
		}
		// Keras names each layer's weights folder in file order.
		todo = append(todo, &pending{e: e, i: i, store: names.next(e.Class)})
	}
	for progress := true; progress; {
		progress = false
		for _, p := range todo {
			for p.next < len(p.e.Inbound) {
				at := func() string { return fmt.Sprintf("%s, layer %d (%s %q)", where, p.i, p.e.Class, p.e.Name) }
				node := p.e.Inbound[p.next]
				rs, err := refs(node.Args)
				if err != nil {
					return nil, fmt.Errorf("%w: %s: %s: %v", ErrFormat, b.path, at(), err)
				}
				if len(rs) == 0 {
					return nil, fmt.Errorf("%w: %s: %s: a call with no input tensors", ErrFormat, b.path, at())
				}
				for _, r := range rs {
					if _, isMask := masks[r.layer]; isMask {
						return nil, fmt.Errorf("kerasfile: %s: %s: takes the mask %s as an input; a NotEqual op is read only as an Embedding's mask, passed as mask=", b.path, at(), r)
					}
				}
				for k, v := range node.Kwargs {
					// Keras records training=False on some calls; fit and
					// predict override it (functional.py's operation_fn),
					// and so does Go.
					if _, isBool := v.(bool); k == "training" && isBool {
						continue
					}
					if k == "mask" && v != nil {
						if err := checkMaskArg(v, masks, byName, rs[0]); err != nil {
							return nil, fmt.Errorf("kerasfile: %s: %s: %w", b.path, at(), err)
						}
						continue // Go hands the same mask on
					}
					if v != nil {
						return nil, fmt.Errorf("kerasfile: %s: %s: call argument %s=%s is not supported", b.path, at(), k, jsonString(v))
					}
				}
				xs := make([]*models.Symbol, len(rs))
				ready := true
				for j, r := range rs {
					if xs[j] = syms[r]; xs[j] == nil {
						ready = false
						break
					}
				}
				if !ready {
					break
				}
				if p.l == nil {
					l, err := b.layer(p.e, p.i, len(xs[0].Shape()), lstore, p.store, where)
					if err != nil {
						return nil, err
					}
					p.l = &l
				}
				var out []*models.Symbol
				switch {
				case p.l.single != nil && len(xs) == 1:
					out = []*models.Symbol{models.Call(p.l.single, xs[0])}
				case p.l.single != nil:
					return nil, fmt.Errorf("kerasfile: %s: %s: called on %d tensors; it takes one", b.path, at(), len(xs))
				default:
					out, err = models.CallAll(p.l.multi, xs...)
					if err != nil {
						return nil, fmt.Errorf("kerasfile: %s: %s: %w", b.path, at(), err)
					}
				}
				for t, s := range out {
					if err := s.Err(); err != nil {
						return nil, fmt.Errorf("kerasfile: %s: %s: %w", b.path, at(), err)
					}
					syms[ref{p.e.Name, p.next, t}] = s
				}
				p.next++
				progress = true
			}
		}
	}
	for _, p := range todo {
		if p.next < len(p.e.Inbound) {
			return nil, fmt.Errorf("%w: %s: %s, layer %d (%s %q): call %d waits for a tensor no layer makes", ErrFormat, b.path, where, p.i, p.e.Class, p.e.Name, p.next)
		}
		if p.l == nil { // never called: still give it its weights folder
			if _, err := b.layer(p.e, p.i, 0, lstore, p.store, where); err != nil {
				return nil, err
			}
		}
	}
	functional := map[string]bool{}
	for _, e := range mc.Layers {
		functional[e.Name] = e.Class == "Functional"
	}
	pick := func(what string, rs []ref) ([]*models.Symbol, error) {
		out := make([]*models.Symbol, len(rs))
		for i, r := range rs {
			if functional[r.layer] {
				// Keras counts a Functional model's calls from 1 here
				// (its node 0 is its own graph), from 0 in inbound nodes.
				r.node--
			}
			if out[i] = syms[r]; out[i] == nil {
				return nil, fmt.Errorf("%w: %s: %s: %s %s is made by no layer", ErrFormat, b.path, where, what, r)
			}
		}
		return out, nil
	}
	inSyms, err := pick("input", ins)
	if err != nil {
		return nil, err
	}
	outSyms, err := pick("output", outs)
	if err != nil {
		return nil, err
	}
	m, err := models.NewModel(mc.Name, inSyms, outSyms)
	if err != nil {
		return nil, fmt.Errorf("kerasfile: %s: %s: %w", b.path, where, err)
	}
	return m, nil
}
