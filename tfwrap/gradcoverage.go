package tfwrap

import (
	opdefpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/op_def_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
)

// GradientSource says where Tape.Gradient finds the gradient of an op type.
type GradientSource int

// Where a gradient comes from.
const (
	GradientMissing GradientSource = iota // nowhere: Tape.Gradient fails on the op
	GradientCpp                           // TensorFlow's C++ registry (or declared not differentiable there)
	GradientGo                            // RegisterGradient, tfwrap's own or the program's
)

// String returns "missing", "cpp" or "go".
func (s GradientSource) String() string {
	switch s {
	case GradientCpp:
		return "cpp"
	case GradientGo:
		return "go"
	}
	return "missing"
}

// GradientOf returns where Tape.Gradient finds opType's gradient: Go first
// (tfwrap's own, which replace C++'s for Relu and Relu6, and those C++
// lacks), then C++. It is safe for concurrent use.
func GradientOf(opType string) GradientSource {
	if goGradient(opType) != nil {
		return GradientGo
	}
	if HasCppGradient(opType) {
		return GradientCpp
	}
	return GradientMissing
}

// FloatOpTypes returns, sorted, the op types of the loaded TensorFlow
// library that take at least one float input (an input whose type is a
// float type, or set by a type attribute that allows one): the ops a
// gradient could flow through.
func FloatOpTypes() ([]string, error) {
	var out []string
	for _, name := range OpTypes() {
		op, err := LookupOpDef(name)
		if err != nil {
			return nil, err
		}
		if takesFloat(op) {
			out = append(out, name)
		}
	}
	return out, nil
}

func isFloatPB(t typespb.DataType) bool {
	switch t {
	case typespb.DataType_DT_FLOAT, typespb.DataType_DT_DOUBLE, typespb.DataType_DT_HALF, typespb.DataType_DT_BFLOAT16:
		return true
	}
	return false
}

// takesFloat reports whether some input of op can be a float tensor.
func takesFloat(op *opdefpb.OpDef) bool {
	attrs := map[string]*opdefpb.OpDef_AttrDef{}
	for _, a := range op.GetAttr() {
		attrs[a.GetName()] = a
	}
	allowsFloat := func(name string) bool {
		a := attrs[name]
		if a == nil {
			return false
		}
		allowed := a.GetAllowedValues().GetList().GetType()
		if len(allowed) == 0 {
			return true // any type
		}
		for _, t := range allowed {
			if isFloatPB(t) {
				return true
			}
		}
		return false
	}
	for _, in := range op.GetInputArg() {
		switch {
		case isFloatPB(in.GetType()):
			return true
		case in.GetTypeAttr() != "" && allowsFloat(in.GetTypeAttr()):
			return true
		case in.GetTypeListAttr() != "" && allowsFloat(in.GetTypeListAttr()):
			return true
		}
	}
	return false
}
