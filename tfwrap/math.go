package tfwrap

import (
	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// unary adds an elementwise op of one input; floatOnly ops reject integers.
func (g *Graph) unary(typ string, x Output, floatOnly bool) Output {
	if !g.check(typ, x) {
		return Output{}
	}
	if floatOnly && !x.DType().IsFloat() {
		g.failf("%s: needs a float input, got %v (%s)", typ, x.DType(), x.Name())
		return Output{}
	}
	return g.add1(typ, typ, []tf.Input{x.out}, nil)
}

// Neg returns -x.
func (g *Graph) Neg(x Output) Output { return g.unary("Neg", x, false) }

// Abs returns |x|.
func (g *Graph) Abs(x Output) Output { return g.unary("Abs", x, false) }

// Square returns x*x.
func (g *Graph) Square(x Output) Output { return g.unary("Square", x, false) }

// Sqrt returns the square root of x.
func (g *Graph) Sqrt(x Output) Output { return g.unary("Sqrt", x, true) }

// Exp returns e^x.
func (g *Graph) Exp(x Output) Output { return g.unary("Exp", x, true) }

// Log returns the natural logarithm of x.
func (g *Graph) Log(x Output) Output { return g.unary("Log", x, true) }

// Sin returns sin(x).
func (g *Graph) Sin(x Output) Output { return g.unary("Sin", x, true) }

// Cos returns cos(x).
func (g *Graph) Cos(x Output) Output { return g.unary("Cos", x, true) }

// Tanh returns tanh(x).
func (g *Graph) Tanh(x Output) Output { return g.unary("Tanh", x, true) }

// Sigmoid returns 1/(1+e^-x).
func (g *Graph) Sigmoid(x Output) Output { return g.unary("Sigmoid", x, true) }

// Relu returns max(x, 0).
func (g *Graph) Relu(x Output) Output { return g.unary("Relu", x, false) }

// Relu6 returns min(max(x, 0), 6).
func (g *Graph) Relu6(x Output) Output { return g.unary("Relu6", x, false) }

// LeakyRelu returns x where x >= 0 and alpha*x elsewhere.
func (g *Graph) LeakyRelu(x Output, alpha float64) Output {
	if !g.check("LeakyRelu", x) {
		return Output{}
	}
	if !x.DType().IsFloat() {
		g.failf("LeakyRelu: needs a float input, got %v (%s)", x.DType(), x.Name())
		return Output{}
	}
	return g.add1("LeakyRelu", "LeakyRelu", []tf.Input{x.out}, map[string]any{"alpha": float32(alpha)})
}

// binary adds an elementwise op of two inputs after checking in Go that
// their dtypes match and their static shapes broadcast.
func (g *Graph) binary(typ string, a, b Output) Output {
	if !g.check(typ, a, b) {
		return Output{}
	}
	if a.DType() != b.DType() {
		g.failf("%s: dtype mismatch: %s is %v, %s is %v", typ, a.Name(), a.DType(), b.Name(), b.DType())
		return Output{}
	}
	if sa, sb := a.Shape(), b.Shape(); sa != nil && sb != nil {
		if _, err := shape.Broadcast(sa, sb); err != nil {
			g.failf("%s(%s, %s): %v", typ, a.Name(), b.Name(), err)
			return Output{}
		}
	}
	return g.add1(typ, typ, []tf.Input{a.out, b.out}, nil)
}

// Add returns a+b with broadcasting.
func (g *Graph) Add(a, b Output) Output { return g.binary("AddV2", a, b) }

// Sub returns a-b with broadcasting.
func (g *Graph) Sub(a, b Output) Output { return g.binary("Sub", a, b) }

// Mul returns a*b (elementwise) with broadcasting.
func (g *Graph) Mul(a, b Output) Output { return g.binary("Mul", a, b) }

// Div returns a/b with broadcasting: true division for floats, truncating
// for integers.
func (g *Graph) Div(a, b Output) Output {
	if a.Valid() && a.DType().IsFloat() {
		return g.binary("RealDiv", a, b)
	}
	return g.binary("Div", a, b)
}

// Pow returns a^b with broadcasting.
func (g *Graph) Pow(a, b Output) Output { return g.binary("Pow", a, b) }

// Maximum returns the elementwise maximum, as tf.maximum.
func (g *Graph) Maximum(a, b Output) Output { return g.binary("Maximum", a, b) }

// Minimum returns the elementwise minimum, as tf.minimum.
func (g *Graph) Minimum(a, b Output) Output { return g.binary("Minimum", a, b) }

// Equal returns a bool tensor, true where a == b.
func (g *Graph) Equal(a, b Output) Output { return g.binary("Equal", a, b) }

// MatMul returns the matrix product a·b of two rank-2 tensors.
func (g *Graph) MatMul(a, b Output) Output { return g.MatMulT(a, b, false, false) }

// MatMulT returns op(a)·op(b) where op transposes when ta or tb is set.
func (g *Graph) MatMulT(a, b Output, ta, tb bool) Output {
	if !g.check("MatMul", a, b) {
		return Output{}
	}
	if a.DType() != b.DType() {
		g.failf("MatMul: dtype mismatch: %s is %v, %s is %v", a.Name(), a.DType(), b.Name(), b.DType())
		return Output{}
	}
	if sa, sb := a.Shape(), b.Shape(); sa != nil && sb != nil {
		if _, err := shape.MatMul(sa, sb, ta, tb); err != nil {
			g.failf("MatMul(%s, %s): %v", a.Name(), b.Name(), err)
			return Output{}
		}
	}
	return g.add1("MatMul", "MatMul", []tf.Input{a.out, b.out},
		map[string]any{"transpose_a": ta, "transpose_b": tb})
}

// reduce adds a reduction over axes (all axes when none are given).
func (g *Graph) reduce(typ string, x Output, keep bool, axes []int) Output {
	if !g.check(typ, x) {
		return Output{}
	}
	rank := x.Rank()
	var idx []int32
	if len(axes) == 0 {
		if rank < 0 {
			g.failf("%s of %s: rank unknown; give the axes", typ, x.Name())
			return Output{}
		}
		for i := 0; i < rank; i++ {
			idx = append(idx, int32(i))
		}
	} else {
		if rank >= 0 {
			if _, err := shape.NormalizeAxes(rank, axes); err != nil {
				g.failf("%s of %s: %v", typ, x.Name(), err)
				return Output{}
			}
		}
		for _, a := range axes {
			idx = append(idx, int32(a))
		}
	}
	t, err := NewTensor(idx)
	if err != nil {
		g.fail(err)
		return Output{}
	}
	ax := g.Const(t)
	if !ax.Valid() {
		return Output{}
	}
	return g.add1(typ, typ, []tf.Input{x.out, ax.out}, map[string]any{"keep_dims": keep})
}

// Sum adds up x over axes (all axes when none are given), as tf.reduce_sum.
func (g *Graph) Sum(x Output, axes ...int) Output { return g.reduce("Sum", x, false, axes) }

// Mean averages x over axes (all axes when none are given), as tf.reduce_mean.
func (g *Graph) Mean(x Output, axes ...int) Output { return g.reduce("Mean", x, false, axes) }

// Max takes the maximum of x over axes (all when none are given).
func (g *Graph) Max(x Output, axes ...int) Output { return g.reduce("Max", x, false, axes) }

// Min takes the minimum of x over axes (all when none are given).
func (g *Graph) Min(x Output, axes ...int) Output { return g.reduce("Min", x, false, axes) }

// SumKeepDims is Sum with the reduced axes kept as size 1.
func (g *Graph) SumKeepDims(x Output, axes ...int) Output { return g.reduce("Sum", x, true, axes) }

// MeanKeepDims is Mean with the reduced axes kept as size 1.
func (g *Graph) MeanKeepDims(x Output, axes ...int) Output { return g.reduce("Mean", x, true, axes) }

// MaxKeepDims is Max with the reduced axes kept as size 1.
func (g *Graph) MaxKeepDims(x Output, axes ...int) Output { return g.reduce("Max", x, true, axes) }

// Cast converts x to dtype dt.
func (g *Graph) Cast(x Output, dt DType) Output {
	if !g.check("Cast", x) {
		return Output{}
	}
	if !dt.Valid() || dt == String || x.DType() == String {
		g.failf("Cast of %s: cannot cast %v to %v", x.Name(), x.DType(), dt)
		return Output{}
	}
	return g.add1("Cast", "Cast", []tf.Input{x.out}, map[string]any{"SrcT": x.out.DataType(), "DstT": tfType(dt)})
}

// Reshape gives x a new shape with the same number of elements; one
// dimension may be -1 and is then inferred.
func (g *Graph) Reshape(x Output, dims ...int64) Output {
	if !g.check("Reshape", x) {
		return Output{}
	}
	if in := x.Shape(); in != nil {
		if _, err := shape.Reshape(in, dims); err != nil {
			g.failf("Reshape of %s: %v", x.Name(), err)
			return Output{}
		}
	}
	t, err := NewTensor(dims)
	if err != nil {
		g.fail(err)
		return Output{}
	}
	sh := g.Const(t)
	if !sh.Valid() {
		return Output{}
	}
	return g.add1("Reshape", "Reshape", []tf.Input{x.out, sh.out}, nil)
}

// Log1p returns log(1 + x), accurate for small x.
func (g *Graph) Log1p(x Output) Output { return g.unary("Log1p", x, true) }

// Greater returns a bool tensor, true where a > b.
func (g *Graph) Greater(a, b Output) Output { return g.binary("Greater", a, b) }

// Prod multiplies x over axes (all axes when none are given).
func (g *Graph) Prod(x Output, axes ...int) Output { return g.reduce("Prod", x, false, axes) }
