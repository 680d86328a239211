package tfwrap

import (
	"strings"
	"sync"
)

var onednn struct {
	once sync.Once
	on   bool
	err  error
}

// OneDNN reports whether TensorFlow runs its oneDNN kernels in this
// process. TensorFlow decides once, at start-up: on by default on Intel
// CPUs with AVX-512 VNNI/BF16 or AMX, off elsewhere, and
// TF_ENABLE_ONEDNN_OPTS=0 or =1 decides instead when set. Numbers differ
// slightly between the two kernel families, and so do kernel names
// (tfwrap/profile.Canonical maps them). OneDNN asks TensorFlow itself:
// its tensorflow::IsMKLEnabled where the library exports it, else it runs
// one small MatMul and looks at the kernel TensorFlow chose. The first
// way makes no session: a session sizes TensorFlow's thread pools for the
// whole process (WithThreads), so asking must not. (libtensorflow 2.21,
// which CheckVersion requires, exports it; the fallback's session would
// size the pools with TensorFlow's defaults.) The answer is computed once
// per process.
func OneDNN() (bool, error) {
	onednn.once.Do(func() {
		if on, known := mklEnabled(); known {
			onednn.on = on
			return
		}
		onednn.on, onednn.err = probeOneDNN()
	})
	return onednn.on, onednn.err
}

func probeOneDNN() (bool, error) {
	g := NewGraph()
	x := g.Placeholder("x", Float32, 2, 2)
	y := g.MatMul(x, x)
	sess, err := g.NewSession()
	if err != nil {
		return false, err
	}
	defer sess.Close()
	in, err := NewTensor([]float32{1, 2, 3, 4}, 2, 2)
	if err != nil {
		return false, err
	}
	var md RunMetadata
	if _, err := sess.RunWith(RunOptions{PartitionGraphs: true, Metadata: &md}, Feeds{x: in}, []Output{y}); err != nil {
		return false, err
	}
	for _, pg := range md.GetPartitionGraphs() {
		for _, n := range pg.GetNode() {
			if strings.HasPrefix(n.GetOp(), "_Mkl") { // oneDNN's kernels (see tfwrap/profile)
				return true, nil
			}
		}
	}
	return false, nil
}
