package tfwrap

/*
#cgo LDFLAGS: -ltensorflow
#include <stdlib.h>
#include "tensorflow/c/c_api.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	attrpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	opdefpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/op_def_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/internal/suggest"
)

// Input is one input argument of an op: an Output, or an OutputList for an
// argument that takes a list (Concat's values, AddN's inputs).
type Input interface{ isInput() }

func (Output) isInput() {}

// OutputList is a list-valued input: several tensors for one argument.
type OutputList []Output

func (OutputList) isInput() {}

// Attrs maps attr names to values. The Go type a value may have follows the
// attr's kind in the op's registered definition:
//
//	string       string or []byte
//	int          any Go integer type
//	float        float32, float64, or an integer
//	bool         bool
//	type         DType, tf.DataType or types_go_proto.DataType
//	shape        []int64 or []int (-1 for an unknown dimension), or
//	             tf.Shape (UnknownRank for a shape of unknown rank)
//	tensor       *Tensor or *tf.Tensor
//	func         Func (a function's name, with attrs) or a string
//	list(kind)   a slice of the kind's type ([]int64, []DType, [][]int64…)
//
// An attr of the wrong kind is an error naming the op and the attr.
type Attrs map[string]any

// Func names a function of the graph's library, as a func attr's value.
type Func struct {
	Name  string
	Attrs Attrs
}

// UnknownRank is the value of a shape attr whose rank is not known.
var UnknownRank = tf.Shape{}

// OpSpec describes one op for AddOp.
type OpSpec struct {
	// Type is a registered op type: "Transpose", "ConcatV2", "Einsum".
	Type string
	// Name is the op's name, below the view's scope; "" uses Type. A
	// name already taken gets a _N suffix.
	Name string
	// Inputs holds one Input per input argument of the op's definition,
	// in order.
	Inputs []Input
	// Attrs the op's definition does not infer from its inputs.
	Attrs Attrs
	// ControlInputs run before the op (besides the view's After ops).
	ControlInputs []*Op
	// Device overrides the view's device when set.
	Device string
}

// AddOp adds an op of any type registered in the loaded libtensorflow and
// returns it; its results are Op.Output(i). Before TensorFlow sees the op,
// the spec is checked against the op's registered definition: an unknown
// type, a missing or unknown attr, an attr of the wrong kind or outside its
// allowed values, the wrong number of inputs, a list where one tensor is
// due (or the reverse), and inputs whose dtypes disagree are errors naming
// the op and the argument. TensorFlow's shape inference then runs; its
// errors come back the same way. On error AddOp records it (see Err) and
// returns nil; Output on a nil *Op gives an invalid Output.
func (g *Graph) AddOp(spec OpSpec) *Op {
	if g == nil || g.st == nil {
		return nil
	}
	if g.syncErr() != nil {
		return nil
	}
	op, err := g.addOp(spec)
	if err != nil {
		g.fail(err)
		return nil
	}
	return op
}

// Apply adds an op of type typ with exactly one output and returns that
// output: g.Apply("Transpose", nil, x, perm). It is AddOp for the common case.
func (g *Graph) Apply(typ string, attrs Attrs, inputs ...Input) Output {
	op := g.AddOp(OpSpec{Type: typ, Inputs: inputs, Attrs: attrs})
	if op == nil {
		return Output{}
	}
	if n := op.NumOutputs(); n != 1 {
		g.failf("Apply: %s has %d outputs; use AddOp and Op.Output", typ, n)
		return Output{}
	}
	return op.Output(0)
}

// Outputs returns every output of the op.
func (o *Op) Outputs() []Output {
	out := make([]Output, o.NumOutputs())
	for i := range out {
		out[i] = o.Output(i)
	}
	return out
}

// opCheck is one op under construction: the spec, its definition, and the
// attrs inferred so far.
type opCheck struct {
	spec     OpSpec
	def      *opdefpb.OpDef
	inferred map[string]any // attr name -> tf.DataType, int64 or []tf.DataType
	from     map[string]string
	tensors  map[string]any // tensor attrs (*Tensor or *tf.Tensor), set without a proto
}

func (c *opCheck) errf(format string, args ...any) error {
	return fmt.Errorf("tfwrap: %s: "+format, append([]any{c.spec.Type}, args...)...)
}

// crashesTF are op types whose shape functions end the process (a
// segfault or CHECK failure inside TF_FinishOperation) on malformed inputs,
// found by TestAddOpRandomSpecs over ~1.4 million random specs: TPU and XLA
// internals and the Estimator-era boosted trees. AddOp refuses them, since
// nothing can catch the crash.
var crashesTF = map[string]bool{
	"InfeedDequeueTuple":      true,
	"XlaCallModule":           true,
	"XlaSparseGradientsStack": true,
}

func (g *Graph) addOp(spec OpSpec) (*Op, error) {
	if crashesTF[spec.Type] || strings.HasPrefix(spec.Type, "BoostedTrees") {
		return nil, fmt.Errorf("tfwrap: %s: not built by AddOp: TensorFlow's shape function for it ends the process on malformed inputs", spec.Type)
	}
	def, err := LookupOpDef(spec.Type)
	if err != nil {
		return nil, err
	}
	c := &opCheck{spec: spec, def: def, inferred: map[string]any{}, from: map[string]string{}, tensors: map[string]any{}}
	if len(spec.Inputs) != len(def.InputArg) {
		return nil, c.errf("takes %d inputs (%s), got %d", len(def.InputArg), argNames(def.InputArg), len(spec.Inputs))
	}
	ins := make([][]tf.Output, len(spec.Inputs))
	for i, arg := range def.InputArg {
		if ins[i], err = g.checkInput(c, arg, spec.Inputs[i]); err != nil {
			return nil, err
		}
	}
	attrs, err := c.checkAttrs()
	if err != nil {
		return nil, err
	}
	var deps []*tf.Operation
	deps = append(deps, g.deps...)
	for i, o := range spec.ControlInputs {
		if o == nil || o.op == nil || o.st != g.st {
			return nil, c.errf("control input %d is nil or from another graph", i)
		}
		deps = append(deps, o.op)
	}
	name := spec.Name
	if name == "" {
		name = spec.Type
	}
	if strings.ContainsAny(name, " :") {
		return nil, c.errf("invalid op name %q", name)
	}
	dev := g.device
	if spec.Device != "" {
		dev = spec.Device
	}
	return g.finishOp(c, g.fullName(name), ins, attrs, deps, dev)
}

func argNames(args []*opdefpb.OpDef_ArgDef) string {
	if len(args) == 0 {
		return "none"
	}
	n := make([]string, len(args))
	for i, a := range args {
		n[i] = a.Name
	}
	return strings.Join(n, ", ")
}

// checkInput checks one input argument and returns its tensors.
func (g *Graph) checkInput(c *opCheck, arg *opdefpb.OpDef_ArgDef, in Input) ([]tf.Output, error) {
	isList := arg.NumberAttr != "" || arg.TypeListAttr != ""
	var outs []Output
	switch v := in.(type) {
	case nil:
		return nil, c.errf("input %q is nil", arg.Name)
	case Output:
		if isList {
			return nil, c.errf("input %q takes a list of tensors; pass an OutputList", arg.Name)
		}
		outs = []Output{v}
	case OutputList:
		if !isList {
			return nil, c.errf("input %q takes one tensor, got an OutputList", arg.Name)
		}
		outs = v
	default:
		return nil, c.errf("input %q has unsupported type %T", arg.Name, in)
	}
	tfs := make([]tf.Output, len(outs))
	for i, o := range outs {
		if o.st == nil || o.out.Op == nil {
			return nil, c.errf("input %q: element %d is not a valid Output (zero value or from a failed builder call)", arg.Name, i)
		}
		if o.st != g.st {
			return nil, c.errf("input %q (%s) belongs to another graph", arg.Name, o.Name())
		}
		tfs[i] = o.out
	}
	switch {
	case arg.NumberAttr != "":
		if err := c.infer(arg.NumberAttr, int64(len(tfs)), arg.Name); err != nil {
			return nil, err
		}
		for i, o := range tfs {
			if err := c.inputType(arg, fmt.Sprintf("%s[%d]", arg.Name, i), o.DataType()); err != nil {
				return nil, err
			}
		}
	case arg.TypeListAttr != "":
		types := make([]tf.DataType, len(tfs))
		for i, o := range tfs {
			types[i] = o.DataType()
		}
		if err := c.infer(arg.TypeListAttr, types, arg.Name); err != nil {
			return nil, err
		}
	default:
		if err := c.inputType(arg, arg.Name, tfs[0].DataType()); err != nil {
			return nil, err
		}
	}
	return tfs, nil
}

// inputType checks one tensor's dtype against its argument's fixed type or
// type attr.
func (c *opCheck) inputType(arg *opdefpb.OpDef_ArgDef, what string, dt tf.DataType) error {
	if arg.Type != typespb.DataType_DT_INVALID {
		if base(dt) != arg.Type {
			return c.errf("input %s is %s; it must be %s", what, dtName(dt), dtName(tf.DataType(arg.Type)))
		}
		return nil
	}
	if arg.TypeAttr != "" {
		return c.infer(arg.TypeAttr, base(dt), what)
	}
	return nil
}

// base strips the reference bit of a ref dtype.
func base(dt tf.DataType) typespb.DataType {
	if dt > 100 {
		dt -= 100
	}
	return typespb.DataType(dt)
}

func dtName(dt tf.DataType) string {
	if d, err := fromTF(dt); err == nil {
		return d.String()
	}
	return strings.ToLower(strings.TrimPrefix(typespb.DataType(dt).String(), "DT_"))
}

// infer records the value an input implies for attr, checking it against
// an earlier input's and against the attr's allowed values.
func (c *opCheck) infer(attr string, v any, what string) error {
	if t, ok := v.(typespb.DataType); ok {
		v = tf.DataType(t)
	}
	if prev, ok := c.inferred[attr]; ok {
		if fmt.Sprint(prev) != fmt.Sprint(v) {
			return c.errf("input %s makes %s=%s, but input %s made it %s", what, attr, attrString(v), c.from[attr], attrString(prev))
		}
		return nil
	}
	c.inferred[attr] = v
	c.from[attr] = what
	ad := c.attrDef(attr)
	if ad == nil {
		return nil
	}
	if err := c.allowed(ad, v); err != nil {
		return fmt.Errorf("%w (from input %s)", err, what)
	}
	return nil
}

func attrString(v any) string {
	switch x := v.(type) {
	case tf.DataType:
		return dtName(x)
	case []tf.DataType:
		n := make([]string, len(x))
		for i, d := range x {
			n[i] = dtName(d)
		}
		return "[" + strings.Join(n, " ") + "]"
	}
	return fmt.Sprint(v)
}

func (c *opCheck) attrDef(name string) *opdefpb.OpDef_AttrDef {
	for _, a := range c.def.Attr {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// allowed checks v against the attr's minimum and allowed values.
func (c *opCheck) allowed(ad *opdefpb.OpDef_AttrDef, v any) error {
	if ad.HasMinimum {
		n := int64(-1)
		switch x := v.(type) {
		case int64:
			n = x
		case []tf.DataType:
			n = int64(len(x))
		}
		if n >= 0 && n < ad.Minimum {
			return c.errf("attr %s is %d; the minimum is %d", ad.Name, n, ad.Minimum)
		}
	}
	if ad.AllowedValues == nil || ad.AllowedValues.GetList() == nil {
		return nil
	}
	list := ad.AllowedValues.GetList()
	var check []tf.DataType
	switch x := v.(type) {
	case tf.DataType:
		check = []tf.DataType{x}
	case []tf.DataType:
		check = x
	case string:
		for _, s := range list.S {
			if string(s) == x {
				return nil
			}
		}
		return c.errf("attr %s is %q; it must be one of %q", ad.Name, x, list.S)
	}
	for _, dt := range check {
		ok := false
		for _, a := range list.Type {
			if typespb.DataType(dt) == a {
				ok = true
				break
			}
		}
		if !ok {
			names := make([]string, len(list.Type))
			for i, a := range list.Type {
				names[i] = dtName(tf.DataType(a))
			}
			return c.errf("attr %s is %s; it must be one of %s", ad.Name, dtName(dt), strings.Join(names, ", "))
		}
	}
	return nil
}

// checkAttrs converts the given attrs by their registered kinds and checks
// that every attr without a default is given or inferred.
func (c *opCheck) checkAttrs() (map[string]*attrpb.AttrValue, error) {
	out := map[string]*attrpb.AttrValue{}
	for name, v := range c.spec.Attrs {
		ad := c.attrDef(name)
		if ad == nil {
			names := make([]string, len(c.def.Attr))
			for i, a := range c.def.Attr {
				names[i] = a.Name
			}
			if near := suggest.Closest(name, names); near != "" {
				return nil, c.errf("no attr %q; did you mean %q?", name, near)
			}
			if len(names) == 0 {
				return nil, c.errf("no attr %q; the op takes no attrs", name)
			}
			return nil, c.errf("no attr %q; its attrs are %s", name, strings.Join(names, ", "))
		}
		if ad.Type == "tensor" && isTensor(v) {
			c.tensors[name] = v
			continue
		}
		av, plain, err := toAttrValue(ad.Type, v)
		if err != nil {
			return nil, c.errf("attr %s (%s): %v", name, ad.Type, err)
		}
		if prev, ok := c.inferred[name]; ok && plain != nil && fmt.Sprint(prev) != fmt.Sprint(plain) {
			return nil, c.errf("attr %s is %s, but input %s makes it %s", name, attrString(plain), c.from[name], attrString(prev))
		}
		if plain != nil {
			if err := c.allowed(ad, plain); err != nil {
				return nil, err
			}
		}
		out[name] = av
	}
	for _, ad := range c.def.Attr {
		if _, given := out[ad.Name]; given {
			continue
		}
		if _, given := c.tensors[ad.Name]; given {
			continue
		}
		if _, inf := c.inferred[ad.Name]; inf || ad.DefaultValue != nil {
			continue
		}
		return nil, c.errf("attr %s (%s) is required", ad.Name, ad.Type)
	}
	return out, nil
}

// finishOp creates the op through the C API: the inputs, the attrs as
// AttrValue protos, control inputs and device.
func (g *Graph) finishOp(c *opCheck, name string, ins [][]tf.Output, attrs map[string]*attrpb.AttrValue, deps []*tf.Operation, dev string) (*Op, error) {
	graph := (*C.TF_Graph)(firstPtr(g.st.g))
	ctype, cname := C.CString(c.spec.Type), C.CString(name)
	defer C.free(unsafe.Pointer(ctype))
	defer C.free(unsafe.Pointer(cname))
	desc := C.TF_NewOperation(graph, ctype, cname)
	for i, arg := range c.def.InputArg {
		if arg.NumberAttr == "" && arg.TypeListAttr == "" {
			C.TF_AddInput(desc, cOutput(ins[i][0]))
			continue
		}
		n := len(ins[i])
		list := (*C.TF_Output)(C.malloc(C.size_t(max(n, 1)) * C.size_t(unsafe.Sizeof(C.TF_Output{}))))
		elems := unsafe.Slice(list, max(n, 1))
		for j, o := range ins[i] {
			elems[j] = cOutput(o)
		}
		C.TF_AddInputList(desc, list, C.int(n))
		C.free(unsafe.Pointer(list))
	}
	for _, d := range deps {
		C.TF_AddControlInput(desc, (*C.TF_Operation)(firstPtr(d)))
	}
	if dev != "" {
		cdev := C.CString(dev)
		C.TF_SetDevice(desc, cdev)
		C.free(unsafe.Pointer(cdev))
	}
	status := C.TF_NewStatus()
	defer C.TF_DeleteStatus(status)
	var attrErr error
	for an, av := range attrs {
		raw, err := proto.Marshal(av)
		if err != nil {
			attrErr = c.errf("attr %s: %v", an, err)
			break
		}
		can := C.CString(an)
		var p unsafe.Pointer
		if len(raw) > 0 {
			p = C.CBytes(raw)
		}
		C.TF_SetAttrValueProto(desc, can, p, C.size_t(len(raw)), status)
		C.free(unsafe.Pointer(can))
		C.free(p)
		if C.TF_GetCode(status) != C.TF_OK {
			attrErr = c.errf("attr %s: %s", an, C.GoString(C.TF_Message(status)))
			break
		}
	}
	for an, t := range c.tensors {
		if attrErr != nil {
			break
		}
		can := C.CString(an)
		switch t := t.(type) {
		case *tf.Tensor:
			C.TF_SetAttrTensor(desc, can, (*C.TF_Tensor)(firstPtr(t)), status)
			runtime.KeepAlive(t)
		case *Tensor:
			var ct *C.TF_Tensor
			if ct, attrErr = t.toC(); attrErr == nil {
				C.TF_SetAttrTensor(desc, can, ct, status) // copies it
				C.TF_DeleteTensor(ct)
			}
		}
		C.free(unsafe.Pointer(can))
		if attrErr != nil {
			attrErr = c.errf("attr %s: %v", an, attrErr)
		} else if C.TF_GetCode(status) != C.TF_OK {
			attrErr = c.errf("attr %s: %s", an, C.GoString(C.TF_Message(status)))
		}
	}
	// TF_FinishOperation frees the description, also after an attr error.
	fin := C.TF_NewStatus()
	defer C.TF_DeleteStatus(fin)
	cop := C.TF_FinishOperation(desc, fin)
	if attrErr != nil {
		return nil, attrErr
	}
	if C.TF_GetCode(fin) != C.TF_OK || cop == nil {
		return nil, c.errf("%s", C.GoString(C.TF_Message(fin)))
	}
	op := g.st.g.Operation(name)
	if op == nil {
		return nil, c.errf("op %q vanished after it was added", name)
	}
	return &Op{st: g.st, op: op}, nil
}

// isTensor reports whether v is a non-nil *Tensor or *tf.Tensor.
func isTensor(v any) bool {
	switch t := v.(type) {
	case *Tensor:
		return t.ok()
	case *tf.Tensor:
		return t != nil && firstPtr(t) != nil // a zero tf.Tensor{} has no C tensor
	}
	return false
}

func cOutput(o tf.Output) C.TF_Output {
	return C.TF_Output{oper: (*C.TF_Operation)(firstPtr(o.Op)), index: C.int(o.Index)}
}
