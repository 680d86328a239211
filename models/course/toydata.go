package course

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tfgo-project/gotf/tfwrap"
)

// TwoClusters returns the course's toy dataset for the perceptron: n points
// around (0, 3) labelled 0 and n points around (3, 0) labelled 1, each
// drawn from a normal distribution with covariance [[1, 0.5], [0.5, 1]]
// (as np.random.multivariate_normal in the course). x has shape (2n, 2),
// labels (2n, 1). The same seed gives the same data.
func TwoClusters(n int, seed uint64) (x, labels *tfwrap.Tensor, err error) {
	if n < 1 {
		return nil, nil, fmt.Errorf("course: two clusters: n=%d, want at least 1", n)
	}
	r := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))
	// Cholesky factor of the covariance: L·Lᵀ = [[1, .5], [.5, 1]].
	l21, l22 := 0.5, math.Sqrt(0.75)
	xs := make([]float32, 0, 4*n)
	ys := make([]float32, 0, 2*n)
	for class, mean := range [][2]float64{{0, 3}, {3, 0}} {
		for i := 0; i < n; i++ {
			z1, z2 := r.NormFloat64(), r.NormFloat64()
			xs = append(xs, float32(mean[0]+z1), float32(mean[1]+l21*z1+l22*z2))
			ys = append(ys, float32(class))
		}
	}
	if x, err = tfwrap.NewTensor(xs, int64(2*n), 2); err != nil {
		return nil, nil, err
	}
	if labels, err = tfwrap.NewTensor(ys, int64(2*n), 1); err != nil {
		return nil, nil, err
	}
	return x, labels, nil
}
