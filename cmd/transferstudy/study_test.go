package main

import (
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/data/mnist"
	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/plot"
)

// TestFarTarget exports scikit-learn's digits with scripts/sklearn_digits.py
// and reads them back as the far target.
func TestFarTarget(t *testing.T) {
	dir := t.TempDir()
	if err := pyref.Script("sklearn_digits.py", dir); err != nil {
		t.Fatal(err)
	}
	far, err := farTarget(dir, "unused")
	if err != nil {
		t.Fatal(err)
	}
	if far.pool.Len() != 1000 || far.test.Len() != 797 || far.classes != 10 {
		t.Fatalf("pool %d, test %d, classes %d; want 1000, 797, 10", far.pool.Len(), far.test.Len(), far.classes)
	}
	count := make([]int, 10)
	for _, l := range far.pool.Labels {
		count[l]++
	}
	if slices.Min(count) < 50 {
		t.Fatalf("pool counts %v: a class has fewer than 50", count)
	}
	// An upsampled 8×8 digit fills the frame: ink in the outer rows, which
	// MNIST's centred 20×20 digits leave empty, and values in [0, 1].
	var border, total float64
	for i, v := range far.test.Images {
		if v < 0 || v > 1 {
			t.Fatalf("pixel %d = %v", i, v)
		}
		if r := (i % mnist.Size) / 28; r < 3 || r > 24 {
			border += float64(v)
		}
		total += float64(v)
	}
	if total == 0 || border/total < 0.05 {
		t.Fatalf("ink in the outer rows: %.3f of the total", border/total)
	}
	if _, err := farTarget(t.TempDir(), ""); err == nil || !strings.Contains(err.Error(), "sklearn_digits.py") {
		t.Fatalf("missing folder: %v", err)
	}
}

func TestSampleAndAugment(t *testing.T) {
	labels := make([]int32, 300)
	for i := range labels {
		labels[i] = int32(i % 3)
	}
	a, err := sample(labels, 3, 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sample(labels, 3, 5, 7)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := sample(labels, 3, 5, 8)
	if len(a) != 6 || len(b) != 15 {
		t.Fatalf("%d and %d examples", len(a), len(b))
	}
	for _, i := range a {
		if !slices.Contains(b, i) {
			t.Fatalf("the 2-per-class subset %v is not inside the 5-per-class one %v", a, b)
		}
	}
	if slices.Equal(b, c) {
		t.Fatal("two seeds chose the same examples")
	}
	if _, err := sample(labels, 3, 101, 1); err == nil {
		t.Fatal("101 per class out of 100 accepted")
	}

	// One lit pixel at (10, 12): each copy moves it by at most 2 pixels.
	img := make([]float32, mnist.Size)
	img[10*28+12] = 1
	x, y := augment(img, []int32{4}, 6, 2, 1)
	if len(x) != 6*mnist.Size || len(y) != 6 || y[5] != 4 {
		t.Fatalf("%d pixels, labels %v", len(x), y)
	}
	if !slices.Equal(x[:mnist.Size], img) {
		t.Fatal("the first copy is not the original")
	}
	for c := 1; c < 6; c++ {
		at := slices.Index(x[c*mnist.Size:(c+1)*mnist.Size], 1)
		r, q := at/28, at%28
		if at < 0 || (r == 10 && q == 12) || math.Abs(float64(r-10)) > 2 || math.Abs(float64(q-12)) > 2 {
			t.Fatalf("copy %d: pixel at (%d, %d)", c, r, q)
		}
	}
	inv := make([]float32, mnist.Size)
	for i := range inv {
		inv[i] = 1
	}
	inv[10*28+12] = 0
	x, _ = augment(inv, []int32{0}, 2, 2, 1)
	zeros := 0
	for _, v := range x[mnist.Size:] {
		if v == 0 {
			zeros++
		} else if v != 1 {
			t.Fatalf("shifted inverted image has a pixel %v", v)
		}
	}
	if zeros != 1 {
		t.Fatalf("a shifted inverted image has %d dark pixels, want 1: the border is not its background", zeros)
	}
	rot := invertRotate(&mnist.Set{Images: img, Labels: []int32{3}})
	// (10, 12) turns to (12, 27-10) and the ink to 0 on a background of 1.
	if rot.Images[12*28+17] != 0 || rot.Images[0] != 1 || rot.Labels[0] != 3 {
		t.Fatal("invertRotate moved the pixel elsewhere")
	}
	if augCopies(5) != 16 || augCopies(500) != 2 {
		t.Fatalf("augCopies: %d, %d", augCopies(5), augCopies(500))
	}
}

func TestCosineNCM(t *testing.T) {
	// Two classes along two axes, offset by a common vector that centring
	// removes.
	train := []float32{5, 1, 5.1, 1, 1, 5, 1, 5.2}
	test := []float32{4, 1, 1, 4, 3, 2}
	if acc := cosineNCM(train, []int32{0, 0, 1, 1}, test, []int32{0, 1, 0}, 2, 2); acc != 1 {
		t.Fatalf("accuracy %v, want 1", acc)
	}
	if m, sd := meanSD([]float64{0.5, 0.7}); math.Abs(m-0.6) > 1e-12 || math.Abs(sd-math.Sqrt(0.02)) > 1e-12 {
		t.Fatalf("meanSD: %v ± %v", m, sd)
	}
	got, err := parseInts("5, 1,2,5")
	if err != nil || !slices.Equal(got, []int{1, 2, 5}) {
		t.Fatalf("parseInts: %v %v", got, err)
	}
	if _, err := parseInts("1,0"); err == nil {
		t.Fatal("0 labels accepted")
	}
}

// resultRE is the RESULT line's format.
var resultRE = regexp.MustCompile(`^RESULT task=transfer target=(near|far|rot) labels=[0-9]+ scratch=[01]\.[0-9]{4} frozen=[01]\.[0-9]{4} finetuned=[01]\.[0-9]{4} best_depth=(block1|block2|features)$`)

// TestResultsReport checks what the quick path prints and writes, on
// made-up accuracies: the RESULT line, the table and the plot.
func TestResultsReport(t *testing.T) {
	r := &results{target: &target{name: "near", desc: "test", test: &mnist.Set{Labels: make([]int32, 3)}}, labels: []int{1, 5}}
	for _, n := range r.labels {
		for s := 0; s < 2; s++ {
			base := 0.5 + 0.05*float64(n) + 0.01*float64(s)
			r.add("scratch", n, base)
			r.add("scratch+aug", n, base+0.01)
			for i, d := range depths {
				r.add("frozen/"+d+"/cosine", n, base+0.02*float64(i))
				r.add("frozen/"+d+"/linear", n, base-0.1+0.03*float64(n))
			}
			r.add("finetuned/block2+", n, base+0.03)
		}
	}
	line := r.resultLine(1)
	if !resultRE.MatchString(line) {
		t.Fatalf("%q does not match %v", line, resultRE)
	}
	if want := "RESULT task=transfer target=near labels=1 scratch=0.5550 frozen=0.5950 finetuned=0.5850 best_depth=features"; line != want {
		t.Fatalf("got  %s\nwant %s", line, want)
	}
	if v, _ := r.best("frozen/block1/", 0); v != "frozen/block1/cosine" { // linear: -0.07 at 1, +0.05 at 5
		t.Fatalf("best block1 head over both label counts: %s", v)
	}
	tab := r.table()
	if !strings.Contains(tab, "| scratch | 55.5 ± 0.7 | 75.5 ± 0.7 |") || !strings.Contains(tab, "over 2 seed(s)") {
		t.Fatalf("table:\n%s", tab)
	}
	path := filepath.Join(t.TempDir(), "study.png")
	if err := plot.MeanSD(path, r.panel(), r.panel()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatal(err)
	}
	if got := len(r.panel().Bands); got != 6 {
		t.Fatalf("%d lines in the plot, want 6", got)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, c := range []config{
		{targets: "near", labels: "0", seeds: 1, steps: 1, fineSteps: 1},
		{targets: "mars", labels: "1", seeds: 1, steps: 1, fineSteps: 1},
		{targets: "near", labels: "1", seeds: 0, steps: 1, fineSteps: 1},
	} {
		if err := run(c, io.Discard); err == nil {
			t.Fatalf("%+v accepted", c)
		}
	}
}

// TestReplot redoes the report from a --raw file without training.
func TestReplot(t *testing.T) {
	r := &results{target: &target{name: "far", desc: "test", test: &mnist.Set{Labels: make([]int32, 4)}}, labels: []int{2}}
	for _, v := range []string{"scratch", "scratch+aug", "frozen/block1/linear", "frozen/block2/cosine", "frozen/features/linear", "finetuned/block2+"} {
		r.add(v, 2, 0.5+float64(len(v))/100)
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.json")
	if err := writeRaw(raw, []*results{r}); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	c := config{targets: "far", labels: "2", seeds: 1, steps: 1, fineSteps: 1, replot: raw,
		plot: filepath.Join(dir, "p.png"), table: filepath.Join(dir, "t.md"), quiet: true}
	if err := run(c, &out); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != r.resultLine(2) || !resultRE.MatchString(got) {
		t.Fatalf("replot printed %q, want %q", got, r.resultLine(2))
	}
	c.labels = "5"
	if err := run(c, io.Discard); err == nil {
		t.Fatal("a label count the file lacks accepted")
	}
}
