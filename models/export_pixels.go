package models

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

// DefaultMaxImagePixels is the most pixels an image sent to a
// serving_bytes signature may declare when ExportOptions.MaxPixels is 0:
// 4096 × 4096, 48 MiB decoded.
const DefaultMaxImagePixels = 1 << 24

// checkedDecode adds to body, before DecodeImage reads encoded, an
// Assert that the image's header declares at most maxPixels pixels, so
// that a few bytes declaring a huge image (a PNG of 100 bytes can declare
// 100,000 × 100,000) are an InvalidArgument error instead of gigabytes
// the decoder allocates. The check is graph ops, so it holds wherever the
// SavedModel runs: cmd/serve, TF Serving, Python. Headers read: JPEG (its
// frame header, by TensorFlow's ExtractJpegShape), PNG (IHDR) and BMP.
// Anything else is refused with its own InvalidArgument: DecodeImage also
// takes WebP and JPEG XL, whose headers this does not read (a 34-byte
// WebP can declare 16383 × 16383), and GIF, whose frames giflib allocates
// at their own sizes, which may exceed the logical screen the header
// declares, and all of them at once. The branch functions go into lib, the
// graph whose library holds body's function.
func checkedDecode(lib, body *tfwrap.Graph, encoded tfwrap.Output, channels, maxPixels int64, prefix string) (tfwrap.Output, error) {
	jpeg := tfwrap.NewGraph()
	jin := jpeg.Placeholder("encoded", tfwrap.String)
	shape := jpeg.Apply("ExtractJpegShape", tfwrap.Attrs{"output_type": tfwrap.Int64}, jin)
	hw := jpeg.Apply("Slice", nil, shape, i64s(jpeg, 0), i64s(jpeg, 2))
	jpix := jpeg.Apply("Prod", tfwrap.Attrs{"keep_dims": false}, hw, jpeg.Scalar(0, tfwrap.Int32))

	other := tfwrap.NewGraph()
	oin := other.Placeholder("encoded", tfwrap.String)
	// 32 zero bytes after the image: every field below lies within the
	// string, however short the image.
	pad := other.Apply("StringJoin", tfwrap.Attrs{"separator": ""}, tfwrap.OutputList{oin, strConst(other, string(make([]byte, 32)))})
	// field is the unsigned integer of size bytes at at; signed: a 32-bit
	// two's complement value, by its magnitude (a top-down BMP's height is
	// negative).
	field := func(at, size int, little, signed bool) tfwrap.Output {
		raw := other.Apply("Substr", tfwrap.Attrs{"unit": "BYTE"}, pad, other.Scalar(float64(at), tfwrap.Int32), other.Scalar(float64(size), tfwrap.Int32))
		b := other.Cast(other.Apply("DecodeRaw", tfwrap.Attrs{"out_type": tfwrap.Uint8, "little_endian": true}, raw), tfwrap.Int64)
		weights := make([]int64, size)
		for i := range weights {
			if little {
				weights[i] = 1 << (8 * i)
			} else {
				weights[size-1-i] = 1 << (8 * i)
			}
		}
		v := other.Apply("Sum", tfwrap.Attrs{"keep_dims": false}, other.Mul(b, i64s(other, weights...)), other.Scalar(0, tfwrap.Int32))
		if signed {
			wrapped := other.Sub(v, other.Scalar(1<<32, tfwrap.Int64))
			v = other.Apply("Abs", nil, other.Apply("SelectV2", nil,
				other.Apply("GreaterEqual", nil, v, other.Scalar(1<<31, tfwrap.Int64)), wrapped, v))
		}
		// At most 2^31 each (no format this reads allows more), so that a
		// product cannot wrap past int64.
		return other.Minimum(v, other.Scalar(1<<31, tfwrap.Int64))
	}
	magic := func(at int, m string) tfwrap.Output {
		got := other.Apply("Substr", tfwrap.Attrs{"unit": "BYTE"}, pad, other.Scalar(float64(at), tfwrap.Int32), other.Scalar(float64(len(m)), tfwrap.Int32))
		return other.Apply("Equal", tfwrap.Attrs{"incompatible_shape_error": true}, got, strConst(other, m))
	}
	png := other.Mul(field(16, 4, false, false), field(20, 4, false, false))
	bmp := other.Mul(field(18, 4, true, true), field(22, 4, true, true))
	unknown := other.Scalar(-1, tfwrap.Int64)
	sel := func(c, a, b tfwrap.Output) tfwrap.Output { return other.Apply("SelectV2", nil, c, a, b) }
	opix := sel(magic(0, "\x89PNG"), png, sel(magic(0, "BM"), bmp, unknown))
	for _, g := range []*tfwrap.Graph{jpeg, other} {
		if err := g.Err(); err != nil {
			return tfwrap.Output{}, fmt.Errorf("models: export: image header check: %w", err)
		}
	}
	thenFn, elseFn := prefix+"_jpeg_pixels", prefix+"_header_pixels"
	if err := lib.AddFunction(thenFn, jpeg, []tfwrap.Output{jin}, []tfwrap.Output{jpix}); err != nil {
		return tfwrap.Output{}, fmt.Errorf("models: export: %w", err)
	}
	if err := lib.AddFunction(elseFn, other, []tfwrap.Output{oin}, []tfwrap.Output{opix}); err != nil {
		return tfwrap.Output{}, fmt.Errorf("models: export: %w", err)
	}
	head := body.Apply("Substr", tfwrap.Attrs{"unit": "BYTE"},
		body.Apply("StringJoin", tfwrap.Attrs{"separator": ""}, tfwrap.OutputList{encoded, strConst(body, "\x00\x00\x00")}),
		body.Scalar(0, tfwrap.Int32), body.Scalar(3, tfwrap.Int32))
	isJPEG := body.Apply("Equal", tfwrap.Attrs{"incompatible_shape_error": true}, head, strConst(body, "\xff\xd8\xff"))
	pixels := body.Apply("StatelessIf", tfwrap.Attrs{"then_branch": tfwrap.Func{Name: thenFn}, "else_branch": tfwrap.Func{Name: elseFn},
		"Tin": []tfwrap.DType{tfwrap.String}, "Tout": []tfwrap.DType{tfwrap.Int64}, "output_shapes": [][]int64{{}}},
		isJPEG, tfwrap.OutputList{encoded})
	known := body.AddOp(tfwrap.OpSpec{Type: "Assert", Inputs: []tfwrap.Input{
		body.Apply("GreaterEqual", nil, pixels, body.Scalar(0, tfwrap.Int64)),
		tfwrap.OutputList{strConst(body, "image_bytes: not a JPEG, PNG or BMP, the formats whose size this model checks before decoding "+
			"(GIF is refused: its frames can be larger than its header says; WebP and JPEG XL headers are not read)")}}})
	ok := body.Apply("LessEqual", nil, pixels, body.Scalar(float64(maxPixels), tfwrap.Int64))
	msg := fmt.Sprintf("image_bytes: an image declares more pixels than the %d this model decodes (ExportOptions.MaxPixels); pixels declared:", maxPixels)
	check := body.AddOp(tfwrap.OpSpec{Type: "Assert", Inputs: []tfwrap.Input{ok, tfwrap.OutputList{strConst(body, msg), pixels}},
		Attrs: tfwrap.Attrs{"summarize": int64(3)}})
	img := body.AddOp(tfwrap.OpSpec{Type: "DecodeImage", Inputs: []tfwrap.Input{encoded}, ControlInputs: []*tfwrap.Op{known, check},
		Attrs: tfwrap.Attrs{"channels": channels, "dtype": tfwrap.Uint8, "expand_animations": false}})
	if err := body.Err(); err != nil {
		return tfwrap.Output{}, fmt.Errorf("models: export: image header check: %w", err)
	}
	return img.Output(0), nil
}

func i64s(g *tfwrap.Graph, v ...int64) tfwrap.Output {
	t, _ := tfwrap.NewTensor(v, int64(len(v)))
	return g.Const(t)
}

func strConst(g *tfwrap.Graph, s string) tfwrap.Output {
	t, _ := tfwrap.NewStrings([]string{s}, []int64{}...) // a scalar
	return g.Const(t)
}
