package models

import (
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/profile"
)

// fused lists the fused kernels of the graphs TensorFlow ran (after
// Grappler), by the name of the node they replaced: "_FusedConv2D
// BiasAdd+Relu", and counts the kernels by type. Types are canonical
// (profile.Canonical): oneDNN's _MklNativeFusedConv2D counts as
// _FusedConv2D, its _MklMatMul as MatMul.
func fused(md *tfwrap.RunMetadata) (map[string]string, map[string]int) {
	out := map[string]string{}
	count := map[string]int{}
	for _, g := range md.GetPartitionGraphs() {
		for _, n := range g.GetNode() {
			op := profile.Canonical(n.GetOp())
			count[op]++
			if !profile.Fusion(op) {
				continue
			}
			var ops []string
			for _, s := range n.GetAttr()["fused_ops"].GetList().GetS() {
				ops = append(ops, string(s))
			}
			out[n.GetName()] = op + " " + strings.Join(ops, "+")
		}
	}
	return out, count
}

// TestGrapplerFusion pins what Grappler's remapper makes of the layers'
// Conv2D/Dense + BiasAdd + ReLU, from the partition graphs TensorFlow
// returns:
//
//   - inference: each becomes one kernel, _FusedConv2D and _FusedMatMul
//     with fused_ops BiasAdd+Relu (the softmax layer: _FusedMatMul with
//     BiasAdd, then Softmax), and no BiasAdd or Relu is left;
//   - training: the same fusions. This holds because tfwrap's gradient
//     of Relu feeds ReluGrad the Relu's output, as Python's does; the
//     gradient in TensorFlow's C++ registry feeds it the Relu's input,
//     the pre-activation, so the BiasAdd's output had two consumers and
//     the remapper, which fuses an activation only into an output with
//     one, fused the bias alone.
//
// The test fails if either fusion is lost.
func TestGrapplerFusion(t *testing.T) {
	relu := layers.WithActivation(layers.ReLU)
	m, err := NewSequential([]int64{8, 8, 1},
		layers.Conv2D(4, 3, 3, relu),
		layers.Flatten(),
		layers.Dense(16, relu),
		layers.Dense(3, layers.WithActivation(layers.Softmax)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.Adam(1e-3)}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x, err := tfwrap.NewTensor(make([]float32, 4*64), 4, 8, 8, 1)
	if err != nil {
		t.Fatal(err)
	}

	// Inference, through the serving graph Export writes.
	sg, err := m.serving()
	if err != nil {
		t.Fatal(err)
	}
	var md tfwrap.RunMetadata
	if _, err := sg.Session.RunWith(tfwrap.RunOptions{PartitionGraphs: true, Metadata: &md}, tfwrap.Feeds{sg.Input: x}, []tfwrap.Output{sg.Output}); err != nil {
		t.Fatal(err)
	}
	inf, count := fused(&md)
	t.Logf("inference: %v", inf)
	want := map[string]string{
		"conv2d/Relu":     "_FusedConv2D BiasAdd+Relu",
		"dense/Relu":      "_FusedMatMul BiasAdd+Relu",
		"dense_1/BiasAdd": "_FusedMatMul BiasAdd",
	}
	for name, w := range want {
		if inf[name] != w {
			t.Errorf("inference: %s is %q, want %q (fused: %v)", name, inf[name], w, inf)
		}
	}
	for _, op := range []string{"Conv2D", "MatMul", "BiasAdd", "Relu"} {
		if count[op] != 0 {
			t.Errorf("inference graph still has %d %s", count[op], op)
		}
	}

	// Training: one step on a fed batch.
	c := m.c
	y, _ := tfwrap.NewTensor([]int32{0, 1, 2, 0}, 4)
	w, _ := tfwrap.NewTensor([]float32{1, 1, 1, 1}, 4)
	if _, err := c.sess.RunWith(tfwrap.RunOptions{PartitionGraphs: true, Metadata: &md},
		tfwrap.Feeds{c.xb[0]: x, c.yb[0]: y, c.wb: w}, nil, c.step); err != nil {
		t.Fatal(err)
	}
	tr, count := fused(&md)
	t.Logf("training: %v; %d Relu, %d ReluGrad", tr, count["Relu"], count["ReluGrad"])
	for name, w := range map[string]string{
		"training/conv2d/Relu":     "_FusedConv2D BiasAdd+Relu",
		"training/dense/Relu":      "_FusedMatMul BiasAdd+Relu",
		"training/dense_1/BiasAdd": "_FusedMatMul BiasAdd",
	} {
		if tr[name] != w {
			t.Errorf("training: %s is %q, want %q (fused: %v)", name, tr[name], w, tr)
		}
	}
	for _, op := range []string{"Conv2D", "BiasAdd", "Relu"} { // MatMul stays: the weight gradients
		if count[op] != 0 {
			t.Errorf("training graph still has %d %s unfused", count[op], op)
		}
	}
	if count["ReluGrad"] != 2 {
		t.Errorf("training graph has %d ReluGrad, want 2", count["ReluGrad"])
	}
}
