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
		{"_MklNativeFusedBatchNormEx", "_FusedBatchNormEx", true},
		{"_MklFusedBatchNormEx", "_FusedBatchNormEx", true},
		{"_MklNativeFusedBatchNormGradV3", "FusedBatchNormGradV3", true},
	} {
		if got := profile.Canonical(c.kernel); got != c.want {
			t.Errorf("Canonical(%q) = %q, want %q", c.kernel, got, c.want)
		}
		if got := profile.OneDNN(c.kernel); got != c.onednn {
			t.Errorf("OneDNN(%q) = %v", c.kernel, got)
		}
	}
	for kernel, want := range map[string]bool{
		"_MklNativeFusedMatMul": true, "_FusedConv2D": true, "_FusedBatchNormEx": true, "_MklNativeFusedBatchNormEx": true,
		"_MklNativeConv2DWithBias": true, "_MklNativePadWithFusedConv2D": true, "_MklLayerNorm": true, "_MklSwish": true,
		"FusedBatchNormV3": false, "_MklNativeFusedBatchNormV3": false, "MatMul": false, "_MklMatMul": false, "Conv2D": false,
	} {
		if got := profile.Fusion(kernel); got != want {
			t.Errorf("Fusion(%q) = %v, want %v", kernel, got, want)
		}
	}
}
