package tfwrap

import (
	"errors"
	"fmt"
	"os"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// ImageOptions configures an ImageDecoder.
type ImageOptions struct {
	Height, Width int // the size images are resized to
	Channels      int // 1 (grayscale) or 3 (RGB)
	// Pixels are scaled to [0, 1] (k/255) and then mapped to
	// (x - Mean) / Std; the zero values mean Mean 0 and Std 1. MobileNetV2's
	// [-1, 1] is Mean 0.5, Std 0.5.
	Mean, Std float64
}

// ImageDecoder turns JPEG or PNG bytes into a float32 (height, width,
// channels) tensor with TensorFlow's own image ops: DecodeImage, a bilinear
// resize as tf.image.resize does it (half-pixel centers), and the scaling
// of ImageOptions. It owns a small graph and session, built once: Close it.
// Safe for concurrent use.
type ImageDecoder struct {
	opts     ImageOptions
	sess     *Session
	contents Output
	out      Output
}

// NewImageDecoder builds the decoding graph.
func NewImageDecoder(opts ImageOptions) (*ImageDecoder, error) {
	if opts.Height < 1 || opts.Width < 1 || opts.Height > 1<<14 || opts.Width > 1<<14 {
		return nil, fmt.Errorf("tfwrap: image decoder: size %d×%d must be between 1 and 16384", opts.Height, opts.Width)
	}
	if opts.Channels != 1 && opts.Channels != 3 {
		return nil, fmt.Errorf("tfwrap: image decoder: channels %d must be 1 or 3", opts.Channels)
	}
	if opts.Std == 0 {
		opts.Std = 1
	}
	if opts.Std < 0 {
		return nil, fmt.Errorf("tfwrap: image decoder: std %v must be positive", opts.Std)
	}
	g := NewGraph()
	d := &ImageDecoder{opts: opts}
	d.contents = g.Placeholder("contents", String)
	decoded := g.add1("DecodeImage", "DecodeImage", []tf.Input{d.contents.out}, map[string]any{
		"channels": int64(opts.Channels), "dtype": tf.Uint8, "expand_animations": false,
	})
	x := g.Div(g.Cast(decoded, Float32), g.Scalar(255, Float32))
	batch := g.ExpandDims(x, 0)
	if !g.check("ResizeBilinear", batch) {
		return nil, g.Err()
	}
	size, err := NewTensor([]int32{int32(opts.Height), int32(opts.Width)})
	if err != nil {
		return nil, err
	}
	resized := g.add1("ResizeBilinear", "ResizeBilinear", []tf.Input{batch.out, g.Const(size).out},
		map[string]any{"align_corners": false, "half_pixel_centers": true})
	norm := g.Div(g.Sub(resized, g.Scalar(opts.Mean, Float32)), g.Scalar(opts.Std, Float32))
	d.out = g.Reshape(norm, int64(opts.Height), int64(opts.Width), int64(opts.Channels))
	if d.sess, err = g.NewSession(); err != nil {
		return nil, fmt.Errorf("tfwrap: image decoder: %w", err)
	}
	return d, nil
}

// Decode decodes one JPEG, PNG, GIF or BMP image. Bytes that are no image
// give an error.
func (d *ImageDecoder) Decode(data []byte) (*Tensor, error) {
	if len(data) == 0 {
		return nil, errors.New("tfwrap: decode image: no bytes")
	}
	c, err := NewStrings([]string{string(data)}, []int64{}...)
	if err != nil {
		return nil, err
	}
	t, err := d.sess.Eval(d.out, Feeds{d.contents: c})
	if err != nil {
		return nil, fmt.Errorf("tfwrap: decode image: %w", err)
	}
	return t, nil
}

// DecodeFile reads and decodes the image at path.
func (d *ImageDecoder) DecodeFile(path string) (*Tensor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tfwrap: decode image: %w", err)
	}
	t, err := d.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Close releases the decoder's session. It is idempotent.
func (d *ImageDecoder) Close() error {
	if d == nil {
		return nil
	}
	return d.sess.Close()
}
