// Package nprand reproduces numpy's legacy np.random.RandomState(seed) as
// far as Keras uses it on file lists: the MT19937 generator seeded by an
// integer, and RandomState.shuffle of a Python list. With it a Go reader
// orders (and so splits) a folder's files exactly as Keras's
// image_dataset_from_directory(shuffle=True, seed=…) does.
package nprand

import "fmt"

const n, m = 624, 397

// RandomState is numpy's legacy MT19937 generator. Not safe for concurrent
// use.
type RandomState struct {
	mt  [n]uint32
	idx int
}

// New seeds a generator as np.random.RandomState(seed) does for an
// integer seed (0 to 2^32-1).
func New(seed int64) (*RandomState, error) {
	if seed < 0 || seed > 1<<32-1 {
		return nil, fmt.Errorf("nprand: seed %d: numpy takes 0 to 2^32-1", seed)
	}
	r := &RandomState{idx: n}
	r.mt[0] = uint32(seed)
	for i := 1; i < n; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	return r, nil
}

// Uint32 is MT19937's genrand_int32.
func (r *RandomState) Uint32() uint32 {
	if r.idx >= n {
		for i := 0; i < n; i++ {
			y := r.mt[i]&0x80000000 | r.mt[(i+1)%n]&0x7fffffff
			v := r.mt[(i+m)%n] ^ y>>1
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			r.mt[i] = v
		}
		r.idx = 0
	}
	y := r.mt[r.idx]
	r.idx++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// interval is numpy's random_interval: a uniform integer in [0, max] by
// masked rejection.
func (r *RandomState) interval(max uint32) uint32 {
	if max == 0 {
		return 0
	}
	mask := max
	mask |= mask >> 1
	mask |= mask >> 2
	mask |= mask >> 4
	mask |= mask >> 8
	mask |= mask >> 16
	for {
		if v := r.Uint32() & mask; v <= max {
			return v
		}
	}
}

// Shuffle permutes n items as RandomState.shuffle permutes a list of n,
// calling swap(i, j) for each exchange.
func (r *RandomState) Shuffle(count int, swap func(i, j int)) {
	for i := count - 1; i > 0; i-- {
		j := int(r.interval(uint32(i)))
		swap(i, j)
	}
}
