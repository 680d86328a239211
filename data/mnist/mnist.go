package mnist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// Size is the number of pixels in one 28×28 image.
const Size = 28 * 28

// Set is a set of digits. Images holds Len()*784 pixels in [0, 1], row-major,
// exactly the package's floats; Labels holds the digit of each image.
type Set struct {
	Images []float32
	Labels []int32
}

// Len returns the number of digits.
func (s *Set) Len() int { return len(s.Labels) }

// pixel maps a stored byte k to round(k/255, 3), the package's own value.
var pixel = func() (t [256]float32) {
	for k := range t {
		t[k] = float32(math.Round(float64(k)/255*1000) / 1000)
	}
	return t
}()

// DefaultDir is where scripts/setup.sh leaves the files, relative to the
// repository root.
const DefaultDir = ".cache/mnist"

// Load reads dir/train.bin and dir/test.bin.
func Load(dir string) (train, test *Set, err error) {
	if train, err = ReadFile(filepath.Join(dir, "train.bin")); err != nil {
		return nil, nil, err
	}
	if test, err = ReadFile(filepath.Join(dir, "test.bin")); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// ReadFile reads one file in the compact form.
func ReadFile(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("mnist: %s is missing; run `make setup` to fetch and convert MNIST", path)
		}
		return nil, fmt.Errorf("mnist: %w", err)
	}
	defer f.Close()
	s, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("mnist: %s: %w", path, err)
	}
	return s, nil
}

// Read decodes the compact form: "MNST", then count, rows and cols as
// little-endian uint32, count label bytes and count*rows*cols pixel bytes.
func Read(r io.Reader) (*Set, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("short header: %w", err)
	}
	if string(hdr[:4]) != "MNST" {
		return nil, errors.New("not an MNST file")
	}
	n := binary.LittleEndian.Uint32(hdr[4:])
	rows, cols := binary.LittleEndian.Uint32(hdr[8:]), binary.LittleEndian.Uint32(hdr[12:])
	if rows != 28 || cols != 28 {
		return nil, fmt.Errorf("images are %d×%d, want 28×28", rows, cols)
	}
	if n == 0 || n > 1<<24 {
		return nil, fmt.Errorf("implausible count %d", n)
	}
	labels := make([]byte, n)
	if _, err := io.ReadFull(r, labels); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	raw := make([]byte, int(n)*Size)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("pixels: %w", err)
	}
	s := &Set{Images: make([]float32, len(raw)), Labels: make([]int32, n)}
	for i, l := range labels {
		if l > 9 {
			return nil, fmt.Errorf("label %d of image %d is not a digit", l, i)
		}
		s.Labels[i] = int32(l)
	}
	for i, k := range raw {
		s.Images[i] = pixel[k]
	}
	return s, nil
}

// Filter returns the digits for which keep(label) is true, relabelled by
// relabel (identity when nil): e.g. digits 5–9 as classes 0–4.
func (s *Set) Filter(keep func(label int32) bool, relabel func(int32) int32) *Set {
	out := &Set{}
	for i, l := range s.Labels {
		if !keep(l) {
			continue
		}
		if relabel != nil {
			l = relabel(l)
		}
		out.Labels = append(out.Labels, l)
		out.Images = append(out.Images, s.Images[i*Size:(i+1)*Size]...)
	}
	return out
}
