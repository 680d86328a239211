package tfwrap

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// Import adds the nodes of def, a serialized GraphDef (its function
// library included), to g under a fresh name scope made from name, with
// each tensor named in inputs ("node:index", as def names it) replaced by
// an output of g, and returns the imported tensors named in outputs. A
// node of def that inputs replaces may be left out of def. The imported
// ops are g's like any others: a Session runs them, and Export writes
// them, with their functions, into a SavedModel.
//
// A GraphDef that does not parse, names a tensor def lacks, or holds an
// op the loaded TensorFlow does not know is an error, and g keeps it.
func (g *Graph) Import(def []byte, name string, inputs map[string]Output, outputs ...string) ([]Output, error) {
	if g == nil || g.st == nil {
		return nil, fmt.Errorf("tfwrap: import: nil graph")
	}
	if err := g.syncErr(); err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) error {
		err := fmt.Errorf("tfwrap: "+format, args...)
		g.fail(err)
		return err
	}
	if name == "" || strings.ContainsAny(name, " :") {
		return nil, fail("Import: invalid name %q", name)
	}
	var opts tf.GraphImportOptions
	opts.Prefix = g.fullName(name)
	opts.Device = g.device
	keys := make([]string, 0, len(inputs))
	for k := range inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		node, idx, err := tensorName(k)
		if err != nil {
			return nil, fail("Import %s: input %w", name, err)
		}
		o := inputs[k]
		if !o.Valid() || o.st != g.st {
			return nil, fail("Import %s: input %q: the output is not of this graph", name, k)
		}
		opts.AddInputMapping(node, idx, o.out)
	}
	if err := g.st.g.ImportWithOptions(def, opts); err != nil {
		return nil, fail("Import %s: %v", name, err)
	}
	out := make([]Output, len(outputs))
	for i, k := range outputs {
		node, idx, err := tensorName(k)
		if err != nil {
			return nil, fail("Import %s: output %w", name, err)
		}
		op := g.st.g.Operation(opts.Prefix + "/" + node)
		if op == nil || idx >= op.NumOutputs() {
			return nil, fail("Import %s: the graph has no tensor %q", name, k)
		}
		out[i] = Output{st: g.st, out: op.Output(idx)}
	}
	return out, nil
}

// tensorName splits "node:index" (":0" when left out).
func tensorName(s string) (string, int, error) {
	node, idx, found := strings.Cut(s, ":")
	if !found {
		return s, 0, nil
	}
	i, err := strconv.Atoi(idx)
	if node == "" || err != nil || i < 0 {
		return "", 0, fmt.Errorf("%q is not a tensor name (node:index)", s)
	}
	return node, i, nil
}
