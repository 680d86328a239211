// Package imagefolder reads a folder of images, one subfolder per class,
// into the float32 images and labels a model trains on, with the
// semantics of Keras's image_dataset_from_directory: classes are the
// subfolders in sorted order, files are the .bmp, .gif, .jpeg, .jpg and
// .png in each (case-insensitive, sorted), decoded to RGB and resized to
// one size by TensorFlow's own kernels (DecodeImage, then ResizeBilinear
// with half-pixel centers, as tf.image.resize does), values 0–255;
// labels as class ids or one-hot rows; an optional validation split,
// shuffling with a seed, and cropping to the target's aspect ratio.
package imagefolder

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // headers for the MaxPixels check
	_ "image/png"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tfgo-project/gotf/internal/nprand"
	"github.com/tfgo-project/gotf/tfwrap"
)

// Options follow image_dataset_from_directory's arguments.
type Options struct {
	Height, Width int  // the size every image is resized to (0: 256 × 256)
	Categorical   bool // one-hot labels (label_mode="categorical"); else class ids ("int")
	// Shuffle orders the files by a seeded shuffle, the one Keras makes
	// with the same seed (numpy's RandomState(seed).shuffle; Seed 0 to
	// 2^32-1), so the validation split holds the same files; false keeps
	// the sorted order. (Keras also reshuffles batches every epoch; Fit
	// does its own.)
	Shuffle bool
	Seed    int64
	// ValidationSplit keeps the last fraction of the (shuffled) files for
	// validation; Subset picks "training" or "validation".
	ValidationSplit float64
	Subset          string
	// CropToAspectRatio crops the largest centred window of the target's
	// aspect ratio before resizing (Keras's smart_resize), instead of
	// stretching the image.
	CropToAspectRatio bool
	// MaxPixels refuses an image whose header declares more pixels than
	// this (0: 1<<26, 64 Mi), read before TensorFlow decodes it, so a
	// small file cannot make the decoder allocate gigabytes. Checked for
	// PNG, JPEG, GIF and BMP headers; a file whose header Go cannot read
	// is refused, since its size cannot be checked.
	MaxPixels int64
	// MaxFileBytes refuses a larger file before it is read (0: 256 MiB).
	MaxFileBytes int64
	// BatchSize is the batch a Stream yields (0: 32, Keras's default);
	// Load ignores it.
	BatchSize int
}

// Set is the images read, in file order.
type Set struct {
	Classes []string
	Files   []string
	Height  int
	Width   int
	Images  []float32 // len(Files) × Height × Width × 3
	Labels  []int32   // class ids (always set)
	OneHot  []float32 // len(Files) × len(Classes), when Categorical
}

var formats = []string{".bmp", ".gif", ".jpeg", ".jpg", ".png"}

// prepare checks opts and fills in its defaults, lists dir's classes and
// files, shuffles and splits them, and checks every file's kind, size and
// header, in Go, before TensorFlow reads any.
func prepare(dir string, opts *Options) (files []string, labels []int32, classes []string, err error) {
	if opts.Height == 0 && opts.Width == 0 {
		opts.Height, opts.Width = 256, 256
	}
	if opts.Height <= 0 || opts.Width <= 0 || opts.Height > 1<<14 || opts.Width > 1<<14 {
		return nil, nil, nil, fmt.Errorf("imagefolder: image size %d × %d: want 1 to 16384 each", opts.Height, opts.Width)
	}
	if opts.ValidationSplit < 0 || opts.ValidationSplit >= 1 {
		return nil, nil, nil, fmt.Errorf("imagefolder: validation split %v: want 0 to under 1", opts.ValidationSplit)
	}
	if (opts.ValidationSplit > 0) != (opts.Subset != "") || (opts.Subset != "" && opts.Subset != "training" && opts.Subset != "validation") {
		return nil, nil, nil, errors.New(`imagefolder: a validation split needs Subset "training" or "validation", and a Subset needs a split`)
	}
	files, labels, classes, err = index(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	if opts.Shuffle {
		// numpy's RandomState(seed).shuffle, as Keras shuffles the file
		// list: the same order, and so the same validation split.
		r, err := nprand.New(opts.Seed)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("imagefolder: %w", err)
		}
		r.Shuffle(len(files), func(i, j int) {
			files[i], files[j] = files[j], files[i]
			labels[i], labels[j] = labels[j], labels[i]
		})
	}
	if opts.ValidationSplit > 0 {
		nval := int(opts.ValidationSplit * float64(len(files)))
		if opts.Subset == "training" {
			files, labels = files[:len(files)-nval], labels[:len(labels)-nval]
		} else {
			files, labels = files[len(files)-nval:], labels[len(labels)-nval:]
		}
		if len(files) == 0 {
			return nil, nil, nil, fmt.Errorf("imagefolder: %s: the %s subset of a %v split is empty", dir, opts.Subset, opts.ValidationSplit)
		}
	}
	if opts.MaxPixels == 0 {
		opts.MaxPixels = 1 << 26
	}
	if opts.MaxFileBytes == 0 {
		opts.MaxFileBytes = 1 << 28
	}
	if err := checkHeaders(files, opts.MaxPixels, opts.MaxFileBytes); err != nil {
		return nil, nil, nil, err
	}
	return files, labels, classes, nil
}

// Load reads dir: every image decoded, resized and held in memory (Open
// reads a folder too large for that batch by batch).
func Load(dir string, opts Options) (*Set, error) {
	files, labels, classes, err := prepare(dir, &opts)
	if err != nil {
		return nil, err
	}
	s := &Set{Classes: classes, Files: files, Height: opts.Height, Width: opts.Width, Labels: labels,
		Images: make([]float32, len(files)*opts.Height*opts.Width*3)}
	// TensorFlow's tf.data kernels decode in batches on its own threads.
	err = decodeAll(files, labels, opts, s.Images)
	if err == nil {
		return s.finish(opts), nil
	}
	// A file TensorFlow could not decode: the per-file decoder names it.
	if bad := findBad(files, opts); bad != nil {
		return nil, bad
	}
	return nil, fmt.Errorf("imagefolder: TensorFlow could not decode the folder, but every file decodes alone: %w", err)
}

// findBad decodes files one by one, on every core, and returns the error
// of the first, in file order, that TensorFlow cannot decode (nil: none).
func findBad(files []string, opts Options) error {
	d, err := newDecoder(opts.Height, opts.Width)
	if err != nil {
		return err
	}
	defer d.close()
	// The session is shared: TensorFlow runs calls side by side.
	return firstError(len(files), func(i int) error {
		_, err := d.load(files[i], opts.CropToAspectRatio)
		return err
	})
}

// finish adds the one-hot labels.
func (s *Set) finish(opts Options) *Set {
	if opts.Categorical {
		s.OneHot = make([]float32, len(s.Labels)*len(s.Classes))
		for i, l := range s.Labels {
			s.OneHot[i*len(s.Classes)+int(l)] = 1
		}
	}
	return s
}

// badFile is a file refused before decoding.
type badFile struct{ msg string }

func (e *badFile) Error() string { return e.msg }

// checkHeaders refuses, before anything decodes them, a file that is not
// a regular file, is larger than maxBytes, has a header Go cannot read, or
// declares more than maxPixels pixels.
func checkHeaders(files []string, maxPixels, maxBytes int64) error {
	// On every core: a header read is a stat, an open and a few hundred
	// bytes, about 12 µs a file here.
	return firstError(len(files), func(i int) error { return checkHeader(files[i], maxPixels, maxBytes) })
}

// firstError runs f(0) … f(n-1) on every core (up to 8 goroutines) and
// returns the error of the lowest i that failed, so that the file named is
// the first bad one in file order whatever the scheduling; nil if none.
func firstError(n int, f func(i int) error) error {
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n, 8) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				errs[i] = f(i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkHeader is checkHeaders for one file.
func checkHeader(path string, maxPixels, maxBytes int64) error {
	// Stat follows a link: a FIFO or device named x.jpg would block or
	// never end when read.
	st, err := os.Stat(path)
	if err != nil {
		return &badFile{fmt.Sprintf("imagefolder: %v", err)}
	}
	if !st.Mode().IsRegular() {
		return &badFile{fmt.Sprintf("imagefolder: %s is not a regular file", path)}
	}
	if st.Size() > maxBytes {
		return &badFile{fmt.Sprintf("imagefolder: %s has %d bytes, more than %d (Options.MaxFileBytes)", path, st.Size(), maxBytes)}
	}
	w, h, frames, framePixels, err := headerSize(path)
	if err != nil {
		return &badFile{fmt.Sprintf("imagefolder: %s: %v: its pixel count cannot be checked against MaxPixels before decoding (re-save the image)", path, err)}
	}
	if w*h > maxPixels {
		return &badFile{fmt.Sprintf("imagefolder: %s declares %d × %d pixels, more than %d (Options.MaxPixels)", path, w, h, maxPixels)}
	}
	if frames > 0 && (w*h*frames > maxPixels || framePixels > maxPixels) {
		return &badFile{fmt.Sprintf("imagefolder: %s holds %d frames on a canvas of %d × %d (%d pixels in its frames' own sizes), more than %d pixels decoded (Options.MaxPixels)",
			path, frames, w, h, framePixels, maxPixels)}
	}
	return nil
}

// headerSize reads an image's declared width and height from its header:
// Go's decoders for PNG and JPEG, BMP's header by hand (Go's standard
// library has no BMP decoder), and for a GIF the canvas its frames decode
// to, their count and their own areas (gifFrames).
func headerSize(path string) (w, h, frames, framePixels int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 4096)
	if head, _ := r.Peek(6); string(head) == "GIF87a" || string(head) == "GIF89a" {
		r.Discard(6)
		return gifFrames(r)
	}
	if head, _ := r.Peek(26); len(head) == 26 && head[0] == 'B' && head[1] == 'M' {
		bw := int64(int32(binary.LittleEndian.Uint32(head[18:])))
		bh := int64(int32(binary.LittleEndian.Uint32(head[22:])))
		if bh < 0 { // a top-down BMP
			bh = -bh
		}
		if bw <= 0 || bh <= 0 {
			return 0, 0, 0, 0, fmt.Errorf("a BMP header declaring %d × %d pixels", bw, bh)
		}
		return bw, bh, 0, 0, nil
	}
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("unreadable header (%v)", err)
	}
	return int64(cfg.Width), int64(cfg.Height), 0, 0, nil
}

// decodeAll decodes and resizes files into dst through the tf.data pipeline.
func decodeAll(files []string, labels []int32, opts Options, dst []float32) error {
	p, err := newPipeline(opts.Height, opts.Width, loadBatch, opts.CropToAspectRatio, 0)
	if err != nil {
		return err
	}
	defer p.close()
	return p.run(files, labels, dst)
}

// loadBatch is the batch Load reads the pipeline in: one session call per
// 64 images.
const loadBatch = 64

// index lists the classes (sorted subfolders) and their image files
// (sorted, by folder then name, subfolders of a class included).
func index(dir string) (files []string, labels []int32, classes []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("imagefolder: %w", err)
	}
	for _, e := range entries {
		// As Keras: hidden folders (.ipynb_checkpoints) are not classes, and
		// a link to a folder is one.
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.IsDir() {
			classes = append(classes, e.Name())
		} else if e.Type()&os.ModeSymlink != 0 {
			if st, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && st.IsDir() {
				classes = append(classes, e.Name())
			}
		}
	}
	sort.Strings(classes)
	if len(classes) == 0 {
		return nil, nil, nil, fmt.Errorf("imagefolder: %s has no subfolders: want one per class", dir)
	}
	for i, c := range classes {
		var found []string
		// The trailing separator makes WalkDir enter a class that is a link.
		err := filepath.WalkDir(filepath.Join(dir, c)+string(filepath.Separator), func(p string, e os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() && isImage(e.Name()) {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("imagefolder: %w", err)
		}
		// Keras's order: folders sorted by path, then each folder's files
		// by name (os.walk sorted by root), so a class's own files come
		// before those of its subfolders.
		sort.Slice(found, func(i, j int) bool {
			di, dj := filepath.Dir(found[i]), filepath.Dir(found[j])
			if di != dj {
				return di < dj
			}
			return filepath.Base(found[i]) < filepath.Base(found[j])
		})
		for _, f := range found {
			files = append(files, f)
			labels = append(labels, int32(i))
		}
	}
	if len(files) == 0 {
		return nil, nil, nil, fmt.Errorf("imagefolder: %s: no images (%s) in its class folders", dir, strings.Join(formats, " "))
	}
	return files, labels, classes, nil
}

func isImage(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, f := range formats {
		if ext == f {
			return true
		}
	}
	return false
}

// decoder holds the two small graphs every image goes through: decode
// (to learn the size, for the crop), then crop and resize.
type decoder struct {
	g                        *tfwrap.Graph
	s                        *tfwrap.Session
	contents, begin, size    tfwrap.Output
	decoded, shape, pixelsIn tfwrap.Output
	resized, whole           tfwrap.Output
	height, width            int
}

func newDecoder(h, w int) (*decoder, error) {
	g := tfwrap.NewGraph()
	d := &decoder{g: g, height: h, width: w}
	d.contents = g.Placeholder("contents", tfwrap.String)
	d.decoded = g.AddOp(tfwrap.OpSpec{Type: "DecodeImage", Inputs: []tfwrap.Input{d.contents},
		Attrs: tfwrap.Attrs{"channels": int64(3), "dtype": tfwrap.Uint8, "expand_animations": false}}).Output(0)
	d.shape = g.ShapeOf(d.decoded)
	d.pixelsIn = g.Placeholder("pixels", tfwrap.Uint8, -1, -1, 3)
	d.begin = g.Placeholder("begin", tfwrap.Int32, 3)
	d.size = g.Placeholder("size", tfwrap.Int32, 3)
	crop := g.AddOp(tfwrap.OpSpec{Type: "Slice", Inputs: []tfwrap.Input{d.pixelsIn, d.begin, d.size}}).Output(0)
	sizeHW, err := tfwrap.NewTensor([]int32{int32(h), int32(w)}, 2)
	if err != nil {
		return nil, err
	}
	resize := func(x tfwrap.Output) tfwrap.Output {
		return g.AddOp(tfwrap.OpSpec{Type: "ResizeBilinear",
			Inputs: []tfwrap.Input{g.ExpandDims(x, 0), g.Const(sizeHW)},
			Attrs:  tfwrap.Attrs{"align_corners": false, "half_pixel_centers": true}}).Output(0)
	}
	d.resized = resize(crop)
	d.whole = resize(d.decoded) // no crop: decode and resize in one call
	s, err := g.NewSession()
	if err != nil {
		return nil, fmt.Errorf("imagefolder: %w", err)
	}
	d.s = s
	return d, nil
}

func (d *decoder) close() { d.s.Close() }

// load decodes and resizes one file.
func (d *decoder) load(path string, crop bool) ([]float32, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("imagefolder: %w", err)
	}
	c, err := tfwrap.NewStrings([]string{string(raw)}, []int64{}...) // a scalar
	if err != nil {
		return nil, err
	}
	if !crop {
		res, err := d.s.Run(tfwrap.Feeds{d.contents: c}, []tfwrap.Output{d.whole})
		if err != nil {
			return nil, fmt.Errorf("imagefolder: %s: not an image TensorFlow decodes: %w", path, err)
		}
		return res[0].Float32s()
	}
	out, err := d.s.Run(tfwrap.Feeds{d.contents: c}, []tfwrap.Output{d.decoded, d.shape})
	if err != nil {
		return nil, fmt.Errorf("imagefolder: %s: not an image TensorFlow decodes: %w", path, err)
	}
	dims, err := out[1].Int32s()
	if err != nil {
		return nil, err
	}
	ih, iw := int(dims[0]), int(dims[1])
	begin, size := []int32{0, 0, 0}, []int32{int32(ih), int32(iw), 3}
	if crop { // Keras's smart_resize: the largest centred window of the target's ratio
		ch := min(ih, int(float32(iw*d.height)/float32(d.width)))
		cw := min(iw, int(float32(ih*d.width)/float32(d.height)))
		begin = []int32{int32(int(float32(ih-ch) / 2)), int32(int(float32(iw-cw) / 2)), 0}
		size = []int32{int32(ch), int32(cw), 3}
	}
	bt, _ := tfwrap.NewTensor(begin, 3)
	st, _ := tfwrap.NewTensor(size, 3)
	res, err := d.s.Run(tfwrap.Feeds{d.pixelsIn: out[0], d.begin: bt, d.size: st}, []tfwrap.Output{d.resized})
	if err != nil {
		return nil, fmt.Errorf("imagefolder: %s: resizing: %w", path, err)
	}
	return res[0].Float32s()
}
