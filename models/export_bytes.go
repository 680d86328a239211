package models

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// ExportOptions choose what ExportWith adds to the SavedModel.
type ExportOptions struct {
	// ImageBytes adds a signature "serving_bytes" for a model of one image
	// input (height, width, channels of values 0–255): its input
	// "image_bytes" takes encoded images (JPEG, PNG or BMP, a batch of
	// strings, as TF Serving clients send {"b64": …}), decoded and resized
	// in the graph as data/imagefolder and Keras's
	// image_dataset_from_directory do (DecodeImage, then ResizeBilinear
	// with half-pixel centers), and its outputs are the model's.
	ImageBytes bool
	// MaxPixels refuses, in the graph and before decoding, an image sent
	// to serving_bytes whose header declares more pixels than this
	// (0: DefaultMaxImagePixels), with an InvalidArgument error; so is
	// any other format (GIF, WebP, JPEG XL), whose size the graph cannot
	// check before decoding.
	MaxPixels int64
}

// ImageBytesSignature is the signature key ExportOptions.ImageBytes adds.
const ImageBytesSignature = "serving_bytes"

var bytesFuncs atomic.Int64

// ExportWith is Export with options. The model must not be training.
func (m *Model) ExportWith(dir string, o ExportOptions) error {
	if !o.ImageBytes {
		return m.Export(dir)
	}
	if err := m.lockMutable("export"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	c, err := m.session()
	if err != nil {
		return fmt.Errorf("models: export: %w", err)
	}
	if c.opts.Distribute != nil {
		return errors.New("models: export: image bytes: not for a distributed model; export a model compiled in one process")
	}
	if len(m.inputs) != 1 || len(m.inputs[0].shape) != 3 || (m.inputs[0].shape[2] != 1 && m.inputs[0].shape[2] != 3) {
		return fmt.Errorf("models: export: image bytes: the model takes %v; want one image input (height, width, 1 or 3)", m.InputShapes())
	}
	if o.MaxPixels < 0 {
		return fmt.Errorf("models: export: image bytes: MaxPixels %d: want 0 (the default, %d) or more", o.MaxPixels, DefaultMaxImagePixels)
	}
	if o.MaxPixels == 0 {
		o.MaxPixels = DefaultMaxImagePixels
	}
	s := m.inputs[0].shape
	h, w, ch := s[0], s[1], s[2]

	if c.bytesSig == nil { // made once: a second export reuses it
		sig, err := m.bytesSignature(c, h, w, ch, o.MaxPixels)
		if err != nil {
			return err
		}
		c.bytesSig = sig
	}
	floats := tfwrap.SignatureDef{Inputs: map[string]tfwrap.Output{}, Outputs: map[string]tfwrap.Output{}}
	for i, x := range c.xs {
		floats.Inputs[c.inNames[i]] = x
	}
	for i, o := range c.outs {
		floats.Outputs[m.outNames[i]] = o.pred
	}
	sigs := map[string]tfwrap.SignatureDef{tfwrap.DefaultSignature: floats, ImageBytesSignature: *c.bytesSig}
	if err := c.sess.WriteSavedModel(c.weightsSaver, dir, sigs); err != nil {
		return fmt.Errorf("models: export: %w", err)
	}
	return nil
}

// bytesSignature adds to the model's graph the decoding of a batch of
// encoded images and a second inference pass over them (sharing the
// weights), and returns its signature.
func (m *Model) bytesSignature(c *compiled, h, w, ch, maxPixels int64) (*tfwrap.SignatureDef, error) {
	// decode: one encoded image in, its header checked, one resized float
	// image out.
	fn := fmt.Sprintf("decode_image_%d", bytesFuncs.Add(1))
	body := tfwrap.NewGraph()
	in := body.Placeholder("encoded", tfwrap.String)
	img, err := checkedDecode(c.g, body, in, ch, maxPixels, fn)
	if err != nil {
		return nil, err
	}
	size, err := tfwrap.NewTensor([]int32{int32(h), int32(w)}, 2)
	if err != nil {
		return nil, err
	}
	resized := body.Apply("ResizeBilinear", tfwrap.Attrs{"align_corners": false, "half_pixel_centers": true},
		body.ExpandDims(img, 0), body.Const(size))
	out := body.Reshape(resized, h, w, ch)
	g := c.g.WithScope(ImageBytesSignature)
	if err := c.g.AddFunction(fn, body, []tfwrap.Output{in}, []tfwrap.Output{out}); err != nil {
		return nil, fmt.Errorf("models: export: %w", err)
	}
	// A batch of strings → tf.data: decode each, batch them all, one element.
	bytesIn := g.Placeholder("image_bytes", tfwrap.String, -1)
	batch := []int64{-1, h, w, ch}
	types := []tfwrap.DType{tfwrap.Float32}
	ds := g.Apply("TensorSliceDataset", tfwrap.Attrs{"Toutput_types": []tfwrap.DType{tfwrap.String}, "output_shapes": [][]int64{{}}},
		tfwrap.OutputList{bytesIn})
	ds = g.Apply("ParallelMapDatasetV2", tfwrap.Attrs{"f": tfwrap.Func{Name: fn}, "Targuments": []tfwrap.DType{},
		"output_types": types, "output_shapes": [][]int64{{h, w, ch}}, "deterministic": "true", "preserve_cardinality": true},
		ds, tfwrap.OutputList{}, g.Scalar(-1, tfwrap.Int64))
	n := g.Cast(g.Apply("Size", tfwrap.Attrs{"out_type": tfwrap.Int64}, bytesIn), tfwrap.Int64)
	ds = g.Apply("BatchDatasetV2", tfwrap.Attrs{"output_types": types, "output_shapes": [][]int64{batch}},
		ds, g.Maximum(n, g.Scalar(1, tfwrap.Int64)), g.Const(tfwrap.Scalar(false)))
	decoded := g.Apply("DatasetToSingleElement", tfwrap.Attrs{"output_types": types, "output_shapes": [][]int64{batch}}, ds)
	res, err := m.forward(g, &layers.Context{}, c.opts.Seed, []tfwrap.Output{decoded}, nil)
	if err != nil {
		return nil, fmt.Errorf("models: export: image bytes: %w", err)
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("models: export: image bytes: %w", err)
	}
	sig := &tfwrap.SignatureDef{Inputs: map[string]tfwrap.Output{"image_bytes": bytesIn}, Outputs: map[string]tfwrap.Output{}}
	for i := range c.outs {
		sig.Outputs[m.outNames[i]] = res[i].pred.Out
	}
	return sig, nil
}
