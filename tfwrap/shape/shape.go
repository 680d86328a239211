package shape

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Unknown is the value a dimension takes when it is not known until run time.
const Unknown = -1

// ErrOverflow is returned when the number of elements does not fit an int64.
var ErrOverflow = errors.New("shape: element count overflows int64")

// String formats a shape as TensorFlow prints it: (2, 3), (None, 784), ().
func String(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			parts[i] = "None"
		} else {
			parts[i] = strconv.FormatInt(d, 10)
		}
	}
	if len(s) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// MaxRank is the most dimensions TensorFlow allows a tensor (its
// TensorShape aborts the process past it).
const MaxRank = 254

// Validate reports an error if a concrete shape (one a tensor has) holds a
// negative dimension or more than MaxRank dimensions.
func Validate(s []int64) error {
	if len(s) > MaxRank {
		return fmt.Errorf("shape: rank %d is more than TensorFlow's %d", len(s), MaxRank)
	}
	for i, d := range s {
		if d < 0 {
			return fmt.Errorf("shape: dimension %d of %s is negative", i, String(s))
		}
	}
	return nil
}

// NumElements returns the product of the dimensions of a concrete shape,
// or an error if the shape is invalid (Validate) or the product overflows
// on the way, multiplied from the first dimension on as TensorFlow's
// TensorShape does: (4, 0, 2^63-1) has 0 elements, but (2^40, 2^40, 0)
// overflows before its 0, and TensorFlow aborts the process on it.
func NumElements(s []int64) (int64, error) {
	if err := Validate(s); err != nil {
		return 0, err
	}
	n := int64(1)
	for _, d := range s {
		if n != 0 && d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("%w: %s", ErrOverflow, String(s))
		}
		n *= d
	}
	return n, nil
}

// ByteSize returns n elements of size bytes each, or an error if that
// overflows int64.
func ByteSize(n int64, size int) (int64, error) {
	if size > 0 && n > math.MaxInt64/int64(size) {
		return 0, fmt.Errorf("%w: %d elements of %d bytes", ErrOverflow, n, size)
	}
	return n * int64(size), nil
}

// Equal reports whether two shapes are identical, dimension by dimension.
func Equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Compatible reports whether a concrete shape fits a partly known one:
// same rank, and every known dimension of want equals got's.
func Compatible(want, got []int64) bool {
	if len(want) != len(got) {
		return false
	}
	for i, d := range want {
		if d >= 0 && d != got[i] {
			return false
		}
	}
	return true
}

// Broadcast returns the shape of an elementwise op on a and b under NumPy's
// broadcasting rules, or an error naming the dimensions that disagree.
// Unknown dimensions are allowed and stay unknown unless the other side fixes
// them to something other than 1.
func Broadcast(a, b []int64) ([]int64, error) {
	n := max(len(a), len(b))
	out := make([]int64, n)
	for i := 0; i < n; i++ {
		da, db := int64(1), int64(1)
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		case da < 0:
			out[i] = db
		case db < 0:
			out[i] = da
		default:
			return nil, fmt.Errorf("shapes %s and %s cannot be broadcast: dimension %d is %d against %d",
				String(a), String(b), i, da, db)
		}
	}
	return out, nil
}

// MatMul returns the shape of the matrix product of two rank-2 shapes, with
// optional transposition of either side, or an error naming the mismatch.
func MatMul(a, b []int64, transposeA, transposeB bool) ([]int64, error) {
	if len(a) != 2 || len(b) != 2 {
		return nil, fmt.Errorf("matmul needs two matrices (rank 2), got shapes %s and %s", String(a), String(b))
	}
	m, ka := a[0], a[1]
	if transposeA {
		m, ka = ka, m
	}
	kb, n := b[0], b[1]
	if transposeB {
		kb, n = n, kb
	}
	if ka >= 0 && kb >= 0 && ka != kb {
		return nil, fmt.Errorf("matmul of %s and %s: inner dimensions %d and %d differ", String(a), String(b), ka, kb)
	}
	return []int64{m, n}, nil
}

// NormalizeAxes maps possibly negative axes onto [0, rank) and rejects
// out-of-range or repeated ones.
func NormalizeAxes(rank int, axes []int) ([]int, error) {
	seen := make(map[int]bool, len(axes))
	out := make([]int, len(axes))
	for i, a := range axes {
		n := a
		if n < 0 {
			n += rank
		}
		if n < 0 || n >= rank {
			return nil, fmt.Errorf("axis %d is out of range for rank %d", a, rank)
		}
		if seen[n] {
			return nil, fmt.Errorf("axis %d is repeated", a)
		}
		seen[n] = true
		out[i] = n
	}
	return out, nil
}

// Reduce returns the shape after reducing axes (all of them when axes is
// empty), keeping reduced dimensions as 1 when keepDims is set.
func Reduce(s []int64, axes []int, keepDims bool) ([]int64, error) {
	if len(axes) == 0 {
		if keepDims {
			out := make([]int64, len(s))
			for i := range out {
				out[i] = 1
			}
			return out, nil
		}
		return []int64{}, nil
	}
	norm, err := NormalizeAxes(len(s), axes)
	if err != nil {
		return nil, err
	}
	drop := make(map[int]bool, len(norm))
	for _, a := range norm {
		drop[a] = true
	}
	out := make([]int64, 0, len(s))
	for i, d := range s {
		switch {
		case !drop[i]:
			out = append(out, d)
		case keepDims:
			out = append(out, 1)
		}
	}
	return out, nil
}

// Reshape checks that a concrete or partly known input shape can take the
// target shape (at most one -1, which is inferred) and returns the target
// with the -1 filled in when the input is fully known.
func Reshape(in, target []int64) ([]int64, error) {
	infer := -1
	known := int64(1)
	for i, d := range target {
		switch {
		case d == Unknown:
			if infer >= 0 {
				return nil, fmt.Errorf("reshape to %s: at most one dimension may be -1", String(target))
			}
			infer = i
		case d < 0:
			return nil, fmt.Errorf("reshape to %s: dimension %d is negative", String(target), i)
		default:
			if d != 0 && known > math.MaxInt64/d {
				return nil, fmt.Errorf("%w: %s", ErrOverflow, String(target))
			}
			known *= d
		}
	}
	for _, d := range in {
		if d < 0 {
			return append([]int64(nil), target...), nil // not known until run time
		}
	}
	total, err := NumElements(in)
	if err != nil {
		return nil, err
	}
	out := append([]int64(nil), target...)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %s (%d elements) to %s", String(in), total, String(target))
		}
		out[infer] = total / known
		return out, nil
	}
	if known != total {
		return nil, fmt.Errorf("cannot reshape %s (%d elements) to %s (%d elements)", String(in), total, String(target), known)
	}
	return out, nil
}

// Padding is a convolution or pooling padding mode.
type Padding string

// The padding modes Keras and TensorFlow use.
const (
	Same  Padding = "SAME"
	Valid Padding = "VALID"
)

// Window returns the output size of a convolution or pooling window of size
// k and stride s over n inputs, as TensorFlow computes it; -1 stays unknown.
func Window(n, k, s int64, p Padding) (int64, error) {
	if k < 1 || s < 1 {
		return 0, fmt.Errorf("window size %d and stride %d must be positive", k, s)
	}
	if n < 0 {
		return Unknown, nil
	}
	switch p {
	case Same:
		return (n + s - 1) / s, nil
	case Valid:
		if n < k {
			return 0, fmt.Errorf("input size %d is smaller than the window %d with valid padding", n, k)
		}
		return (n-k)/s + 1, nil
	}
	return 0, fmt.Errorf("padding %q is neither SAME nor VALID", p)
}

// Conv2D returns the NHWC output shape of a 2-D convolution of input (NHWC)
// with filter (height, width, in channels, out channels).
func Conv2D(input, filter []int64, strides [2]int64, p Padding) ([]int64, error) {
	if len(input) != 4 {
		return nil, fmt.Errorf("conv2d input must be NHWC (rank 4), got %s", String(input))
	}
	if len(filter) != 4 {
		return nil, fmt.Errorf("conv2d filter must be (h, w, in, out), got %s", String(filter))
	}
	if input[3] >= 0 && filter[2] >= 0 && input[3] != filter[2] {
		return nil, fmt.Errorf("conv2d: input has %d channels, filter expects %d", input[3], filter[2])
	}
	h, err := Window(input[1], filter[0], strides[0], p)
	if err != nil {
		return nil, fmt.Errorf("conv2d height: %w", err)
	}
	w, err := Window(input[2], filter[1], strides[1], p)
	if err != nil {
		return nil, fmt.Errorf("conv2d width: %w", err)
	}
	return []int64{input[0], h, w, filter[3]}, nil
}

// Pool2D returns the NHWC output shape of max or average pooling.
func Pool2D(input []int64, size, strides [2]int64, p Padding) ([]int64, error) {
	if len(input) != 4 {
		return nil, fmt.Errorf("pooling input must be NHWC (rank 4), got %s", String(input))
	}
	h, err := Window(input[1], size[0], strides[0], p)
	if err != nil {
		return nil, fmt.Errorf("pool height: %w", err)
	}
	w, err := Window(input[2], size[1], strides[1], p)
	if err != nil {
		return nil, fmt.Errorf("pool width: %w", err)
	}
	return []int64{input[0], h, w, input[3]}, nil
}
