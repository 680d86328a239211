package layers

import "testing"

// TestLayerNormParamCount counts gamma and beta as Keras does.
func TestLayerNormParamCount(t *testing.T) {
	for _, tc := range []struct {
		o    LayerNormOptions
		want int64
	}{
		{LayerNormOptions{}, 10},
		{LayerNormOptions{NoCenter: true}, 5},
		{LayerNormOptions{NoScale: true}, 5},
		{LayerNormOptions{NoCenter: true, NoScale: true}, 0},
	} {
		tr, nt := LayerNormalization(tc.o).ParamCount([]int64{3, 5})
		if tr != tc.want || nt != 0 {
			t.Errorf("%+v: ParamCount = %d, %d; want %d, 0", tc.o, tr, nt, tc.want)
		}
	}
}
