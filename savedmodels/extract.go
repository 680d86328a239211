package savedmodels

import (
	"bytes"
	"fmt"
	"strings"

	graphpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/graph_go_proto"
	nodepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/dtype"
)

// Call is one signature of a SavedModel taken out of it, to be built into
// another graph (tfwrap.Graph.Import): the ops that compute the output
// from the input, with the functions they call, and the values of the
// resource variables they read. The importer gives the input and every
// variable a tensor of its own graph (VarNode names each in GraphDef), so
// the variables become the importing model's: initialized from Values,
// saved with its checkpoints and exported with it. This is how a
// pretrained SavedModel becomes a frozen backbone inside a Go model that
// exports as one SavedModel (models/transfer).
type Call struct {
	GraphDef []byte     // the ops, pruned to what the output needs, and the library
	Input    TensorInfo // the signature's input, named as in GraphDef
	Output   TensorInfo // the chosen output, named as in GraphDef
	Vars     []CallVar  // the variables the ops read, in GraphDef's order
}

// CallVar is one variable a Call reads: its VarHandleOp node in GraphDef
// and its value in the SavedModel.
type CallVar struct {
	Node  string
	Value *tfwrap.Tensor
}

// ExtractCall reads the signature key (DefaultSignature when empty) of the
// SavedModel in dir, with the tag "serve", as a Call from its one input to
// its output named output (the only one when empty). A signature that
// needs another feed, or reads TF1 reference variables (VariableV2),
// cannot be taken out and is an error naming the node.
func ExtractCall(dir, key, output string) (*Call, error) {
	if key == "" {
		key = DefaultSignature
	}
	l, err := load(dir, nil)
	if err != nil {
		return nil, err
	}
	defer l.sess.Close()
	sig, ok := l.sigs[key]
	if !ok {
		return nil, fmt.Errorf("savedmodels: %s has no signature %q", dir, key)
	}
	if len(sig.Inputs) != 1 {
		return nil, fmt.Errorf("savedmodels: %s, signature %q takes %d inputs; a call takes one", dir, key, len(sig.Inputs))
	}
	c := &Call{Input: sig.Inputs[0]}
	for _, o := range sig.Outputs {
		if o.Name == output || (output == "" && len(sig.Outputs) == 1) {
			c.Output = o
		}
	}
	if c.Output.Tensor == "" {
		names := make([]string, len(sig.Outputs))
		for i, o := range sig.Outputs {
			names[i] = o.Name
		}
		return nil, fmt.Errorf("savedmodels: %s, signature %q: choose its output, one of %v (asked for %q)", dir, key, names, output)
	}
	var buf bytes.Buffer
	if _, err := l.g.TF().WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("savedmodels: %s: graph: %w", dir, err)
	}
	var def graphpb.GraphDef
	if err := proto.Unmarshal(buf.Bytes(), &def); err != nil {
		return nil, fmt.Errorf("savedmodels: %s: graph: %w", dir, err)
	}
	nodes := make(map[string]*nodepb.NodeDef, len(def.Node))
	for _, n := range def.Node {
		nodes[n.Name] = n
	}
	inNode := nodeOf(c.Input.Tensor)
	keep := map[string]bool{}
	var vars []*nodepb.NodeDef
	todo := []string{nodeOf(c.Output.Tensor)}
	for len(todo) > 0 {
		name := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if keep[name] || name == inNode {
			continue
		}
		n := nodes[name]
		if n == nil {
			return nil, fmt.Errorf("savedmodels: %s, signature %q: the graph has no node %q", dir, key, name)
		}
		keep[name] = true
		switch n.Op {
		case "VarHandleOp":
			vars = append(vars, n)
			continue
		case "Placeholder":
			return nil, fmt.Errorf("savedmodels: %s, signature %q: node %q needs a feed besides the input %q", dir, key, name, c.Input.Name)
		case "VariableV2", "Variable", "TemporaryVariable":
			return nil, fmt.Errorf("savedmodels: %s, signature %q: node %q is a TF1 reference variable, which cannot be taken out (export the model with TF2 resource variables)", dir, key, name)
		}
		for _, in := range n.Input {
			todo = append(todo, nodeOf(in))
		}
	}
	var kept []*nodepb.NodeDef
	for _, n := range def.Node {
		if keep[n.Name] && n.Op != "VarHandleOp" {
			kept = append(kept, n)
		}
	}
	if err := checkReachable(kept, &def); err != nil {
		return nil, fmt.Errorf("savedmodels: %s, signature %q: %w", dir, key, err)
	}
	// The variables' values, read in the loaded session.
	reads := make([]tfwrap.Output, len(vars))
	for i, v := range vars {
		dt, ok := dtype.FromProto(typespb.DataType(v.Attr["dtype"].GetType()))
		if !ok {
			return nil, fmt.Errorf("savedmodels: %s: variable %q has dtype %v, which Go does not hold", dir, v.Name, v.Attr["dtype"].GetType())
		}
		op := l.g.TF().Operation(v.Name)
		if op == nil {
			return nil, fmt.Errorf("savedmodels: %s: variable %q not in the graph", dir, v.Name)
		}
		reads[i] = l.g.Apply("ReadVariableOp", tfwrap.Attrs{"dtype": dt}, l.g.FromTF(op.Output(0)))
	}
	if err := l.g.Err(); err != nil {
		return nil, fmt.Errorf("savedmodels: %s: %w", dir, err)
	}
	var values []*tfwrap.Tensor
	if len(reads) > 0 { // a Run with nothing to fetch is TensorFlow's error
		if values, err = l.sess.Run(nil, reads); err != nil {
			return nil, fmt.Errorf("savedmodels: %s: reading the variables: %w", dir, err)
		}
	}
	out := graphpb.GraphDef{Versions: def.Versions, Library: def.Library}
	for _, n := range kept {
		n = proto.Clone(n).(*nodepb.NodeDef)
		delete(n.Attr, "_class") // colocation with nodes left out
		n.Device = ""
		out.Node = append(out.Node, n)
	}
	if err := renameLibrary(&out); err != nil {
		return nil, err
	}
	if c.GraphDef, err = proto.Marshal(&out); err != nil {
		return nil, err
	}
	for i, v := range vars {
		c.Vars = append(c.Vars, CallVar{Node: v.Name, Value: values[i]})
	}
	return c, nil
}

// nodeOf is the node of an input or tensor name: "^n", "n:1" and "n" are n.
func nodeOf(s string) string {
	s = strings.TrimPrefix(s, "^")
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	return s
}
