package kerasfile_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/kerasfile"
	"github.com/tfgo-project/gotf/tfwrap"
)

// rewrite copies a .keras file with its entries changed by edit (nil
// drops an entry).
func rewrite(t *testing.T, src string, edit func(name string, b []byte) []byte) string {
	t.Helper()
	z, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	changed := false // an edit that finds nothing to change tests nothing
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(r); err != nil {
			t.Fatal(err)
		}
		r.Close()
		out := edit(f.Name, b.Bytes())
		if out == nil || !bytes.Equal(out, b.Bytes()) {
			changed = true
		}
		if out == nil {
			continue
		}
		fw, err := w.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(out)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !changed {
		t.Fatalf("the edit of %s changed nothing", src)
	}
	dst := filepath.Join(t.TempDir(), "edited.keras")
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// configEdit replaces the first n (all if n < 0; 1 if n is left out)
// occurrences of old in config.json.
func configEdit(old, new string, n ...int) func(string, []byte) []byte {
	count := 1
	if len(n) > 0 {
		count = n[0]
	}
	return func(name string, b []byte) []byte {
		if name == "config.json" {
			return bytes.Replace(b, []byte(old), []byte(new), count)
		}
		return b
	}
}

// TestBadFiles: every file Keras could not have written, or that asks for
// what the Go layers cannot do, is an error that says what and where.
func TestBadFiles(t *testing.T) {
	dir, _ := keras(t)
	cnn, text, textfn := filepath.Join(dir, "cnn.keras"), filepath.Join(dir, "text.keras"), filepath.Join(dir, "textfn.keras")
	notZip := filepath.Join(t.TempDir(), "x.keras")
	os.WriteFile(notZip, []byte("not a zip archive at all"), 0o644)
	for _, c := range []struct {
		name, path, want string
	}{
		{"not a zip", notZip, "a .keras file is a zip archive"},
		{"no weights", rewrite(t, cnn, func(n string, b []byte) []byte {
			if n == "model.weights.h5" {
				return nil
			}
			return b
		}), "has no model.weights.h5"},
		{"dilation", rewrite(t, cnn, configEdit(`"dilation_rate": [1, 1]`, `"dilation_rate": [2, 2]`)),
			`layer 4 (Conv2D "conv2d"): dilation_rate=[2,2] is not supported`},
		{"unknown layer", rewrite(t, cnn, configEdit(`"class_name": "Dropout"`, `"class_name": "AlphaDropout"`)),
			`layer 8 (AlphaDropout "dropout"): layer type AlphaDropout is not supported`},
		{"mixed precision", rewrite(t, cnn, configEdit(`"name": "float32"`, `"name": "mixed_float16"`, -1)),
			`dtype policy "mixed_float16" is not supported`},
		{"huge dense", rewrite(t, cnn, configEdit(`"units": 5`, `"units": 500000000`)),
			"units [500000000] is out of range"},
		{"more weights than stored", rewrite(t, cnn, configEdit(`"units": 5`, `"units": 50000`)),
			"the config declares 850354 weights, the weights file stores 439"},
		{"units changed", rewrite(t, cnn, configEdit(`"units": 5`, `"units": 4`)),
			"layer dense (Dense): weight 0 (dense/kernel) has shape [16 5] in the file, [16 4] in Go"},
		{"truncated weights", rewrite(t, cnn, func(n string, b []byte) []byte {
			if n == "model.weights.h5" {
				return b[:len(b)/2]
			}
			return b
		}), "model.weights.h5: h5: not a readable HDF5 file"},
		{"bad json", rewrite(t, cnn, configEdit(`{`, `[`)), "config.json"},
		{"cycle", rewrite(t, filepath.Join(dir, "resnet.keras"), configEdit(`"keras_history": ["image", 0, 0]`, `"keras_history": ["dense", 0, 0]`)),
			"waits for a tensor no layer makes"},
		{"huge LSTM", rewrite(t, text, configEdit(`"units": 5`, `"units": 60000`)),
			"the config declares"},
		{"recurrent dropout", rewrite(t, text, configEdit(`"recurrent_dropout": 0.0`, `"recurrent_dropout": 0.5`)),
			`recurrent_dropout=0.5 is not supported`},
		{"relu LSTM", rewrite(t, text, configEdit(`"activation": "tanh"`, `"activation": "relu"`)),
			`activation="relu" is not supported`},
		{"stateful", rewrite(t, text, configEdit(`"stateful": false`, `"stateful": true`)),
			`stateful=true is not supported`},
		{"backward layer of its own", rewrite(t, text, configEdit(`"go_backwards": true`, `"go_backwards": false`)),
			`backward_layer "GRU" is not supported`},
		{"merge by sum", rewrite(t, text, configEdit(`"merge_mode": "concat"`, `"merge_mode": "sum"`)),
			`merge_mode="sum" is not supported`},
		{"huge vocabulary", rewrite(t, text, configEdit(`"input_dim": 20`, `"input_dim": 16000000`)),
			"the config declares"},
		{"string input", rewrite(t, text, configEdit(`"dtype": "int32"`, `"dtype": "string"`)),
			"input dtype string is not supported"},
		{"states in a Sequential", rewrite(t, text, configEdit(`"return_state": false`, `"return_state": true`)),
			"gives 3 outputs (return_state"},
		{"100,000 steps", rewrite(t, text, configEdit(`"batch_shape": [null, 6]`, `"batch_shape": [null, 100000]`)),
			"100000 steps is over the 2048 allowed"},
		// The functional text model's mask, a NotEqual op node and mask=
		// arguments, taken only when it is the mask Go hands on.
		{"mask of ids != 1", rewrite(t, textfn, configEdit(`"keras_history": ["ids", 0, 0]}}, 0]`, `"keras_history": ["ids", 0, 0]}}, 1]`)),
			"compares with 1, not 0"},
		{"mask of another tensor", rewrite(t, textfn, configEdit(`"keras_history": ["ids", 0, 0]}}, 0]`, `"keras_history": ["proj", 0, 0]}}, 0]`)),
			`not the mask the input proj[0][0] carries from an Embedding(mask_zero=True)`},
		{"mask without mask_zero", rewrite(t, textfn, configEdit(`"mask_zero": true`, `"mask_zero": false`)),
			`not the mask the input proj[0][0] carries`},
		{"mask as an input", rewrite(t, textfn, func(name string, b []byte) []byte {
			// The LSTM called on the mask (Keras numbers the op's name).
			ne := regexp.MustCompile(`"class_name": "NotEqual", "config": \{"name": "(\w+)"`).FindSubmatch(b)
			if name != "config.json" || ne == nil {
				return b
			}
			return bytes.Replace(b, []byte(`"keras_history": ["proj", 0, 0]}}], "kwargs": {"training": false, "mask"`),
				[]byte(`"keras_history": ["`+string(ne[1])+`", 0, 0]}}], "kwargs": {"training": false, "mask"`), 1)
		}), "as an input; a NotEqual op is read only as an Embedding's mask"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := kerasfile.Load(c.path, compileOpts())
			if err == nil {
				m.Close()
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\nwant it to say %q", err, c.want)
			}
		})
	}
}

// TestFlippedBits flips random bits of a whole .keras file, then of its
// config.json and its weights file inside a valid zip (so the zip's CRC
// does not catch them), for the CNN and the text model (Embedding, LSTM,
// Bidirectional GRU): each is an error or a model that compiles and
// predicts, never a panic or a TensorFlow abort.
func TestFlippedBits(t *testing.T) {
	for _, name := range []string{"cnn", "text"} {
		t.Run(name, func(t *testing.T) { flippedBits(t, name) })
	}
}

func flippedBits(t *testing.T, model string) {
	dir, refs := keras(t)
	src := filepath.Join(dir, model+".keras")
	good, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	n := 120
	if testing.Short() || model != "cnn" {
		n = 30
	}
	flip := func(b []byte, k int) []byte {
		b = append([]byte{}, b...)
		for ; k > 0; k-- {
			b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
		}
		return b
	}
	x, err := tfwrap.NewTensor(refs[model].X, refs[model].Shape...)
	if err != nil {
		t.Fatal(err)
	}
	try := func(what, path string) (ok bool) {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("%s: panic: %v", what, r)
			}
		}()
		m, err := kerasfile.Load(path, compileOpts())
		if err != nil {
			if !strings.HasPrefix(err.Error(), "kerasfile: ") {
				t.Errorf("%s: error without context: %v", what, err)
			}
			return false
		}
		defer m.Close()
		if _, err := m.Predict(x, models.PredictOptions{}); err != nil && !strings.Contains(err.Error(), "shape") {
			t.Logf("%s: predict: %v", what, err)
		}
		return true
	}
	whole := filepath.Join(t.TempDir(), "flipped.keras")
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		os.WriteFile(whole, flip(good, 1+i%3), 0o644)
		if try(fmt.Sprintf("zip flip %d", i), whole) {
			counts["zip"]++
		}
		for _, entry := range []string{"config.json", "model.weights.h5"} {
			p := rewrite(t, src, func(name string, b []byte) []byte {
				if name == entry {
					return flip(b, 1+i%3)
				}
				return b
			})
			if try(fmt.Sprintf("%s flip %d", entry, i), p) {
				counts[entry]++
			}
		}
	}
	t.Logf("of %d flipped files each, these still loaded (flips in data or unused fields): %v", n, counts)
}

// TestCraftedFiles reads files made to crash, overflow or stall a reader
// (scripts/reference/keras_hostile.py): each is an error naming what is
// wrong, and reading them all allocates under 512 MiB.
func TestCraftedFiles(t *testing.T) {
	dir := t.TempDir()
	var made struct{ Files []string }
	if err := pyref.Run("keras_hostile.py", map[string]string{"dir": dir}, &made); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"inflate":  "the config declares 1048576 weights, the weights file stores 0",
		"overflow": "input shape [null,1,1,2147483647] holds over",
		"padfrac":  `padding 1.5 is not supported`,
		"strides0": "strides [0 0] is out of range (1 to 256)",
		"eps0":     "epsilon 0: want momentum in (0, 1] and epsilon > 0",
		"amplify":  "vars has 2000 members; a layer has at most 64",
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, name := range made.Files {
		_, err := kerasfile.Read(filepath.Join(dir, name+".keras"), kerasfile.Options{})
		if err == nil || !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: %v\nwant an error saying %q", name, err, want[name])
		}
	}
	runtime.ReadMemStats(&after)
	if mib := (after.TotalAlloc - before.TotalAlloc) >> 20; mib > 512 {
		t.Errorf("reading %d crafted files allocated %d MiB", len(made.Files), mib)
	}
}
