package tfwrap

import (
	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// ShapeOf returns x's dynamic shape as an int32 vector.
func (g *Graph) ShapeOf(x Output) Output {
	if !g.check("Shape", x) {
		return Output{}
	}
	return g.add1("Shape", "Shape", []tf.Input{x.out}, map[string]any{"out_type": tf.Int32})
}

// ArgMax returns the int64 index of the largest value along axis.
func (g *Graph) ArgMax(x Output, axis int) Output {
	if !g.check("ArgMax", x) {
		return Output{}
	}
	if r := x.Rank(); r >= 0 && (axis < -r || axis >= r) {
		g.failf("ArgMax of %s: axis %d is out of range for rank %d", x.Name(), axis, r)
		return Output{}
	}
	ax := g.Scalar(float64(axis), Int32)
	return g.add1("ArgMax", "ArgMax", []tf.Input{x.out, ax.out}, map[string]any{"output_type": tf.Int64})
}

// OneHot turns integer class ids into rows of depth values: 1 at the id, 0
// elsewhere, of dtype dt. Ids outside [0, depth) give rows of zeros.
func (g *Graph) OneHot(ids Output, depth int, dt DType) Output {
	if !g.check("OneHot", ids) {
		return Output{}
	}
	if ids.DType() != Int32 && ids.DType() != Int64 && ids.DType() != Uint8 {
		g.failf("OneHot: ids are %v; want an integer type", ids.DType())
		return Output{}
	}
	if depth < 1 {
		g.failf("OneHot: depth %d must be positive", depth)
		return Output{}
	}
	on, off := g.Scalar(1, dt), g.Scalar(0, dt)
	d := g.Scalar(float64(depth), Int32)
	return g.add1("OneHot", "OneHot", []tf.Input{ids.out, d.out, on.out, off.out}, map[string]any{"axis": int64(-1)})
}

// Gather takes the rows (axis 0) of params at indices.
func (g *Graph) Gather(params, indices Output) Output {
	if !g.check("GatherV2", params, indices) {
		return Output{}
	}
	if indices.DType() != Int32 && indices.DType() != Int64 {
		g.failf("Gather: indices are %v; want int32 or int64", indices.DType())
		return Output{}
	}
	ax := g.Scalar(0, Int32)
	return g.add1("GatherV2", "GatherV2", []tf.Input{params.out, indices.out, ax.out}, nil)
}

// Slice takes size elements of the vector x starting at begin (both int32
// scalars computed in the graph).
func (g *Graph) Slice(x, begin, size Output) Output {
	if !g.check("Slice", x, begin, size) {
		return Output{}
	}
	if begin.DType() != Int32 || size.DType() != Int32 {
		g.failf("Slice: begin and size must be int32")
		return Output{}
	}
	b := g.Reshape(begin, 1)
	s := g.Reshape(size, 1)
	if !b.Valid() || !s.Valid() {
		return Output{}
	}
	return g.add1("Slice", "Slice", []tf.Input{x.out, b.out, s.out}, nil)
}

// ExpandDims inserts an axis of size 1 at axis.
func (g *Graph) ExpandDims(x Output, axis int) Output {
	if !g.check("ExpandDims", x) {
		return Output{}
	}
	if r := x.Rank(); r >= 0 && (axis < -r-1 || axis > r) {
		g.failf("ExpandDims of %s: axis %d is out of range for rank %d", x.Name(), axis, r)
		return Output{}
	}
	return g.add1("ExpandDims", "ExpandDims", []tf.Input{x.out, g.Scalar(float64(axis), Int32).out}, nil)
}
