package savedmodels

import (
	"context"
	"errors"
	"io"
	"math"
	"path/filepath"
	"testing"

	"github.com/tfgo-project/gotf/data/mnist"
	"github.com/tfgo-project/gotf/internal/cpuinfo"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/course"
	"github.com/tfgo-project/gotf/models/losses"
	"github.com/tfgo-project/gotf/models/optimizers"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TestBFloat16Inference: the MNIST CNN, trained 2 epochs and exported,
// loaded with BFloat16 and without, on the 2,000 test digits. bfloat16
// keeps 8 significant bits, so each probability may move by a few parts
// in a thousand of the logits it comes from: within 0.03 of float32 (0.0095
// measured on the fully trained CNN), the same class for at least 99.5% of
// the digits, the same accuracy within 0.3 points. The outputs must differ
// somewhere, or the rewrite did not run. Where bfloat16 cannot run,
// LoadWith is an error naming why.
func TestBFloat16Inference(t *testing.T) {
	if want := cpuinfo.BFloat16(); want != nil {
		// Refused before the folder is read: no model needed.
		if _, err := LoadWith(t.TempDir(), LoadOptions{BFloat16: true}); !errors.Is(err, cpuinfo.ErrNoBFloat16) {
			t.Fatalf("BFloat16 where it cannot run: %v, want %v", err, want)
		}
		t.Skip(want)
	}
	train, test, err := mnist.Load(filepath.Join("..", mnist.DefaultDir))
	if err != nil {
		t.Fatal(err)
	}
	m, err := course.CNN()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Compile(models.CompileOptions{Loss: losses.SparseCategoricalCrossentropy{}, Optimizer: optimizers.Adam(1e-3), Seed: 1}); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x, err := tfwrap.NewTensor(train.Images, int64(train.Len()), 28, 28, 1)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := tfwrap.NewTensor(train.Labels)
	d, err := models.NewDataset(x, y)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Fit(context.Background(), d, models.FitOptions{Epochs: 2, BatchSize: 64, Seed: 1, Progress: models.ProgressSilent, Output: io.Discard}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cnn")
	if err := m.Export(dir); err != nil {
		t.Fatal(err)
	}
	probs := func(opts LoadOptions) []float32 {
		l, err := LoadWith(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var all []float32
		for i := 0; i < test.Len(); i += 500 {
			xb, err := tfwrap.NewTensor(test.Images[i*784:(i+500)*784], 500, 28, 28, 1)
			if err != nil {
				t.Fatal(err)
			}
			out, err := l.Predict("", map[string]*tfwrap.Tensor{"inputs": xb})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out {
				v, err := o.Float32s()
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, v...)
			}
		}
		return all
	}
	f32, bf16 := probs(LoadOptions{}), probs(LoadOptions{BFloat16: true})
	argmax := func(p []float32, row int) int {
		best := 0
		for c := 1; c < 10; c++ {
			if p[row*10+c] > p[row*10+best] {
				best = c
			}
		}
		return best
	}
	worst, same, right32, right16 := 0.0, 0, 0, 0
	for i := range f32 {
		worst = max(worst, math.Abs(float64(f32[i]-bf16[i])))
	}
	for r := 0; r < test.Len(); r++ {
		a, b := argmax(f32, r), argmax(bf16, r)
		if a == b {
			same++
		}
		if a == int(test.Labels[r]) {
			right32++
		}
		if b == int(test.Labels[r]) {
			right16++
		}
	}
	acc32, acc16 := float64(right32)/float64(test.Len()), float64(right16)/float64(test.Len())
	t.Logf("largest probability difference %.4g; same class for %d of %d; accuracy %.4f float32, %.4f bfloat16", worst, same, test.Len(), acc32, acc16)
	switch {
	case worst < 1e-5:
		t.Fatalf("bfloat16 outputs within %.2g of float32: the rewrite did not run", worst)
	case worst > 0.03:
		t.Errorf("a probability moved by %.4g (> 0.03)", worst)
	case float64(same) < 0.995*float64(test.Len()):
		t.Errorf("the class changed for %d of %d digits", test.Len()-same, test.Len())
	case math.Abs(acc32-acc16) > 0.003:
		t.Errorf("accuracy %.4f in float32, %.4f in bfloat16", acc32, acc16)
	}
}
