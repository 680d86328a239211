package profile_test

import (
	"testing"

	"github.com/tfgo-project/gotf/tfwrap/profile"
)

func TestCanonical(t *testing.T) {
	for _, c := range []struct {
		kernel, want string
		onednn       bool
	}{
		{"MatMul", "MatMul", false},
		{"_FusedMatMul", "_FusedMatMul", false},
		{"_MklMatMul", "MatMul", true},
		{"_MklNativeFusedMatMul", "_FusedMatMul", true},
		{"_MklFusedMatMul", "_FusedMatMul", true},
		{"_MklNativeFusedConv2D", "_FusedConv2D", true},
		{"_MklNativeConv2D", "Conv2D", true},
		{"_MklSoftmax", "Softmax", true},
		{"_MklNativeFusedBatchNormV3", "FusedBatchNormV3", true},
		{"_MklFusedDepthwiseConv2dNative", "_FusedDepthwiseConv2dNative", true},
		{"_MklNativeFusedPadConv2D", "FusedPadConv2D", true},
		{"Relu", "Relu", false},
	} {
		if got := profile.Canonical(c.kernel); got != c.want {
			t.Errorf("Canonical(%q) = %q, want %q", c.kernel, got, c.want)
		}
		if got := profile.OneDNN(c.kernel); got != c.onednn {
			t.Errorf("OneDNN(%q) = %v", c.kernel, got)
		}
	}
	if !profile.Fusion("_MklNativeFusedMatMul") || !profile.Fusion("_FusedConv2D") || profile.Fusion("FusedBatchNormV3") || profile.Fusion("MatMul") {
		t.Error("Fusion misjudges a kernel")
	}
}
