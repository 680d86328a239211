package imagefolder

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// gifFrames walks a GIF's blocks after its 6-byte signature and returns
// its logical screen, its number of frames and the sum of the frames' own
// areas. The header alone does not bound what decoding a GIF allocates:
// giflib reads every frame at its own size, which may exceed the logical
// screen, and TensorFlow's decoder holds every frame at the screen's size
// before it keeps the first. Only block headers are read; the image data
// is skipped sub-block by sub-block.
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
	for {
		kind, err := r.ReadByte()
		if err != nil {
			return 0, 0, 0, 0, fmt.Errorf("GIF block: %w", err)
		}
		switch kind {
		case 0x3b: // the trailer
			return w, h, frames, framePixels, nil
		case 0x21: // an extension: its label, then sub-blocks
			if _, err := r.ReadByte(); err != nil {
				return 0, 0, 0, 0, fmt.Errorf("GIF extension: %w", err)
			}
			if err := skipSubBlocks(r); err != nil {
				return 0, 0, 0, 0, err
			}
		case 0x2c: // an image: its descriptor, color table, LZW code size, data
			var d [9]byte
			if _, err := io.ReadFull(r, d[:]); err != nil {
				return 0, 0, 0, 0, fmt.Errorf("GIF image descriptor: %w", err)
			}
			frames++
			framePixels += int64(binary.LittleEndian.Uint16(d[4:])) * int64(binary.LittleEndian.Uint16(d[6:]))
			if d[8]&0x80 != 0 {
				if _, err := r.Discard(3 << (d[8]&7 + 1)); err != nil {
					return 0, 0, 0, 0, fmt.Errorf("GIF color table: %w", err)
				}
			}
			if _, err := r.ReadByte(); err != nil {
				return 0, 0, 0, 0, fmt.Errorf("GIF image: %w", err)
			}
			if err := skipSubBlocks(r); err != nil {
				return 0, 0, 0, 0, err
			}
		default:
			return 0, 0, 0, 0, fmt.Errorf("GIF: unknown block 0x%02x", kind)
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
