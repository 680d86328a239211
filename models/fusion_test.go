package models

import (
	"slices"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// fused lists the fused kernels of the graphs TensorFlow ran (after
// Grappler), by the name of the node they replaced: "_FusedConv2D
// [BiasAdd Relu]".
func fused(md *tfwrap.RunMetadata) (map[string]string, map[string]int) {
	out := map[string]string{}
	count := map[string]int{}
	for _, g := range md.GetPartitionGraphs() {
		for _, n := range g.GetNode() {
			count[n.GetOp()]++
			if !strings.HasPrefix(n.GetOp(), "_Fused") {
				continue
			}
			var ops []string
			for _, s := range n.GetAttr()["fused_ops"].GetList().GetS() {
				ops = append(ops, string(s))
			}
			out[n.GetName()] = n.GetOp() + " " + strings.Join(ops, "+")
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
//   - training: the bias still fuses (_FusedConv2D and _FusedMatMul with
//     BiasAdd alone) but the ReLU does not, because the gradient of Relu
//     in TensorFlow's C++ registry (which tfwrap uses) feeds ReluGrad
//     the Relu's input, the pre-activation, so the BiasAdd's output has
//     two consumers and the remapper fuses an activation only into an
//     output with one. Python's gradient feeds ReluGrad the Relu's
//     output instead, and TF fuses all three there in training too.
//
// The test fails if the inference fusion or the training bias fusion is
// lost; it logs what training gets.
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

	// Inference, through the public serving graph.
	sg, err := m.Serving()
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
	for name, op := range map[string]string{"training/conv2d/BiasAdd": "_FusedConv2D", "training/dense/BiasAdd": "_FusedMatMul",
		"training/dense_1/BiasAdd": "_FusedMatMul"} {
		if !strings.HasPrefix(tr[name], op+" BiasAdd") {
			t.Errorf("training: %s is %q, want %s with BiasAdd", name, tr[name], op)
		}
	}
	if count["Conv2D"] != 0 || count["BiasAdd"] != 0 {
		t.Errorf("training graph has %d Conv2D and %d BiasAdd unfused", count["Conv2D"], count["BiasAdd"])
	}
	// Should the Relu fuse in training one day (a gradient on the Relu's
	// output), this documents the change rather than fails.
	if fusedRelu := slices.ContainsFunc(mapValues(tr), func(s string) bool { return strings.HasSuffix(s, "+Relu") }); fusedRelu {
		t.Logf("training now fuses the ReLU too: update the comment above")
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
