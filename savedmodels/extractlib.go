package savedmodels

import (
	"fmt"
	"hash/crc32"
	"strings"

	attrpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	graphpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/graph_go_proto"
	nodepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	"google.golang.org/protobuf/proto"
)

// funcRefs calls fn for every function an attr value names (a func attr,
// a list of them, and the ones inside their own attrs).
func funcRefs(a *attrpb.AttrValue, fn func(*attrpb.NameAttrList)) {
	if a == nil {
		return
	}
	visit := func(f *attrpb.NameAttrList) {
		fn(f)
		for _, v := range f.GetAttr() {
			funcRefs(v, fn)
		}
	}
	if f := a.GetFunc(); f != nil {
		visit(f)
	}
	for _, f := range a.GetList().GetFunc() {
		visit(f)
	}
}

// nodeFuncs calls fn with the name of every library function node n calls:
// by a func attr, or as its op.
func nodeFuncs(n *nodepb.NodeDef, lib map[string]bool, fn func(string)) {
	if lib[n.Op] {
		fn(n.Op)
	}
	for _, a := range n.Attr {
		funcRefs(a, func(f *attrpb.NameAttrList) { fn(f.Name) })
	}
}

// refusedOp says why a signature that runs op cannot be a frozen layer:
// it writes state (a variable it would move, though the layer is frozen)
// or needs state that an init op sets and the import does not run (a
// lookup table). "" when op is fine.
func refusedOp(op string) string {
	switch {
	case op == "AssignVariableOp" || op == "AssignAddVariableOp" || op == "AssignSubVariableOp" ||
		strings.HasPrefix(op, "ResourceApply") || strings.HasPrefix(op, "ResourceSparseApply") || strings.HasPrefix(op, "ResourceScatter"):
		return "writes a variable, which a frozen layer must not"
	case strings.Contains(op, "HashTable") || strings.Contains(op, "LookupTable") || strings.Contains(op, "InitializeTable"):
		return "uses a lookup table, which the SavedModel's init op fills and the import does not run"
	}
	return ""
}

// checkReachable refuses a signature whose kept nodes, or the functions
// they call (transitively), run a refused op.
func checkReachable(kept []*nodepb.NodeDef, def *graphpb.GraphDef) error {
	lib := map[string]bool{}
	bodies := map[string][]*nodepb.NodeDef{}
	for _, f := range def.GetLibrary().GetFunction() {
		lib[f.GetSignature().GetName()] = true
		bodies[f.GetSignature().GetName()] = f.NodeDef
	}
	seen := map[string]bool{}
	var todo []string
	push := func(name string) {
		if !seen[name] {
			seen[name] = true
			todo = append(todo, name)
		}
	}
	check := func(where string, n *nodepb.NodeDef) error {
		if why := refusedOp(n.Op); why != "" {
			return fmt.Errorf("node %q (%s)%s %s", n.Name, n.Op, where, why)
		}
		nodeFuncs(n, lib, push)
		return nil
	}
	for _, n := range kept {
		if err := check("", n); err != nil {
			return err
		}
	}
	for len(todo) > 0 {
		f := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for _, n := range bodies[f] {
			if err := check(" in function "+f, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// renameLibrary gives every function of out's library a suffix made from
// the library's content, and renames the references to them: TensorFlow
// numbers a process's functions from the same counter each time, so two
// SavedModels exported by separate processes can hold different functions
// of one name, which one graph cannot import both of. The same SavedModel
// imported twice keeps identical names for identical functions.
func renameLibrary(out *graphpb.GraphDef) error {
	lib := out.GetLibrary()
	if lib == nil || len(lib.Function) == 0 {
		return nil
	}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(lib)
	if err != nil {
		return err
	}
	suffix := fmt.Sprintf("_gotf%08x", crc32.ChecksumIEEE(raw))
	names := map[string]bool{}
	for _, f := range lib.Function {
		names[f.GetSignature().GetName()] = true
	}
	rename := func(n *nodepb.NodeDef) {
		if names[n.Op] {
			n.Op += suffix
		}
		for _, a := range n.Attr {
			funcRefs(a, func(f *attrpb.NameAttrList) {
				if names[f.Name] {
					f.Name += suffix
				}
			})
		}
	}
	for _, n := range out.Node {
		rename(n)
	}
	for _, f := range lib.Function {
		f.Signature.Name += suffix
		for _, n := range f.NodeDef {
			rename(n)
		}
		for _, a := range f.Attr {
			funcRefs(a, func(nf *attrpb.NameAttrList) {
				if names[nf.Name] {
					nf.Name += suffix
				}
			})
		}
	}
	for _, g := range lib.Gradient {
		if names[g.FunctionName] {
			g.FunctionName += suffix
		}
		if names[g.GradientFunc] {
			g.GradientFunc += suffix
		}
	}
	return nil
}
