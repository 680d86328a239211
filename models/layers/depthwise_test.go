package layers

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/tfwrap"
)

// TestDepthwiseShapes checks DepthwiseConv2D's and SeparableConv2D's output
// shapes and parameter counts (Keras's) and the errors for what they cannot
// take.
func TestDepthwiseShapes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		l      Layer
		in     []int64
		want   []int64
		params int64
		err    string
	}{
		{"depthwise valid", DepthwiseConv2D(3, 3), []int64{7, 7, 2}, []int64{5, 5, 2}, 3*3*2 + 2, ""},
		{"depthwise same strided mult 2", DepthwiseConv2D(3, 3, WithStrides(2, 2), WithPadding(Same), WithDepthMultiplier(2)), []int64{7, 7, 2}, []int64{4, 4, 4}, 3*3*2*2 + 4, ""},
		{"depthwise no bias", DepthwiseConv2D(2, 3, WithDepthMultiplier(3), NoBias()), []int64{4, 5, 2}, []int64{3, 3, 6}, 2 * 3 * 2 * 3, ""},
		{"separable", SeparableConv2D(4, 3, 3, WithDepthMultiplier(2)), []int64{7, 7, 3}, []int64{5, 5, 4}, 3*3*3*2 + 6*4 + 4, ""},
		{"separable same strided no bias", SeparableConv2D(5, 3, 3, WithStrides(2, 2), WithPadding(Same), NoBias()), []int64{7, 7, 3}, []int64{4, 4, 5}, 3*3*3 + 3*5, ""},
		{"depthwise vectors", DepthwiseConv2D(3, 3, WithName("dw")), []int64{7, 2}, nil, 0, "dw: DepthwiseConv2D takes images"},
		{"separable sequences", SeparableConv2D(4, 3, 3, WithName("sep")), []int64{7, 7}, nil, 0, "sep: SeparableConv2D takes images"},
		{"too small", DepthwiseConv2D(5, 5, WithName("dw")), []int64{4, 4, 2}, nil, 0, "dw: conv2d height: input size 4 is smaller than the window 5"},
		{"zero multiplier", DepthwiseConv2D(3, 3, WithDepthMultiplier(0), WithName("dw")), []int64{7, 7, 2}, nil, 0, "dw: kernel size [3 3] and depth multiplier 0 must be positive"},
		{"zero kernel", SeparableConv2D(4, 0, 3, WithName("sep")), []int64{7, 7, 2}, nil, 0, "sep: kernel size [0 3]"},
		{"zero filters", SeparableConv2D(0, 3, 3, WithName("sep")), []int64{7, 7, 2}, nil, 0, "sep: filters 0 must be positive"},
		{"zero stride", DepthwiseConv2D(3, 3, WithStrides(0, 1), WithName("dw")), []int64{7, 7, 2}, nil, 0, "dw: strides [0 1] must be positive"},
		{"unknown", DepthwiseConv2D(3, 3, WithName("dw")), []int64{-1, 7, 2}, nil, 0, "dw: input dimensions must be known"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.l.OutputShape(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("OutputShape(%v) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				tc.l.ParamCount(tc.in) // must not panic
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
	c := SeparableConv2D(4, 3, 2, WithDepthMultiplier(2), WithStrides(2, 2), WithPadding(Same), WithName("s")).Config()
	want := Config{Type: "SeparableConv2D", Name: "s", Filters: 4, Kernel: []int{3, 2}, Strides: []int{2, 2}, Padding: "same", Activation: "linear", DepthMultiplier: 2}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Config() = %+v, want %+v", c, want)
	}
}

// TestDepthwiseForwardErrors: Forward refuses, naming the layer, what is
// not a batch of float images or has other channels than the layer was
// built for.
func TestDepthwiseForwardErrors(t *testing.T) {
	g := tfwrap.NewGraph()
	img3 := g.Placeholder("img3", tfwrap.Float32, -1, 6, 6, 3)
	img2 := g.Placeholder("img2", tfwrap.Float32, -1, 6, 6, 2)
	seq := g.Placeholder("seq", tfwrap.Float32, -1, 6, 3)
	ids := g.Placeholder("ids", tfwrap.Int32, -1, 6, 6, 3)
	for _, l := range []Layer{DepthwiseConv2D(3, 3, WithName("dw")), SeparableConv2D(4, 3, 3, WithName("sep"))} {
		t.Run(l.Type(), func(t *testing.T) {
			ctx := &Context{Graph: g.WithScope(l.Name())}
			for _, x := range []tfwrap.Output{seq, ids} {
				if _, err := l.Forward(ctx, x); err == nil || !strings.Contains(err.Error(), "layer "+l.Name()) {
					t.Fatalf("Forward(%v) = %v; want an error naming the layer", x, err)
				}
			}
			if _, err := l.Forward(ctx, img3); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Forward(ctx, img2); err == nil || !strings.Contains(err.Error(), "layer "+l.Name()+": input has 2 channels") {
				t.Fatalf("Forward with other channels = %v", err)
			}
		})
	}
}
