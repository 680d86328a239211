package savedmodels

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	tg "github.com/galeone/tfgo"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/tfwrap"
)

// tfgo's LoadModel and Model.Exec (its README's "serve in Go" program) on
// SavedModels made here, against Load and Predict on the same folder.

// tfgoNames maps a signature's input and output keys to the "op", index
// pairs tfgo's Model.Op wants: tfgo has no signature lookup, so its users
// copy these from saved_model_cli; here they come from tfwrap's reading of
// the signature.
type tfgoName struct {
	op  string
	idx int
}

func tfgoNames(t *testing.T, dir string) (ins, outs map[string]tfgoName) {
	t.Helper()
	_, sig := loadSignature(t, dir, DefaultSignature)
	name := func(s TensorInfo) tfgoName {
		o := s.Output().TF()
		return tfgoName{o.Op.Name(), o.Index}
	}
	ins, outs = map[string]tfgoName{}, map[string]tfgoName{}
	for _, s := range sig.Inputs {
		ins[s.Name] = name(s)
	}
	for _, s := range sig.Outputs {
		outs[s.Name] = name(s)
	}
	return ins, outs
}

// tfgoExec loads dir with tg.LoadModel and runs the default signature's
// outputs on inputs with model.Exec; a tfgo panic fails the test.
func tfgoExec(t *testing.T, dir string, inputs map[string]*tfwrap.Tensor) map[string]*tfwrap.Tensor {
	t.Helper()
	ins, outs := tfgoNames(t, dir)
	keys := make([]string, 0, len(outs))
	for k := range outs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var results []*tf.Tensor
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("tfgo panicked: %v", r)
			}
		}()
		model := tg.LoadModel(dir, []string{"serve"}, nil)
		feeds := map[tf.Output]*tf.Tensor{}
		for k, x := range inputs {
			n, ok := ins[k]
			if !ok {
				return fmt.Errorf("no input %q", k)
			}
			feeds[model.Op(n.op, n.idx)] = x.TF() // tfwrap's tensor, not a copy
		}
		var fetches []tf.Output
		for _, k := range keys {
			fetches = append(fetches, model.Op(outs[k].op, outs[k].idx))
		}
		results = model.Exec(fetches, feeds)
		return nil
	}()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*tfwrap.Tensor{}
	for i, k := range keys {
		w, err := tfwrap.WrapTensor(results[i])
		if err != nil {
			t.Fatal(err)
		}
		got[k] = w
	}
	return got
}

// A SavedModel written by Python's tf.saved_model.save: tfgo and Load
// give the same outputs, and both give Python's.
func TestTfgoLoadModelPython(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	xs := [][]float32{{0.1, -0.2, 0.3}, {1, 2, -1}, {-0.5, 0.25, 4}}
	var ref map[string][]float64
	if err := pyref.Run("export_savedmodel.py", map[string]any{"dir": dir, "x": xs}, &ref); err != nil {
		t.Fatal(err)
	}
	x := tensor(t, []float32{0.1, -0.2, 0.3, 1, 2, -1, -0.5, 0.25, 4}, 3, 3)
	fromTfgo := tfgoExec(t, dir, map[string]*tfwrap.Tensor{"x": x})

	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	fromLoad, err := m.Predict("", map[string]*tfwrap.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	if len(fromTfgo) != 2 || len(fromLoad) != 2 {
		t.Fatalf("outputs: tfgo %d, Load %d, want 2 (y, probs)", len(fromTfgo), len(fromLoad))
	}
	for _, k := range []string{"y", "probs"} {
		near(t, "tfgo "+k+" vs Python", values(t, fromTfgo[k]), ref[k], 1e-6)
		near(t, "Load "+k+" vs Python", values(t, fromLoad[k]), ref[k], 1e-6)
		near(t, "tfgo "+k+" vs Load", values(t, fromTfgo[k]), values(t, fromLoad[k]), 1e-7)
	}
}

// A SavedModel this project exports (models' Export of a trained CNN) loads in
// tfgo, which computes what Load and Predict compute.
func TestTfgoLoadModelExported(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cnn")
	if err := trained(t).Export(dir); err != nil {
		t.Fatal(err)
	}
	m, sig := loadSignature(t, dir, "")
	if len(sig.Inputs) != 1 {
		t.Fatalf("inputs: %+v", sig.Inputs)
	}
	xs := make([]float32, 2*36)
	for i := range xs {
		xs[i] = float32(i%7) / 7
	}
	x := tensor(t, xs, 2, 6, 6, 1)
	in := map[string]*tfwrap.Tensor{sig.Inputs[0].Name: x}
	fromLoad, err := m.Predict("", in)
	if err != nil {
		t.Fatal(err)
	}
	fromTfgo := tfgoExec(t, dir, in)
	if len(fromTfgo) != len(fromLoad) || len(fromLoad) == 0 {
		t.Fatalf("outputs: tfgo %d, Load %d", len(fromTfgo), len(fromLoad))
	}
	for k, want := range fromLoad {
		got, ok := fromTfgo[k]
		if !ok {
			t.Fatalf("tfgo has no output %q", k)
		}
		near(t, "tfgo "+k+" vs Load", values(t, got), values(t, want), 1e-6)
		// Softmax rows sum to one: the numbers are a prediction, not zeros.
		v := values(t, got)
		for r := 0; r < 2; r++ {
			var s float64
			for _, p := range v[r*4 : r*4+4] {
				s += p
			}
			near(t, "row sum", []float64{s}, []float64{1}, 1e-5)
		}
	}
}
