package imagefolder

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/data/shapes"
	"github.com/tfgo-project/gotf/models"
)

// readEpoch reads one epoch of s: its images and labels (as float32, ids
// or one-hot rows) in order, and the batch sizes.
func readEpoch(t *testing.T, s *Stream) (images, labels []float32, sizes []int) {
	t.Helper()
	for {
		b, err := s.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return images, labels, sizes
		}
		if err != nil {
			t.Fatal(err)
		}
		x, err := b.X.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, x...)
		sizes = append(sizes, int(b.X.Shape()[0]))
		if ids, err := b.Y.Int32s(); err == nil {
			for _, v := range ids {
				labels = append(labels, float32(v))
			}
		} else if rows, err := b.Y.Float32s(); err == nil {
			labels = append(labels, rows...)
		} else {
			t.Fatalf("labels of dtype %v", b.Y.DType())
		}
	}
}

// TestStreamMatchesLoad: a Stream yields, batch by batch, exactly the
// images and labels Load holds (which TestMatchesKeras checks against
// Keras), stretched and cropped, with ids and one-hot labels; the last
// batch is the remainder; every epoch without shuffling is the same; with
// shuffling the first epoch is Load's (Keras's) order and the later ones
// are other orders of the same images, the same again for the same epoch.
func TestStreamMatchesLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := shapes.Write(dir, shapes.Options{PerClass: 7, Size: 20, Seed: 3, JPEG: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		opts    Options
		batches []int
	}{
		{"stretch ids", Options{Height: 12, Width: 16, BatchSize: 4}, []int{4, 4, 4, 4, 4, 1}},
		{"crop one-hot", Options{Height: 10, Width: 6, CropToAspectRatio: true, Categorical: true, BatchSize: 8}, []int{8, 8, 5}},
		{"shuffled split", Options{Height: 8, Width: 8, Shuffle: true, Seed: 5, ValidationSplit: 0.3, Subset: "training", BatchSize: 5}, []int{5, 5, 5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			want, err := Load(dir, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if !slices.Equal(s.Files, want.Files) || s.Len() != len(c.batches) {
				t.Fatalf("files %v, %d batches; Load's %v, want %d batches", s.Files, s.Len(), want.Files, len(c.batches))
			}
			wantLabels := want.OneHot
			if !c.opts.Categorical {
				for _, l := range want.Labels {
					wantLabels = append(wantLabels, float32(l))
				}
			}
			for epoch := range 3 {
				if epoch > 0 {
					if err := s.Reset(); err != nil {
						t.Fatal(err)
					}
				}
				images, labels, sizes := readEpoch(t, s)
				if !slices.Equal(sizes, c.batches) {
					t.Fatalf("epoch %d: batches of %v, want %v", epoch, sizes, c.batches)
				}
				same := slices.Equal(images, want.Images) && slices.Equal(labels, wantLabels)
				if epoch == 0 || !c.opts.Shuffle {
					if !same {
						t.Fatalf("epoch %d: the images or labels differ from Load's", epoch)
					}
					continue
				}
				if same {
					t.Fatalf("epoch %d: shuffled, but in Load's order", epoch)
				}
				// The same images: each of Load's, with its label, once.
				per := s.Height * s.Width * 3
				for i := range want.Files {
					found := false
					for j := range want.Files {
						if slices.Equal(images[j*per:(j+1)*per], want.Images[i*per:(i+1)*per]) && labels[j] == wantLabels[i] {
							found = true
						}
					}
					if !found {
						t.Fatalf("epoch %d: %s missing", epoch, want.Files[i])
					}
				}
			}
			if c.opts.Shuffle { // an epoch's order depends on the epoch alone
				s.ResetEpoch(2)
				a, _, _ := readEpoch(t, s)
				s.ResetEpoch(1)
				s.ResetEpoch(2)
				b, _, _ := readEpoch(t, s)
				if !slices.Equal(a, b) {
					t.Fatal("epoch 2 read twice gave two orders")
				}
			}
		})
	}
}

// TestStreamBadFile: a file whose header passes but TensorFlow cannot
// decode ends the epoch with an error naming it, and again on the next
// call; a bad batch size is an error; after Close (twice) every call is
// ErrClosed.
func TestStreamBadFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := shapes.Write(dir, shapes.Options{Shapes: []string{"circle", "bar"}, PerClass: 6, Size: 16}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "circle", "circle_0004.png")
	b, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, b[:len(b)/2], 0o644); err != nil { // the header whole, the pixels cut
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{BatchSize: -1}); err == nil || !strings.Contains(err.Error(), "batch size -1") {
		t.Errorf("batch size -1: %v", err)
	}
	s, err := Open(dir, Options{Height: 8, Width: 8, BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	var got error
	for range s.Len() + 1 {
		if _, got = s.Next(context.Background()); got != nil {
			break
		}
	}
	if got == nil || !strings.Contains(got.Error(), "circle_0004.png") || !strings.Contains(got.Error(), "batch 4") {
		t.Fatalf("truncated PNG: %v; want an error naming the file and batch 4 (bar 0–5, circle 0–5, batches of 3)", got)
	}
	if _, again := s.Next(context.Background()); again == nil || again.Error() != got.Error() {
		t.Errorf("the call after the error: %v", again)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	s.Close()
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: %v", err)
	}
	if err := s.Reset(); !errors.Is(err, ErrClosed) {
		t.Errorf("Reset after Close: %v", err)
	}
}

var _ models.BatchSource = (*Stream)(nil)
var _ models.EpochResetter = (*Stream)(nil)
