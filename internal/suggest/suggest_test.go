package suggest

import "testing"

func TestClosest(t *testing.T) {
	ops := []string{"Transpose", "MatMul", "BatchMatMulV2", "Conv2D", "Relu", "Relu6"}
	for _, c := range []struct{ in, want string }{
		{"Tranpose", "Transpose"},
		{"matmul", "MatMul"},
		{"Conv3D", "Conv2D"},
		{"Relu7", "Relu"},
		{"Softmax", ""},
		{"", ""},
	} {
		if got := Closest(c.in, ops); got != c.want {
			t.Errorf("Closest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if d := editDistance("kitten", "sitting", 10); d != 3 {
		t.Errorf("editDistance(kitten, sitting) = %d, want 3", d)
	}
}
