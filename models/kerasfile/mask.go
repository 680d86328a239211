package kerasfile

import (
	"encoding/json"
	"fmt"

	"github.com/tfgo-project/gotf/models/layers"
)

// Keras 3 writes a functional model's masks into its graph: an
// Embedding(mask_zero=True) called on ids x makes a NotEqual op node
// (not_equal(x, 0), module keras.src.ops.numpy, no weights), and each layer
// whose call takes a mask (LSTM, GRU, Bidirectional, GlobalAveragePooling1D)
// gets it as the call argument mask=. Go hands masks on by itself, as Keras
// does inside a Sequential, so the reader takes such a node and such an
// argument when they say what Go computes anyway: the mask is x != 0 for
// the ids x of the Embedding whose mask reaches the layer's input. Any other
// mask is an error naming it.

// maskNodes reads the model's NotEqual op nodes: each name to the ref of
// the tensor its mask is taken of.
func maskNodes(ls []entry) (map[string]ref, error) {
	out := map[string]ref{}
	for i, e := range ls {
		if e.Class != "NotEqual" {
			continue
		}
		bad := func(why string) error {
			return fmt.Errorf("layer %d (NotEqual %q): %s; a NotEqual op is read only as the mask of an Embedding(mask_zero=True), not_equal(ids, 0)", i, e.Name, why)
		}
		if len(e.Inbound) != 1 {
			return nil, bad(fmt.Sprintf("called %d times", len(e.Inbound)))
		}
		n := e.Inbound[0]
		if len(n.Args) != 2 || len(n.Kwargs) != 0 {
			return nil, bad("not called as not_equal(tensor, 0)")
		}
		if z, ok := n.Args[1].(float64); !ok || z != 0 {
			return nil, bad(fmt.Sprintf("compares with %s, not 0", jsonString(n.Args[1])))
		}
		rs, err := refs(n.Args[0])
		if err != nil || len(rs) != 1 {
			return nil, bad("its first argument is not one tensor")
		}
		out[e.Name] = rs[0]
	}
	return out, nil
}

// maskOrigin follows the mask of tensor r back through the layers that hand
// their input's mask on, as Go's layers do (layers.PassesMask, recurrent
// layers and Bidirectional returning sequences), to the Embedding with
// mask_zero that made it, and returns that Embedding's input: the ids the
// mask is taken of. ok is false when no such Embedding makes r's mask.
func maskOrigin(byName map[string]*entry, r ref) (ids ref, ok bool) {
	for range maxLayers {
		e := byName[r.layer]
		if e == nil || r.node >= len(e.Inbound) || r.tensor != 0 {
			return ref{}, false
		}
		args, err := refs(e.Inbound[r.node].Args)
		if err != nil || len(args) != 1 {
			return ref{}, false // merges (Add of masked inputs) are not followed
		}
		var c map[string]any
		if json.Unmarshal(e.Config, &c) != nil {
			return ref{}, false
		}
		switch {
		case e.Class == "Embedding":
			return args[0], c["mask_zero"] == true
		case e.Class == "LSTM" || e.Class == "GRU":
			if c["return_sequences"] != true {
				return ref{}, false
			}
		case e.Class == "Bidirectional":
			inner, _ := c["layer"].(map[string]any)
			ic, _ := inner["config"].(map[string]any)
			if ic["return_sequences"] != true {
				return ref{}, false
			}
		case !layers.PassesMask(e.Class):
			return ref{}, false
		}
		r = args[0]
	}
	return ref{}, false
}

// checkMaskArg accepts a call's mask= argument v when it is the mask Go
// hands the call anyway: a NotEqual node's output whose ids are the ids
// of the Embedding whose mask reaches the call's input in.
func checkMaskArg(v any, masks map[string]ref, byName map[string]*entry, in ref) error {
	rs, err := refs(v)
	if err != nil || len(rs) != 1 {
		return fmt.Errorf("call argument mask=%s is not supported (only the mask an Embedding(mask_zero=True) hands on)", jsonString(v))
	}
	ids, isMask := masks[rs[0].layer]
	if !isMask || rs[0].node != 0 || rs[0].tensor != 0 {
		return fmt.Errorf("call argument mask=%s is not supported: %q is not an Embedding's not_equal(ids, 0)", rs[0], rs[0].layer)
	}
	if got, ok := maskOrigin(byName, in); !ok || got != ids {
		return fmt.Errorf("call argument mask=%s is not supported: it is not_equal(%s, 0), not the mask the input %s carries from an Embedding(mask_zero=True)", rs[0], ids, in)
	}
	return nil
}
