package tfwrap

import (
	"fmt"
	"math"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// Gradients TensorFlow defines only in Python (tensorflow/python/ops/
// *_grad.py), written again in Go, for the ops Keras-style layers, losses
// and optimizers use. Each follows the Python function of the same op; the
// tests compare them with tf.GradientTape and with finite differences.
func init() {
	for typ, fn := range map[string]GradFunc{
		"SparseSoftmaxCrossEntropyWithLogits": sparseXentGrad,
		"ResourceGather":                      resourceGatherGrad,
		"EnsureShape":                         identityGrad,
		"PlaceholderWithDefault":              identityGrad,
		"IdentityN":                           identityNGrad,
		"Erfc":                                erfcGrad,
		"Xlogy":                               xlogyGrad,
		"Xdivy":                               xdivyGrad,
		"Xlog1py":                             xlog1pyGrad,
		"FloorMod":                            floorModGrad,
		"Cumprod":                             cumprodGrad,
		"TensorScatterAdd":                    tensorScatterGrad(1),
		"TensorScatterSub":                    tensorScatterGrad(-1),
		"TensorScatterUpdate":                 tensorScatterGrad(0),
		"SparseSegmentSum":                    sparseSegmentGrad("SparseSegmentSumGrad"),
		"SparseSegmentMean":                   sparseSegmentGrad("SparseSegmentMeanGrad"),
		"SparseSegmentSqrtN":                  sparseSegmentGrad("SparseSegmentSqrtNGrad"),
		// Piecewise constant: Python registers None as their gradient.
		"Round":    noGrad,
		"Rint":     noGrad,
		"Ceil":     noGrad,
		"FloorDiv": noGrad,
		"OnesLike": noGrad,
		// The gradients of Relu's and Relu6's gradients, for gradients
		// of gradients (nn_grad.py _ReluGradGrad, _Relu6GradGrad).
		"ReluGrad":  gradOfGrad("ReluGrad"),
		"Relu6Grad": gradOfGrad("Relu6Grad"),
	} {
		if !HasCppGradient(typ) { // a later TensorFlow may add one: it wins
			goGrads.m[typ] = fn
		}
	}
	// Gradients TF's C++ registry has, but written as Python writes them,
	// because Grappler optimizes the result better: C++'s Relu gradient
	// reads the Relu's input, which gives the BiasAdd before it a second
	// consumer and keeps the remapper from fusing Conv2D/MatMul + BiasAdd +
	// Relu in training graphs; Python's (nn_grad.py _ReluGrad) reads the
	// output, as here. ReluGrad(dy, y) equals ReluGrad(dy, x), since y > 0
	// exactly where x > 0.
	for typ, fn := range map[string]GradFunc{
		"Relu":  outputGrad("ReluGrad"),
		"Relu6": outputGrad("Relu6Grad"),
	} {
		goGrads.m[typ] = fn
	}
}

// outputGrad is the gradient of a one-input activation whose gradient op
// (ReluGrad, Relu6Grad) takes dy and the activation's output.
func outputGrad(gradOp string) GradFunc {
	return func(g *Graph, op *Op, dys []Output) ([]Output, error) {
		return []Output{gop(g, gradOp, nil, dys[0], op.Output(0))}, nil
	}
}

// gradOfGrad is the gradient of ReluGrad or Relu6Grad (dy, features): the
// same op on the incoming gradient for dy, none for the features, whose
// gradient is zero wherever it is defined.
func gradOfGrad(gradOp string) GradFunc {
	return func(g *Graph, op *Op, dys []Output) ([]Output, error) {
		return []Output{gop(g, gradOp, nil, dys[0], op.Input(1)), {}}, nil
	}
}

// gop adds one op of type typ on ins, or records why not.
func gop(g *Graph, typ string, attrs map[string]any, ins ...Output) Output {
	if !g.check(typ, ins...) {
		return Output{}
	}
	in := make([]tf.Input, len(ins))
	for i, x := range ins {
		in[i] = x.out
	}
	return g.add1(typ, typ, in, attrs)
}

func i32(g *Graph, v ...int32) Output {
	t, err := NewTensor(v, int64(len(v)))
	if err != nil {
		g.fail(err)
		return Output{}
	}
	return g.Const(t)
}

// unbroadcast sums dx and dy over the axes along which x and y were
// broadcast, giving gradients of x's and y's own shapes.
func unbroadcast(g *Graph, x, y, dx, dy Output) (Output, Output) {
	sx, sy := gop(g, "Shape", nil, x), gop(g, "Shape", nil, y)
	if !g.check("BroadcastGradientArgs", sx, sy) {
		return Output{}, Output{}
	}
	op := g.add("BroadcastGradientArgs", "BroadcastGradientArgs", []tf.Input{sx.out, sy.out}, nil)
	if op == nil {
		return Output{}, Output{}
	}
	rx, ry := Output{st: g.st, out: op.Output(0)}, Output{st: g.st, out: op.Output(1)}
	keep := map[string]any{"keep_dims": false}
	gx := gop(g, "Reshape", nil, gop(g, "Sum", keep, dx, rx), sx)
	gy := gop(g, "Reshape", nil, gop(g, "Sum", keep, dy, ry), sy)
	return gx, gy
}

func noGrad(_ *Graph, op *Op, _ []Output) ([]Output, error) {
	return make([]Output, op.NumInputs()), nil
}

func identityGrad(_ *Graph, op *Op, dys []Output) ([]Output, error) {
	out := make([]Output, op.NumInputs())
	out[0] = dys[0]
	return out, nil
}

func identityNGrad(_ *Graph, _ *Op, dys []Output) ([]Output, error) {
	return append([]Output{}, dys...), nil
}

// sparseXentGrad: d loss_i / d logits_i = softmax_i - onehot(label_i), which
// the op's second output ("backprop") already holds. Like Python, the
// gradient flowing into that second output is not differentiated further.
func sparseXentGrad(g *Graph, op *Op, dys []Output) ([]Output, error) {
	if !dys[0].Valid() {
		return nil, fmt.Errorf("the gradient of its backprop output is not defined (TensorFlow prevents it too)")
	}
	return []Output{g.Mul(g.ExpandDims(dys[0], -1), op.Output(1)), {}}, nil
}

// resourceGatherGrad returns a dense gradient for the variable read through
// the handle: the rows of dy summed into the rows they were gathered from.
// (Python returns IndexedSlices; densified, they are the same numbers.)
func resourceGatherGrad(g *Graph, op *Op, dys []Output) ([]Output, error) {
	if bd, err := op.Attr("batch_dims"); err == nil && bd != int64(0) {
		return nil, fmt.Errorf("batch_dims=%v is not supported", bd)
	}
	handle, indices := op.Input(0), op.Input(1)
	shape := gop(g, "VariableShape", map[string]any{"out_type": tf.Int32}, handle)
	rows := gop(g, "GatherV2", nil, shape, g.Const(Scalar(int32(0))), g.Const(Scalar(int32(0))))
	inner := gop(g, "Slice", nil, shape, i32(g, 1), i32(g, -1))
	if !g.check("ConcatV2", inner) {
		return nil, g.Err()
	}
	flat := g.add1("ConcatV2", "ConcatV2", []tf.Input{tf.OutputList{i32(g, -1).out, inner.out}, g.Const(Scalar(int32(0))).out}, nil)
	data := gop(g, "Reshape", nil, dys[0], flat)
	ids := gop(g, "Reshape", nil, indices, i32(g, -1))
	return []Output{gop(g, "UnsortedSegmentSum", nil, data, ids, rows), {}}, nil
}

func erfcGrad(g *Graph, op *Op, dys []Output) ([]Output, error) {
	x := op.Input(0)
	c := g.Scalar(-2/math.Sqrt(math.Pi), x.DType())
	return []Output{g.Mul(dys[0], g.Mul(c, g.Exp(g.Neg(g.Square(x)))))}, nil
}

// notZero is 1 where x != 0, else 0, in x's dtype.
func notZero(g *Graph, x Output) Output {
	z := gop(g, "NotEqual", nil, x, g.ZerosLike(x))
	return g.Cast(z, x.DType())
}

func xlogyGrad(g *Graph, op *Op, dys []Output) ([]Output, error) {
	x, y := op.Input(0), op.Input(1)
	px := gop(g, "Xlogy", nil, notZero(g, x), y)
	py := gop(g, "Xdivy", nil, x, y)
	gx, gy := unbroadcast(g, x, y, g.Mul(px, dys[0]), g.Mul(py, dys[0]))
	return []Output{gx, gy}, nil
}

func xdivyGrad(g *Graph, op *Op, dys []Output) ([]Output, error) {
	x, y := op.Input(0), op.Input(1)
	px := gop(g, "Xdivy", nil, notZero(g, x), y)
	py := gop(g, "Xdivy", nil, g.Neg(x), g.Square(y))
	gx, gy := unbroadcast(g, x, y, g.Mul(px, dys[0]), g.Mul(py, dys[0]))
	return []Output{gx, gy}, nil
}

func xlog1pyGrad(g *Graph, op *Op, dys []Output) ([]Output, error) {
	x, y := op.Input(0), op.Input(1)
	px := gop(g, "Xlog1py", nil, notZero(g, x), y)
	py := gop(g, "Xdivy", nil, x, g.Add(y, g.Scalar(1, y.DType())))
	gx, gy := unbroadcast(g, x, y, g.Mul(px, dys[0]), g.Mul(py, dys[0]))
	return []Output{gx, gy}, nil
}

// floorModGrad: x - floor(x/y)*y has slope 1 in x and -floor(x/y) in y.
func floorModGrad(g *Graph, op *Op, dys []Output) ([]Output, error) {
	x, y := op.Input(0), op.Input(1)
	fxy := gop(g, "FloorDiv", nil, x, y)
	gx, gy := unbroadcast(g, x, y, dys[0], g.Mul(dys[0], g.Neg(fxy)))
	return []Output{gx, gy}, nil
}

// cumprodGrad follows Python: cumsum(cumprod(x) * dy, reversed) / x (so, as
// there, not finite where x is 0).
func cumprodGrad(g *Graph, op *Op, dys []Output) ([]Output, error) {
	x, axis := op.Input(0), op.Input(1)
	excl, err := op.Attr("exclusive")
	if err != nil {
		return nil, err
	}
	rev, err := op.Attr("reverse")
	if err != nil {
		return nil, err
	}
	r, _ := rev.(bool)
	prod := gop(g, "Cumprod", map[string]any{"exclusive": excl, "reverse": r}, x, axis)
	sum := gop(g, "Cumsum", map[string]any{"exclusive": excl, "reverse": !r}, g.Mul(prod, dys[0]), axis)
	return []Output{g.Div(sum, x), {}}, nil
}

// tensorScatterGrad for TensorScatterAdd (sign 1), Sub (-1) and Update (0):
// the tensor gets dy (with the updated slots zeroed for Update), the
// updates the slots of dy they went to.
func tensorScatterGrad(sign int) GradFunc {
	return func(g *Graph, op *Op, dys []Output) ([]Output, error) {
		dy, indices, updates := dys[0], op.Input(1), op.Input(2)
		du := gop(g, "GatherNd", nil, dy, indices)
		dt := dy
		switch sign {
		case -1:
			du = g.Neg(du)
		case 0:
			dt = gop(g, "TensorScatterUpdate", nil, dy, indices, g.ZerosLike(updates))
		}
		return []Output{dt, {}, du}, nil
	}
}

// sparseSegmentGrad maps dy back to data's rows with TF's own
// SparseSegment*Grad kernels, as Python does.
func sparseSegmentGrad(kernel string) GradFunc {
	return func(g *Graph, op *Op, dys []Output) ([]Output, error) {
		data, indices, segs := op.Input(0), op.Input(1), op.Input(2)
		rows := gop(g, "GatherV2", nil, gop(g, "Shape", nil, data), g.Const(Scalar(int32(0))), g.Const(Scalar(int32(0))))
		return []Output{gop(g, kernel, nil, dys[0], indices, segs, rows), {}, {}}, nil
	}
}
