package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/tfgo-project/gotf/data/mnist"
)

// A target is the task a backbone is transferred to: a pool of labelled
// images the few labelled examples are drawn from, and a test set.
type target struct {
	name, desc string
	backbone   string // folder written by scripts/pretrain_backbone.py
	classes    int
	pool, test *mnist.Set
}

// nearTarget is MNIST digits 5–9 as classes 0–4 (the backbone saw 0–4).
func nearTarget(mnistDir, backbone string) (*target, error) {
	train, test, err := mnist.Load(mnistDir)
	if err != nil {
		return nil, err
	}
	keep := func(l int32) bool { return l >= 5 }
	down := func(l int32) int32 { return l - 5 }
	return &target{name: "near", desc: "MNIST digits 5-9, backbone pretrained on digits 0-4", backbone: backbone,
		classes: 5, pool: train.Filter(keep, down), test: test.Filter(keep, down)}, nil
}

// rotTarget is the near target with every image inverted (1 - x) and
// rotated 90° clockwise: the same backbone (digits 0–4, upright, white on
// black) and the same classes, only the pixels differ.
func rotTarget(mnistDir, backbone string) (*target, error) {
	t, err := nearTarget(mnistDir, backbone)
	if err != nil {
		return nil, err
	}
	t.name, t.desc = "rot", "MNIST digits 5-9 inverted and rotated 90°, backbone pretrained on upright digits 0-4"
	t.pool, t.test = invertRotate(t.pool), invertRotate(t.test)
	return t, nil
}

// invertRotate returns the images inverted and rotated 90° clockwise.
func invertRotate(s *mnist.Set) *mnist.Set {
	out := &mnist.Set{Images: make([]float32, len(s.Images)), Labels: s.Labels}
	const side = 28
	for i := 0; i < s.Len(); i++ {
		in, o := s.Images[i*mnist.Size:(i+1)*mnist.Size], out.Images[i*mnist.Size:(i+1)*mnist.Size]
		for r := 0; r < side; r++ {
			for c := 0; c < side; c++ {
				o[c*side+(side-1-r)] = 1 - in[r*side+c]
			}
		}
	}
	return out
}

// farTarget is scikit-learn's 8×8 digits upsampled to 28×28, written by
// scripts/sklearn_digits.py in data/mnist's compact form (the backbone saw
// all ten MNIST digits).
func farTarget(dir, backbone string) (*target, error) {
	pool, err := mnist.ReadFile(filepath.Join(dir, "train.bin"))
	if err != nil {
		return nil, fmt.Errorf("%w (make one with scripts/sklearn_digits.py)", err)
	}
	test, err := mnist.ReadFile(filepath.Join(dir, "test.bin"))
	if err != nil {
		return nil, err
	}
	return &target{name: "far", desc: "scikit-learn's 8x8 digits upsampled to 28x28, backbone pretrained on all ten MNIST digits",
		backbone: backbone, classes: 10, pool: pool, test: test}, nil
}

// sample returns the indices of perClass examples of each class of labels,
// chosen by a permutation seeded by seed: for one seed, the examples of a
// smaller perClass are among those of a larger one.
func sample(labels []int32, classes, perClass int, seed uint64) ([]int, error) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	count := make([]int, classes)
	var idx []int
	for _, i := range rng.Perm(len(labels)) {
		l := labels[i]
		if l < 0 || int(l) >= classes {
			return nil, fmt.Errorf("label %d out of %d classes", l, classes)
		}
		if count[l] < perClass {
			count[l]++
			idx = append(idx, i)
		}
	}
	for c, n := range count {
		if n < perClass {
			return nil, fmt.Errorf("class %d has %d examples, want %d", c, n, perClass)
		}
	}
	return idx, nil
}

// gather copies the images and labels at idx.
func gather(s *mnist.Set, idx []int) ([]float32, []int32) {
	x := make([]float32, 0, len(idx)*mnist.Size)
	y := make([]int32, 0, len(idx))
	for _, i := range idx {
		x = append(x, s.Images[i*mnist.Size:(i+1)*mnist.Size]...)
		y = append(y, s.Labels[i])
	}
	return x, y
}

// augment returns copies of each 28×28 image, the first unchanged and the
// others shifted by a random whole number of pixels, up to maxShift in each
// direction (not both zero), the border filled with the image's top-left
// pixel (its background).
func augment(x []float32, y []int32, copies, maxShift int, seed uint64) ([]float32, []int32) {
	rng := rand.New(rand.NewPCG(seed, 0xa06))
	const side = 28
	out := make([]float32, 0, len(x)*copies)
	labels := make([]int32, 0, len(y)*copies)
	for i, l := range y {
		img := x[i*mnist.Size : (i+1)*mnist.Size]
		for c := 0; c < copies; c++ {
			dx, dy := 0, 0
			for c > 0 && dx == 0 && dy == 0 {
				dx, dy = rng.IntN(2*maxShift+1)-maxShift, rng.IntN(2*maxShift+1)-maxShift
			}
			shifted := make([]float32, mnist.Size)
			for k := range shifted {
				shifted[k] = img[0]
			}
			for r := 0; r < side; r++ {
				sr := r - dy
				if sr < 0 || sr >= side {
					continue
				}
				for q := 0; q < side; q++ {
					if sq := q - dx; sq >= 0 && sq < side {
						shifted[r*side+q] = img[sr*side+sq]
					}
				}
			}
			out = append(out, shifted...)
			labels = append(labels, l)
		}
	}
	return out, labels
}

// augCopies is how many copies augment makes of each of n labelled images:
// 16 for the fewest, down to 2, so that a run sees a few hundred images.
func augCopies(n int) int {
	return max(2, min(16, 640/n))
}

// cosineNCM classifies test features by the nearest class mean: features
// centred on the mean of the training features and scaled to unit length,
// class means of the training features, the class of the highest cosine.
// It returns the test accuracy. d is the length of one feature vector.
func cosineNCM(train []float32, ytrain []int32, test []float32, ytest []int32, d, classes int) float64 {
	centre := make([]float64, d)
	n := len(ytrain)
	for i := 0; i < n; i++ {
		for j, v := range train[i*d : (i+1)*d] {
			centre[j] += float64(v) / float64(n)
		}
	}
	unit := func(v []float32) []float64 {
		out := make([]float64, d)
		var norm float64
		for j, x := range v {
			out[j] = float64(x) - centre[j]
			norm += out[j] * out[j]
		}
		if norm = math.Sqrt(norm); norm > 0 {
			for j := range out {
				out[j] /= norm
			}
		}
		return out
	}
	means := make([][]float64, classes)
	for c := range means {
		means[c] = make([]float64, d)
	}
	for i, l := range ytrain {
		for j, v := range unit(train[i*d : (i+1)*d]) {
			means[l][j] += v
		}
	}
	for c := range means {
		var norm float64
		for _, v := range means[c] {
			norm += v * v
		}
		if norm = math.Sqrt(norm); norm > 0 {
			for j := range means[c] {
				means[c][j] /= norm
			}
		}
	}
	right := 0
	for i, l := range ytest {
		u := unit(test[i*d : (i+1)*d])
		best, bestC := math.Inf(-1), -1
		for c, m := range means {
			var dot float64
			for j, v := range m {
				dot += v * u[j]
			}
			if dot > best {
				best, bestC = dot, c
			}
		}
		if int32(bestC) == l {
			right++
		}
	}
	return float64(right) / float64(len(ytest))
}

// meanSD returns the mean and the sample standard deviation (n-1).
func meanSD(v []float64) (mean, sd float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)-1))
}

// parseInts reads "1,2,5": positive integers, sorted, without repeats.
func parseInts(s string) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out, nil
}
