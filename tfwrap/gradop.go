package tfwrap

import (
	"fmt"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// The accessors below let a GradFunc read the forward op it differentiates.

// Type returns the op's type, such as "MatMul".
func (o *Op) Type() string {
	if o == nil || o.op == nil {
		return ""
	}
	return o.op.Type()
}

// NumInputs returns the number of the op's data inputs.
func (o *Op) NumInputs() int {
	if o == nil || o.op == nil {
		return 0
	}
	return o.op.NumInputs()
}

// NumOutputs returns the number of the op's outputs.
func (o *Op) NumOutputs() int {
	if o == nil || o.op == nil {
		return 0
	}
	return o.op.NumOutputs()
}

// Input returns the tensor feeding the op's i-th input, or the zero Output
// when i is out of range.
func (o *Op) Input(i int) Output {
	if o == nil || o.op == nil || i < 0 || i >= o.op.NumInputs() {
		return Output{}
	}
	return Output{st: o.st, out: opInput(o.op, i)}
}

// Output returns the op's i-th output, or the zero Output when i is out of
// range.
func (o *Op) Output(i int) Output {
	if o == nil || o.op == nil || i < 0 || i >= o.op.NumOutputs() {
		return Output{}
	}
	return Output{st: o.st, out: o.op.Output(i)}
}

// Attr returns the value of the op's attribute name, typed as the bindings'
// Operation.Attr types it (int64, float32, bool, string, tf.DataType, ...).
func (o *Op) Attr(name string) (any, error) {
	if o == nil || o.op == nil {
		return nil, fmt.Errorf("tfwrap: Attr %q of an invalid op", name)
	}
	return o.op.Attr(name)
}

// opInput returns the tensor feeding op's i-th input.
func opInput(op *tf.Operation, i int) tf.Output {
	return tf.Consumer{Op: op, Index: i}.Producer()
}
