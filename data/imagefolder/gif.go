package imagefolder

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// gifFrames walks a GIF's blocks after its 6-byte signature and returns
// the canvas decoding it allocates per frame, its number of frames and the
// sum of the frames' own areas. The header alone does not bound what
// decoding a GIF allocates: giflib reads every frame at its own size, and
// TensorFlow's decoder holds every frame on a canvas as wide as the
// widest frame and as tall as the tallest (a 4000 × 1 frame and a 1 × 4000
// one decode to 4000 × 4000, whatever the logical screen says) before it
// keeps the first. Only block headers are read; the image data is skipped
// sub-block by sub-block. A file that ends, or turns to bytes that are no
// block, after its first frame is measured up to there: giflib stops at
// the same place and TensorFlow decodes the frames before it.
func gifFrames(r *bufio.Reader) (w, h, frames, framePixels int64, err error) {
	var lsd [7]byte
	if _, err := io.ReadFull(r, lsd[:]); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("GIF screen descriptor: %w", err)
	}
	w, h = int64(binary.LittleEndian.Uint16(lsd[0:])), int64(binary.LittleEndian.Uint16(lsd[2:]))
	if lsd[4]&0x80 != 0 { // a global color table
		if _, err := r.Discard(3 << (lsd[4]&7 + 1)); err != nil {
			return 0, 0, 0, 0, fmt.Errorf("GIF color table: %w", err)
		}
	}
	end := func(err error) (int64, int64, int64, int64, error) {
		if frames > 0 { // what giflib read before the end
			return w, h, frames, framePixels, nil
		}
		return 0, 0, 0, 0, err
	}
	for {
		kind, err := r.ReadByte()
		if err != nil {
			return end(fmt.Errorf("GIF block: %w", err))
		}
		switch kind {
		case 0x3b: // the trailer
			return end(errNoFrames)
		case 0x21: // an extension: its label, then sub-blocks
			if _, err := r.ReadByte(); err != nil {
				return end(fmt.Errorf("GIF extension: %w", err))
			}
			if err := skipSubBlocks(r); err != nil {
				return end(err)
			}
		case 0x2c: // an image: its descriptor, color table, LZW code size, data
			var d [9]byte
			if _, err := io.ReadFull(r, d[:]); err != nil {
				return end(fmt.Errorf("GIF image descriptor: %w", err))
			}
			left, top := int64(binary.LittleEndian.Uint16(d[0:])), int64(binary.LittleEndian.Uint16(d[2:]))
			fw, fh := int64(binary.LittleEndian.Uint16(d[4:])), int64(binary.LittleEndian.Uint16(d[6:]))
			frames++
			framePixels += fw * fh
			w, h = max(w, left+fw), max(h, top+fh) // offsets counted: never less than TensorFlow's canvas
			if d[8]&0x80 != 0 {
				if _, err := r.Discard(3 << (d[8]&7 + 1)); err != nil {
					return end(fmt.Errorf("GIF color table: %w", err))
				}
			}
			if _, err := r.ReadByte(); err != nil {
				return end(fmt.Errorf("GIF image: %w", err))
			}
			if err := skipSubBlocks(r); err != nil {
				return end(err)
			}
		default:
			return end(fmt.Errorf("GIF: unknown block 0x%02x", kind))
		}
	}
}

func skipSubBlocks(r *bufio.Reader) error {
	for {
		n, err := r.ReadByte()
		if err != nil {
			return fmt.Errorf("GIF data: %w", err)
		}
		if n == 0 {
			return nil
		}
		if _, err := r.Discard(int(n)); err != nil {
			return fmt.Errorf("GIF data: %w", err)
		}
	}
}

var errNoFrames = errors.New("a GIF without frames")
