package layers

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

type reshape struct {
	base
	target []int64
}

// Reshape gives each sample the target shape, as keras.layers.Reshape; one
// dimension may be -1 and is inferred from the sample's size.
func Reshape(target []int64, opts ...Option) Layer {
	c := newConfig(opts)
	return &reshape{base: base{name: c.name, cfg: c}, target: append([]int64{}, target...)}
}

func (l *reshape) Type() string { return "Reshape" }

func (l *reshape) OutputShape(in []int64) ([]int64, error) {
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	if len(l.target) == 0 {
		return nil, fmt.Errorf("%s: Reshape needs a target shape", l.name)
	}
	total := product(in)
	infer := -1
	size := int64(1)
	for i, d := range l.target {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d == -1:
			return nil, fmt.Errorf("%s: target shape %v has more than one -1", l.name, l.target)
		case d < 1:
			return nil, fmt.Errorf("%s: target shape %v: dimensions must be positive or one -1", l.name, l.target)
		case d > total/size:
			return nil, fmt.Errorf("%s: cannot reshape %v (%d elements) to %v", l.name, in, total, l.target)
		default:
			size *= d
		}
	}
	out := append([]int64{}, l.target...)
	if infer >= 0 {
		if total%size != 0 {
			return nil, fmt.Errorf("%s: cannot reshape %v (%d elements) to %v", l.name, in, total, l.target)
		}
		out[infer] = total / size
	} else if size != total {
		return nil, fmt.Errorf("%s: cannot reshape %v (%d elements) to %v (%d elements)", l.name, in, total, l.target, size)
	}
	return out, nil
}

func (l *reshape) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *reshape) Weights() []*tfwrap.Variable       { return nil }

func (l *reshape) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	s := x.Shape()
	if len(s) < 1 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v has no batch axis", l.name, x)
	}
	out, err := l.OutputShape(s[1:])
	if err != nil {
		return tfwrap.Output{}, fmt.Errorf("layer %w", err)
	}
	return built(l.name, ctx.Graph, ctx.Graph.Reshape(x, append([]int64{-1}, out...)...))
}

type permute struct {
	base
	dims []int
}

// Permute reorders each sample's axes, as keras.layers.Permute: dims is a
// permutation of 1..rank (1-based, the batch axis left out), and output
// axis i is input axis dims[i].
func Permute(dims []int, opts ...Option) Layer {
	c := newConfig(opts)
	return &permute{base: base{name: c.name, cfg: c}, dims: append([]int{}, dims...)}
}

func (l *permute) Type() string { return "Permute" }

func (l *permute) OutputShape(in []int64) ([]int64, error) {
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	if len(l.dims) != len(in) {
		return nil, fmt.Errorf("%s: dims %v must permute the %d axes of %v", l.name, l.dims, len(in), in)
	}
	seen := make([]bool, len(in))
	out := make([]int64, len(in))
	for i, d := range l.dims {
		if d < 1 || d > len(in) || seen[d-1] {
			return nil, fmt.Errorf("%s: dims %v is not a permutation of 1..%d", l.name, l.dims, len(in))
		}
		seen[d-1] = true
		out[i] = in[d-1]
	}
	return out, nil
}

func (l *permute) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *permute) Weights() []*tfwrap.Variable       { return nil }

func (l *permute) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	s := x.Shape()
	if len(s) < 1 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v has no batch axis", l.name, x)
	}
	if _, err := l.OutputShape(s[1:]); err != nil {
		return tfwrap.Output{}, fmt.Errorf("layer %w", err)
	}
	perm := []int32{0}
	for _, d := range l.dims {
		perm = append(perm, int32(d))
	}
	p, err := tfwrap.NewTensor(perm)
	if err != nil {
		return tfwrap.Output{}, err
	}
	g := ctx.Graph
	return built(l.name, g, g.Apply("Transpose", nil, x, g.Const(p)))
}

type zeroPadding2D struct {
	base
	pad [2][2]int64 // (top, bottom), (left, right)
}

// ZeroPadding2D adds rows of zeros above and below and columns of zeros
// left and right of each NHWC image, as
// keras.layers.ZeroPadding2D(((top, bottom), (left, right))).
func ZeroPadding2D(top, bottom, left, right int, opts ...Option) Layer {
	c := newConfig(opts)
	return &zeroPadding2D{base: base{name: c.name, cfg: c},
		pad: [2][2]int64{{int64(top), int64(bottom)}, {int64(left), int64(right)}}}
}

func (l *zeroPadding2D) Type() string { return "ZeroPadding2D" }

func (l *zeroPadding2D) OutputShape(in []int64) ([]int64, error) {
	if len(in) != 3 {
		return nil, fmt.Errorf("%s: ZeroPadding2D takes images (height, width, channels) per sample, got %v", l.name, in)
	}
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	for _, p := range l.pad {
		if p[0] < 0 || p[1] < 0 {
			return nil, fmt.Errorf("%s: padding %v must not be negative", l.name, l.pad)
		}
	}
	return []int64{in[0] + l.pad[0][0] + l.pad[0][1], in[1] + l.pad[1][0] + l.pad[1][1], in[2]}, nil
}

func (l *zeroPadding2D) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *zeroPadding2D) Weights() []*tfwrap.Variable       { return nil }

func (l *zeroPadding2D) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	s := x.Shape()
	if len(s) != 4 {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v is not a batch of NHWC images", l.name, x)
	}
	if _, err := l.OutputShape(s[1:]); err != nil {
		return tfwrap.Output{}, fmt.Errorf("layer %w", err)
	}
	p, err := tfwrap.NewTensor([]int32{0, 0, int32(l.pad[0][0]), int32(l.pad[0][1]), int32(l.pad[1][0]), int32(l.pad[1][1]), 0, 0}, 4, 2)
	if err != nil {
		return tfwrap.Output{}, err
	}
	g := ctx.Graph
	return built(l.name, g, g.Apply("Pad", nil, x, g.Const(p)))
}

type rescaling struct {
	base
	scale, offset float64
}

// Rescaling maps x to x*scale + offset, as keras.layers.Rescaling (e.g.
// Rescaling(1.0/255, 0) for pixels).
func Rescaling(scale, offset float64, opts ...Option) Layer {
	c := newConfig(opts)
	return &rescaling{base: base{name: c.name, cfg: c}, scale: scale, offset: offset}
}

func (l *rescaling) Type() string { return "Rescaling" }

func (l *rescaling) OutputShape(in []int64) ([]int64, error) {
	if err := known(in); err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return append([]int64{}, in...), nil
}

func (l *rescaling) ParamCount([]int64) (int64, int64) { return 0, 0 }
func (l *rescaling) Weights() []*tfwrap.Variable       { return nil }

func (l *rescaling) Forward(ctx *Context, x tfwrap.Output) (tfwrap.Output, error) {
	ctx.Logits = tfwrap.Output{}
	g := ctx.Graph
	out := g.Add(g.Mul(x, g.Scalar(l.scale, x.DType())), g.Scalar(l.offset, x.DType()))
	return built(l.name, g, out)
}
