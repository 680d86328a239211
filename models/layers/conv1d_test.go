package layers

import (
	"reflect"
	"strings"
	"testing"
)

// TestConv1DShapes checks Keras's Conv1D output shapes, parameter counts and
// the errors for what it cannot take.
func TestConv1DShapes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		l      Layer
		in     []int64
		want   []int64
		params int64
		err    string
	}{
		{"valid", Conv1D(4, 3), []int64{10, 2}, []int64{8, 4}, 3*2*4 + 4, ""},
		{"valid strided", Conv1D(4, 3, WithStride1D(3)), []int64{10, 2}, []int64{3, 4}, 3*2*4 + 4, ""},
		{"same strided", Conv1D(4, 3, WithStride1D(2), WithPadding(Same), NoBias()), []int64{9, 2}, []int64{5, 4}, 3 * 2 * 4, ""},
		{"images", Conv1D(4, 3, WithName("c")), []int64{10, 10, 2}, nil, 0, "c: Conv1D takes sequences"},
		{"too short", Conv1D(4, 5, WithName("c")), []int64{4, 2}, nil, 0, "smaller than the window"},
		{"zero filters", Conv1D(0, 3, WithName("c")), []int64{10, 2}, nil, 0, "c: filters 0"},
		{"2-D strides", Conv1D(4, 3, WithStrides(2, 2), WithName("c")), []int64{10, 2}, nil, 0, "c: Conv1D takes one positive stride"},
		{"zero stride", Conv1D(4, 3, WithStride1D(0), WithName("c")), []int64{10, 2}, nil, 0, "one positive stride"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.l.OutputShape(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("OutputShape(%v) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("OutputShape(%v) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if p, _ := tc.l.ParamCount(tc.in); p != tc.params {
				t.Fatalf("ParamCount(%v) = %d, want %d", tc.in, p, tc.params)
			}
		})
	}
	c := Conv1D(4, 3, WithStride1D(2), WithPadding(Same), WithName("c")).Config()
	want := Config{Type: "Conv1D", Name: "c", Filters: 4, Kernel: []int{3}, Strides: []int{2}, Padding: "same", Activation: "linear"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Config() = %+v, want %+v", c, want)
	}
}
