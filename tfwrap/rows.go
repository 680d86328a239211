package tfwrap

import (
	"errors"
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// raw returns a numeric tensor's bytes, shared: the tensor is immutable,
// so a tensor made from them (a row slice, a reshape) may share them too.
func (t *Tensor) raw() ([]byte, error) {
	if !t.ok() {
		return nil, ErrNilTensor
	}
	if t.dtype == String {
		return nil, errors.New("tfwrap: row operations do not support string tensors")
	}
	return t.data, nil
}

func (t *Tensor) rowBytes() (int, error) {
	if len(t.shape) == 0 {
		return 0, errors.New("tfwrap: a scalar has no rows")
	}
	n, err := shape.NumElements(t.shape[1:])
	if err != nil {
		return 0, fmt.Errorf("tfwrap: rows: %w", err)
	}
	b, err := shape.ByteSize(n, t.dtype.ByteSize())
	if err != nil {
		return 0, fmt.Errorf("tfwrap: rows: %w", err)
	}
	return int(b), nil
}

// SliceRows returns rows [start, end) of the first axis, copied.
func (t *Tensor) SliceRows(start, end int) (*Tensor, error) {
	if t == nil {
		return nil, ErrNilTensor
	}
	if len(t.shape) == 0 || start < 0 || end < start || int64(end) > t.shape[0] {
		return nil, fmt.Errorf("tfwrap: rows [%d, %d) are out of range for shape %v", start, end, t.shape)
	}
	rb, err := t.rowBytes()
	if err != nil {
		return nil, err
	}
	raw, err := t.raw()
	if err != nil {
		return nil, err
	}
	dims := append([]int64{int64(end - start)}, t.shape[1:]...)
	return fromBytes(t.dtype, dims, raw[start*rb:end*rb:end*rb]), nil
}

// SplitRows cuts t along the first axis into consecutive pieces of the
// given row counts (which must add up to t's rows), reading t's memory
// once. Batches makes the counts for fixed-size batches.
func (t *Tensor) SplitRows(sizes ...int) ([]*Tensor, error) {
	if t == nil {
		return nil, ErrNilTensor
	}
	if len(t.shape) == 0 {
		return nil, errors.New("tfwrap: a scalar has no rows")
	}
	total := 0
	for _, n := range sizes {
		if n < 0 {
			return nil, fmt.Errorf("tfwrap: split rows: negative piece %d", n)
		}
		total += n
	}
	if int64(total) != t.shape[0] {
		return nil, fmt.Errorf("tfwrap: split rows: pieces add up to %d rows, the tensor has %d", total, t.shape[0])
	}
	if len(sizes) == 1 {
		return []*Tensor{t}, nil
	}
	rb, err := t.rowBytes()
	if err != nil {
		return nil, err
	}
	raw, err := t.raw()
	if err != nil {
		return nil, err
	}
	out := make([]*Tensor, len(sizes))
	start := 0
	for i, n := range sizes {
		dims := append([]int64{int64(n)}, t.shape[1:]...)
		out[i] = fromBytes(t.dtype, dims, raw[start*rb:(start+n)*rb:(start+n)*rb])
		start += n
	}
	return out, nil
}

// Batches returns the sizes of the batches of at most size rows that n
// rows make (the last one may be smaller); nil for n = 0.
func Batches(n, size int) []int {
	if n <= 0 || size <= 0 {
		return nil
	}
	out := make([]int, 0, (n+size-1)/size)
	for n > 0 {
		out = append(out, min(size, n))
		n -= size
	}
	return out
}

// GatherRows returns the rows at idx of the first axis, copied, in order.
func (t *Tensor) GatherRows(idx []int) (*Tensor, error) {
	if t == nil {
		return nil, ErrNilTensor
	}
	rb, err := t.rowBytes()
	if err != nil {
		return nil, err
	}
	raw, err := t.raw()
	if err != nil {
		return nil, err
	}
	for _, i := range idx { // every index first: nothing is allocated for a bad one
		if i < 0 || int64(i) >= t.shape[0] {
			return nil, fmt.Errorf("tfwrap: row %d is out of range for %d rows", i, t.shape[0])
		}
	}
	out := make([]byte, 0, len(idx)*rb) // ≤ len(raw) * len(idx) / rows
	for _, i := range idx {
		out = append(out, raw[i*rb:(i+1)*rb]...)
	}
	return fromBytes(t.dtype, append([]int64{int64(len(idx))}, t.shape[1:]...), out), nil
}

// ConcatRows stacks tensors of the same dtype and per-row shape along the
// first axis.
func ConcatRows(ts ...*Tensor) (*Tensor, error) {
	if len(ts) == 0 {
		return nil, errors.New("tfwrap: concat of no tensors")
	}
	first := ts[0]
	if first == nil {
		return nil, ErrNilTensor
	}
	var out []byte
	var rows int64
	for i, t := range ts {
		if t == nil {
			return nil, ErrNilTensor
		}
		if t.dtype != first.dtype || len(t.shape) == 0 || len(t.shape) != len(first.shape) {
			return nil, fmt.Errorf("tfwrap: concat: tensor %d is %v%v, tensor 0 is %v%v", i, t.dtype, t.shape, first.dtype, first.shape)
		}
		for j := 1; j < len(t.shape); j++ {
			if t.shape[j] != first.shape[j] {
				return nil, fmt.Errorf("tfwrap: concat: tensor %d has rows of shape %v, tensor 0 %v", i, t.shape[1:], first.shape[1:])
			}
		}
		raw, err := t.raw()
		if err != nil {
			return nil, err
		}
		out = append(out, raw...)
		rows += t.shape[0]
	}
	return fromBytes(first.dtype, append([]int64{rows}, first.shape[1:]...), out), nil
}

// Reshaped returns a copy of t with new dims holding the same number of
// elements.
func (t *Tensor) Reshaped(dims ...int64) (*Tensor, error) {
	if t == nil {
		return nil, ErrNilTensor
	}
	raw, err := t.raw()
	if err != nil {
		return nil, err
	}
	n, err := shape.NumElements(dims)
	if err != nil {
		return nil, fmt.Errorf("tfwrap: reshape: %w", err)
	}
	if n != t.NumElements() {
		return nil, fmt.Errorf("tfwrap: cannot reshape %v (%d elements) to %v", t.shape, t.NumElements(), dims)
	}
	return fromBytes(t.dtype, append([]int64{}, dims...), raw), nil
}
