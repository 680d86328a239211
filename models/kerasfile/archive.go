package kerasfile

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tfgo-project/gotf/internal/h5"
)

// Options choose what Read builds and bound what it takes from a file;
// the zero value means the defaults.
type Options struct {
	// TrainableFrom freezes every layer before the one of this name, in the
	// file's layer order (layers of a model used as a layer at its place),
	// as Keras's `for l in model.layers[:k]: l.trainable = False`: the
	// optimizer leaves them alone and BatchNormalization runs them in
	// inference mode. "" keeps what the file says.
	TrainableFrom string
	// Frozen freezes every layer (a feature extractor under a new head).
	Frozen bool
	// FreezeBatchNorm freezes every BatchNormalization layer, so that they
	// keep their pretrained statistics and run in inference mode while the
	// layers around them fine-tune, as Keras's transfer-learning guide
	// advises: small batches would otherwise drag the moving statistics
	// away from what the rest of the network learnt with.
	FreezeBatchNorm bool

	// ConfigBytes bounds config.json (default 64 MiB).
	ConfigBytes int64
	// WeightBytes bounds model.weights.h5 (default 4 GiB).
	WeightBytes int64
}

func (l Options) orDefaults() Options {
	if l.ConfigBytes <= 0 {
		l.ConfigBytes = 64 << 20
	}
	if l.WeightBytes <= 0 {
		l.WeightBytes = 4 << 30
	}
	return l
}

// ErrFormat is wrapped by every error about a file's contents.
var ErrFormat = errors.New("kerasfile: not a .keras file this package reads")

// archive is what a .keras zip holds.
type archive struct {
	config  []byte
	meta    metadata
	weights *h5.File
}

type metadata struct {
	KerasVersion string `json:"keras_version"`
	DateSaved    string `json:"date_saved"`
}

func readArchive(path string, lim Options) (*archive, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("kerasfile: %s: %w (a .keras file is a zip archive: did Keras save it with model.save(\"….keras\")?)", path, err)
	}
	defer z.Close()
	files := map[string]*zip.File{}
	for _, f := range z.File {
		files[f.Name] = f
	}
	a := &archive{}
	read := func(name string, limit int64) ([]byte, error) {
		f, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("%w: %s has no %s", ErrFormat, path, name)
		}
		if f.UncompressedSize64 > uint64(limit) {
			return nil, fmt.Errorf("%w: %s: %s is %d bytes, over the limit of %d (Options)", ErrFormat, path, name, f.UncompressedSize64, limit)
		}
		r, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s: %v", ErrFormat, path, name, err)
		}
		defer r.Close()
		b, err := readExactly(r, int64(f.UncompressedSize64))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s: %v", ErrFormat, path, name, err)
		}
		return b, nil
	}
	if a.config, err = read("config.json", lim.ConfigBytes); err != nil {
		return nil, err
	}
	if meta, err := read("metadata.json", 1<<20); err == nil {
		if err := json.Unmarshal(meta, &a.meta); err != nil {
			return nil, fmt.Errorf("%w: %s: metadata.json: %v", ErrFormat, path, err)
		}
	}
	if _, ok := files["model.weights.h5"]; !ok {
		if _, npz := files["model.weights.npz"]; npz {
			return nil, fmt.Errorf("%w: %s: weights in .npz are not read; save with Keras's default (HDF5)", ErrFormat, path)
		}
	}
	w, err := read("model.weights.h5", lim.WeightBytes)
	if err != nil {
		return nil, err
	}
	if a.weights, err = h5.Open(w); err != nil {
		return nil, fmt.Errorf("kerasfile: %s: model.weights.h5: %w", path, err)
	}
	return a, nil
}

// readExactly reads an entry that must hold n bytes. Memory grows with
// the bytes that arrive, not with the size the header declares.
func readExactly(r io.Reader, n int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != n {
		return nil, fmt.Errorf("holds %d bytes where its header declares %d", len(b), n)
	}
	return b, nil
}
