package models

import (
	"fmt"

	"github.com/tfgo-project/gotf/models/layers"
)

// Topology is a model's graph as a Keras functional config holds it: its
// inputs, each layer call in an order where a call's inputs come from
// earlier calls, and its outputs. It is what a writer of model files
// (kerasfile.Save) walks; it holds the model's layers, not copies.
type Topology struct {
	// Sequential is set for a model NewSequential made.
	Sequential bool
	// Inputs are the model's inputs, in order.
	Inputs []TopologyInput
	// Calls are the layer calls, in topological order.
	Calls []TopologyCall
	// Outputs name the model's outputs, in order.
	Outputs []TensorRef
}

// TopologyInput is one input of a model: its name and per-sample shape.
type TopologyInput struct {
	Name  string
	Shape []int64
}

// TopologyCall is one call of a layer: the layer as the user gave it (a
// model used as a layer is InnerModel(Layer)) and the tensors it was
// called on.
type TopologyCall struct {
	Layer layers.Common
	Args  []TensorRef
	// OutShapes are the per-sample shapes of the call's outputs.
	OutShapes [][]int64
}

// TensorRef names a tensor as Keras's keras_history does: the layer that
// made it (an input's name, for a model input), which of that layer's
// calls in this model (0 for the first) and which of that call's outputs.
type TensorRef struct {
	Layer       string
	Call, Index int
}

// String formats r as layer[call][index].
func (r TensorRef) String() string { return fmt.Sprintf("%s[%d][%d]", r.Layer, r.Call, r.Index) }

// Topology returns the model's graph. The calls and inputs never change
// once the model is made, but NewModel names the unnamed layers it is
// given, so do not make another model from this one's unnamed layers
// while Topology (or a Save that calls it) runs.
func (m *Model) Topology() Topology {
	t := Topology{Sequential: m.seq}
	for _, s := range m.inputs {
		t.Inputs = append(t.Inputs, TopologyInput{Name: s.name, Shape: s.Shape()})
	}
	calls := map[layers.Common]int{} // calls so far of each layer
	callOf := map[*node]int{}
	ref := func(s *Symbol) TensorRef {
		if s.node == nil {
			return TensorRef{Layer: s.name}
		}
		return TensorRef{Layer: s.node.given.Name(), Call: callOf[s.node], Index: s.index}
	}
	for _, n := range m.nodes {
		callOf[n] = calls[n.given]
		calls[n.given]++
		c := TopologyCall{Layer: n.given}
		for _, s := range n.in {
			c.Args = append(c.Args, ref(s))
		}
		for _, s := range n.out {
			c.OutShapes = append(c.OutShapes, s.Shape())
		}
		t.Calls = append(t.Calls, c)
	}
	for _, s := range m.outputs {
		t.Outputs = append(t.Outputs, ref(s))
	}
	return t
}
