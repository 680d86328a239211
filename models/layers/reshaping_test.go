package layers

import (
	"reflect"
	"strings"
	"testing"
)

// TestShapeLayersOutputShape checks the per-sample shapes Keras gives the
// pooling and reshaping layers, and the errors for inputs they cannot take.
func TestShapeLayersOutputShape(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Layer
		in   []int64
		want []int64
		err  string
	}{
		{"gap2d", GlobalAveragePooling2D(), []int64{4, 5, 3}, []int64{3}, ""},
		{"gmp2d", GlobalMaxPooling2D(), []int64{4, 5, 3}, []int64{3}, ""},
		{"gap1d", GlobalAveragePooling1D(), []int64{7, 2}, []int64{2}, ""},
		{"gmp1d", GlobalMaxPooling1D(), []int64{7, 2}, []int64{2}, ""},
		{"gap2d on sequences", GlobalAveragePooling2D(WithName("g")), []int64{7, 2}, nil, "g: GlobalAveragePooling2D takes images"},
		{"gmp1d on images", GlobalMaxPooling1D(WithName("g")), []int64{4, 5, 3}, nil, "g: GlobalMaxPooling1D takes sequences"},
		{"reshape", Reshape([]int64{2, 6}), []int64{3, 4}, []int64{2, 6}, ""},
		{"reshape infers", Reshape([]int64{-1, 2, 2}), []int64{3, 4}, []int64{3, 2, 2}, ""},
		{"reshape wrong size", Reshape([]int64{5, 2}, WithName("r")), []int64{3, 4}, nil, "r: cannot reshape [3 4] (12 elements) to [5 2] (10 elements)"},
		{"reshape indivisible", Reshape([]int64{-1, 5}, WithName("r")), []int64{3, 4}, nil, "r: cannot reshape [3 4] (12 elements) to [-1 5]"},
		{"reshape two -1", Reshape([]int64{-1, -1}, WithName("r")), []int64{3, 4}, nil, "more than one -1"},
		{"reshape zero", Reshape([]int64{0, 12}, WithName("r")), []int64{3, 4}, nil, "must be positive or one -1"},
		{"reshape huge", Reshape([]int64{1 << 40, 1 << 40}, WithName("r")), []int64{3, 4}, nil, "cannot reshape"},
		{"reshape empty", Reshape(nil, WithName("r")), []int64{3, 4}, nil, "needs a target shape"},
		{"permute", Permute([]int{3, 1, 2}), []int64{4, 5, 6}, []int64{6, 4, 5}, ""},
		{"permute swap", Permute([]int{2, 1}), []int64{4, 5}, []int64{5, 4}, ""},
		{"permute repeat", Permute([]int{1, 1, 2}, WithName("p")), []int64{4, 5, 6}, nil, "p: dims [1 1 2] is not a permutation of 1..3"},
		{"permute zero-based", Permute([]int{0, 1, 2}, WithName("p")), []int64{4, 5, 6}, nil, "not a permutation"},
		{"permute rank", Permute([]int{2, 1}, WithName("p")), []int64{4, 5, 6}, nil, "must permute the 3 axes"},
		{"zero padding", ZeroPadding2D(1, 2, 3, 4), []int64{4, 5, 6}, []int64{7, 12, 6}, ""},
		{"zero padding negative", ZeroPadding2D(-1, 0, 0, 0, WithName("z")), []int64{4, 5, 6}, nil, "z: padding"},
		{"zero padding vectors", ZeroPadding2D(1, 1, 1, 1, WithName("z")), []int64{4}, nil, "z: ZeroPadding2D takes images"},
		{"rescaling", Rescaling(2, 1), []int64{4, 5}, []int64{4, 5}, ""},
		{"embedding", Embedding(10, 3), []int64{4, 5}, []int64{4, 5, 3}, ""},
		{"embedding zero dim", Embedding(10, 0, WithName("e")), []int64{4}, nil, "e: input_dim 10 and output_dim 0 must be positive"},
		{"layernorm", LayerNormalization(LayerNormOptions{}), []int64{4, 5}, []int64{4, 5}, ""},
		{"layernorm negative epsilon", LayerNormalization(LayerNormOptions{Epsilon: -1}, WithName("n")), []int64{4}, nil, "n: epsilon -1 must be positive"},
		{"layernorm scalar", LayerNormalization(LayerNormOptions{}, WithName("n")), []int64{}, nil, "n: LayerNormalization needs at least one axis"},
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
		})
	}
}

// TestShapeLayersConfig checks that each layer's Config holds its arguments,
// which the round trip alone would not notice missing.
func TestShapeLayersConfig(t *testing.T) {
	for _, tc := range []struct {
		l    Layer
		want Config
	}{
		{GlobalAveragePooling2D(WithName("a")), Config{Type: "GlobalAveragePooling2D", Name: "a"}},
		{GlobalMaxPooling1D(WithName("b")), Config{Type: "GlobalMaxPooling1D", Name: "b"}},
		{Reshape([]int64{-1, 2}, WithName("c")), Config{Type: "Reshape", Name: "c", TargetShape: []int64{-1, 2}}},
		{Permute([]int{2, 1}, WithName("d")), Config{Type: "Permute", Name: "d", Dims: []int{2, 1}}},
		{ZeroPadding2D(1, 2, 3, 4, WithName("e")), Config{Type: "ZeroPadding2D", Name: "e", PadWidths: [][]int{{1, 2}, {3, 4}}}},
		{Rescaling(0.5, -1, WithName("f")), Config{Type: "Rescaling", Name: "f", Scale: 0.5, Offset: -1}},
		{Embedding(10, 3, WithName("i")), Config{Type: "Embedding", Name: "i", InputDim: 10, OutputDim: 3}},
		{LayerNormalization(LayerNormOptions{}, WithName("g")), Config{Type: "LayerNormalization", Name: "g", Epsilon: 1e-3}},
		{LayerNormalization(LayerNormOptions{Epsilon: 0.1, NoCenter: true, NoScale: true}, WithName("h")), Config{Type: "LayerNormalization", Name: "h", Epsilon: 0.1, NoCenter: true, NoScale: true}},
	} {
		t.Run(tc.want.Type, func(t *testing.T) {
			if got := tc.l.Config(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Config() = %+v, want %+v", got, tc.want)
			}
		})
	}
}
