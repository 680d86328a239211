package models

import (
	"math/rand"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestRandomRotationAndZoomMatchKeras: with a fixed move (lower == upper,
// so no randomness is left) each layer's training output is Keras's within
// 1e-5 (relative), for each fill mode and both interpolations; at
// inference it is the identity.
func TestRandomRotationAndZoomMatchKeras(t *testing.T) {
	const n, h, w, c = 3, 7, 9, 2
	x := make([]float32, n*h*w*c)
	r := rand.New(rand.NewSource(3))
	for i := range x {
		x[i] = float32(r.Intn(256))
	}
	wide := [2]float64{-0.3, -0.3}
	for _, tc := range []struct {
		name   string
		layer  layers.Layer
		req    map[string]any
		o      layers.TransformOptions
		factor [2]float64
	}{
		{name: "rotation reflect", factor: [2]float64{0.1, 0.1}},
		{name: "rotation constant nearest", factor: [2]float64{-0.3, -0.3}, o: layers.TransformOptions{FillMode: "constant", FillValue: 5, Interpolation: "nearest"}},
		{name: "rotation wrap", factor: [2]float64{0.55, 0.55}, o: layers.TransformOptions{FillMode: "wrap"}},
		{name: "zoom out, aspect kept", req: map[string]any{"height": []float64{0.4, 0.4}, "width": nil}},
		{name: "zoom in nearest fill", req: map[string]any{"height": []float64{-0.3, -0.3}, "width": []float64{0.2, 0.2}}, o: layers.TransformOptions{FillMode: "nearest"}},
		{name: "zoom constant", req: map[string]any{"height": []float64{0.25, 0.25}, "width": wide[:]}, o: layers.TransformOptions{FillMode: "constant", FillValue: 9, Interpolation: "nearest"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			fill, interp := o.FillMode, o.Interpolation
			if fill == "" {
				fill = "reflect"
			}
			if interp == "" {
				interp = "bilinear"
			}
			req := map[string]any{"x": x, "shape": []int{n, h, w, c}, "fill_mode": fill, "interpolation": interp, "fill_value": o.FillValue}
			var l layers.Layer
			if tc.req == nil {
				req["layer"], req["factor"] = "rotation", tc.factor
				l = layers.RandomRotation(tc.factor, o)
			} else {
				req["layer"], req["height"], req["width"] = "zoom", tc.req["height"], tc.req["width"]
				hf := tc.req["height"].([]float64)
				var wp *[2]float64
				if wf, ok := tc.req["width"].([]float64); ok {
					wp = &[2]float64{wf[0], wf[1]}
				}
				l = layers.RandomZoom([2]float64{hf[0], hf[1]}, wp, o)
			}
			var want struct{ Y []float64 }
			if err := pyref.Run("keras_moves.py", req, &want); err != nil {
				t.Fatal(err)
			}
			g := tfwrap.NewGraph()
			in := g.Placeholder("x", tfwrap.Float32, -1, h, w, c)
			out, err := l.Forward(&layers.Context{Graph: g, Training: true, Seed: 1, Step: g.Const(tfwrap.Scalar(int64(0)))}, in)
			if err != nil {
				t.Fatal(err)
			}
			s, err := g.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			xt, _ := tfwrap.NewTensor(x, n, h, w, c)
			res, err := s.Eval(out, tfwrap.Feeds{in: xt})
			s.Close()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := res.Float32s()
			changed := 0
			for i, v := range want.Y {
				if !closeRel(float64(got[i]), v, 1e-5) {
					t.Fatalf("value %d is %v, Keras %v", i, got[i], v)
				}
				if v != float64(x[i]) {
					changed++
				}
			}
			if changed < len(x)/4 {
				t.Errorf("only %d of %d values moved: the case tests little", changed, len(x))
			}
			if inf, err := l.Forward(&layers.Context{Graph: g, Training: false}, in); err != nil || inf != in {
				t.Errorf("not the identity at inference: %v", err)
			}
		})
	}
	for _, bad := range []layers.Layer{
		layers.RandomRotation([2]float64{0.2, 0.1}, layers.TransformOptions{}),
		layers.RandomZoom([2]float64{-1, 0}, nil, layers.TransformOptions{}),
		layers.RandomZoom([2]float64{0, 0}, &[2]float64{0.5, 0.1}, layers.TransformOptions{}),
		layers.RandomRotation([2]float64{0, 0}, layers.TransformOptions{Interpolation: "cubic"}),
	} {
		if _, err := NewSequential([]int64{4, 4, 1}, bad); err == nil {
			t.Errorf("%+v was taken", bad.Config())
		}
	}
}
