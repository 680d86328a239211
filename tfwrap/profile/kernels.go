package profile

import "strings"

// Kernel names differ by CPU. Where TensorFlow's oneDNN kernels are on (by
// default on Intel CPUs with AVX-512 VNNI/BF16 or AMX; with
// TF_ENABLE_ONEDNN_OPTS=1 on any x86 CPU), Grappler and the oneDNN layout
// pass rename the ops they take over: MatMul runs as _MklMatMul, the
// remapper's _FusedMatMul as _MklNativeFusedMatMul, Softmax as
// _MklSoftmax, Conv2D as _MklNativeConv2D. What a graph computes is the
// same; only the kernel's name and implementation change. This file is
// the one place that knows the mapping: code and tests that ask "did the
// bias and ReLU fuse into the matmul?" ask Canonical, not a kernel name.

// oneDNN's name prefixes, longest first.
var onednnPrefixes = []string{"_MklNative", "_Mkl"}

// Canonical returns the op type a kernel stands for, the same on every
// CPU: oneDNN's _MklNativeFusedMatMul and _MklFusedMatMul are
// _FusedMatMul, _MklMatMul is MatMul, _MklSoftmax is Softmax,
// _MklNativeFusedBatchNormV3 is FusedBatchNormV3. Any other name is
// returned as it is.
func Canonical(opType string) string {
	for _, p := range onednnPrefixes {
		rest, ok := strings.CutPrefix(opType, p)
		if !ok {
			continue
		}
		// Grappler's remapper names its fusions _Fused<Op>; oneDNN's
		// versions drop the underscore (_MklFusedMatMul). Fused ops that
		// are ordinary ops (FusedBatchNorm*, FusedPadConv2D,
		// FusedResizeAndPadConv2D) keep their names.
		if strings.HasPrefix(rest, "Fused") && !ordinaryFused(rest) {
			return "_" + rest
		}
		return rest
	}
	return opType
}

// ordinaryFused: the "Fused" ops that are ordinary registered ops, not
// the remapper's (which is _FusedBatchNormEx, not FusedBatchNorm*).
func ordinaryFused(name string) bool {
	if strings.HasPrefix(name, "FusedBatchNormEx") {
		return false
	}
	return strings.HasPrefix(name, "FusedBatchNorm") || name == "FusedPadConv2D" || name == "FusedResizeAndPadConv2D"
}

// OneDNN reports whether opType names one of oneDNN's kernels.
func OneDNN(opType string) bool {
	return strings.HasPrefix(opType, "_Mkl")
}

// Fusion reports whether opType is a kernel that fuses several ops into
// one: Grappler's remapper's _FusedMatMul, _FusedConv2D, _FusedBatchNormEx
// and their oneDNN versions (the fused ops are in the node's fused_ops
// attr), and oneDNN's own fusions, which have no counterpart elsewhere
// (_MklNativeConv2DWithBias, _MklNativePadWithConv2D, _MklLayerNorm,
// _MklSwish, ...).
func Fusion(opType string) bool {
	c := Canonical(opType)
	if strings.HasPrefix(c, "_Fused") {
		return true
	}
	if !OneDNN(opType) {
		return false
	}
	return strings.Contains(c, "With") || c == "LayerNorm" || c == "Swish" || c == "Mish"
}
