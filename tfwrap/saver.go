package tfwrap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/tfgo-project/gotf/internal/fsync"
)

// Saver writes and reads variables in TensorFlow's checkpoint format (the
// tensor bundle of SaveV2/RestoreV2: PREFIX.index and PREFIX.data-*), which
// tf.train.load_checkpoint reads in Python. It belongs to one Graph.
type Saver struct {
	st      *graphState
	vars    []*Variable
	keys    []string
	prefix  Output
	saved   Output // prefix, after the save has run (SaverDef.save_tensor_name)
	save    *Op
	restore *Op
}

// NewSaver adds save and restore ops for vars to g, storing each under the
// key in keys (nil means the variables' names).
func (g *Graph) NewSaver(vars []*Variable, keys []string) *Saver {
	sv := &Saver{st: g.st, vars: vars, keys: keys}
	if g.st.err != nil {
		return sv
	}
	if len(vars) == 0 {
		g.failf("NewSaver: no variables")
		return sv
	}
	if keys == nil {
		for _, v := range vars {
			sv.keys = append(sv.keys, v.Name())
		}
	}
	if len(sv.keys) != len(vars) {
		g.failf("NewSaver: %d keys for %d variables", len(sv.keys), len(vars))
		return sv
	}
	seen := map[string]bool{}
	for i, v := range vars {
		if !v.ok() || v.st != g.st {
			g.failf("NewSaver: variable %d (%s) is not valid in this graph", i, v.Name())
			return sv
		}
		if seen[sv.keys[i]] || sv.keys[i] == "" {
			g.failf("NewSaver: key %q is empty or repeated", sv.keys[i])
			return sv
		}
		seen[sv.keys[i]] = true
	}
	s := g.WithScope("saver")
	sv.prefix = s.Placeholder("prefix", String)
	names, err := NewStrings(sv.keys)
	if err != nil {
		g.fail(err)
		return sv
	}
	slices, err := NewStrings(make([]string, len(vars)))
	if err != nil {
		g.fail(err)
		return sv
	}
	nameT, sliceT := s.Const(names), s.Const(slices)
	var values tf.OutputList
	var dtypes []tf.DataType
	for _, v := range vars {
		values = append(values, v.read.out)
		dtypes = append(dtypes, tfType(v.dtype))
	}
	if !sv.prefix.Valid() || !nameT.Valid() {
		return sv
	}
	saveOp := s.add("SaveV2", "SaveV2", []tf.Input{sv.prefix.out, nameT.out, sliceT.out, values}, nil)
	restored := s.add("RestoreV2", "RestoreV2", []tf.Input{sv.prefix.out, nameT.out, sliceT.out},
		map[string]any{"dtypes": dtypes})
	if saveOp == nil || restored == nil {
		return sv
	}
	sv.save = &Op{st: g.st, op: saveOp}
	sv.saved = s.After(sv.save).Identity("saved", sv.prefix)
	var assigns []*Op
	for i, v := range vars {
		// EnsureShape turns a checkpoint tensor of another shape into an
		// error instead of a variable of the wrong shape.
		checked := s.add("EnsureShape", "EnsureShape", []tf.Input{restored.Output(i)},
			map[string]any{"shape": tf.MakeShape(v.shape...), "T": tfType(v.dtype)})
		if checked == nil {
			return sv
		}
		a := s.add("AssignVariableOp", "Assign", []tf.Input{v.handle, checked.Output(0)},
			map[string]any{"dtype": tfType(v.dtype)})
		if a == nil {
			return sv
		}
		assigns = append(assigns, &Op{st: g.st, op: a})
	}
	sv.restore = s.Group("restore", assigns...)
	return sv
}

func (sv *Saver) ok() bool { return sv != nil && sv.save != nil && sv.restore != nil }

// Keys returns the checkpoint keys, in the order of the variables.
func (sv *Saver) Keys() []string { return append([]string{}, sv.keys...) }

// Save writes the variables' current values to the checkpoint prefix (the
// folder must exist) and makes them durable. TensorFlow writes into a
// temporary folder beside the prefix; the data and index files are fsynced,
// the data shards are renamed into place and the folder is fsynced, then the
// index, which readers open, is renamed last and the folder fsynced again.
// Saving over an existing checkpoint removes its index before anything else,
// so a save that dies half-way leaves no checkpoint at prefix rather than
// the old index over new data (which restores as DATA_LOSS). To keep the old
// checkpoint until the new one is whole, save under a new prefix, as
// models.CheckpointManager does. A save that is killed can leave its
// temporary folder (".ckpt-tmp-*" beside prefix) behind; Save does not
// remove other saves' folders, since they may still be running.
func (s *Session) Save(sv *Saver, prefix string) error {
	if !sv.ok() || s == nil || sv.st != s.st {
		return errors.New("tfwrap: save: saver is not valid for this session")
	}
	if prefix == "" {
		return errors.New("tfwrap: save: empty checkpoint prefix")
	}
	dir, base := filepath.Dir(prefix), filepath.Base(prefix)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("tfwrap: save: folder %q does not exist", dir)
	}
	tmp, err := os.MkdirTemp(dir, ".ckpt-tmp-")
	if err != nil {
		return fmt.Errorf("tfwrap: save %q: %w", prefix, err)
	}
	defer os.RemoveAll(tmp)
	tmpPrefix := filepath.Join(tmp, base)
	p, err := NewStrings([]string{tmpPrefix}, []int64{}...)
	if err != nil {
		return err
	}
	if _, err := s.Run(Feeds{sv.prefix: p}, nil, sv.save); err != nil {
		return fmt.Errorf("tfwrap: save %q: %w", prefix, err)
	}
	written, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("tfwrap: save %q: %w", prefix, err)
	}
	var index bool
	var shards []string // suffixes after the prefix: ".data-00000-of-00001"
	for _, e := range written {
		suffix, ok := strings.CutPrefix(e.Name(), base)
		switch {
		case !ok || e.IsDir():
		case suffix == ".index":
			index = true
		case strings.HasPrefix(suffix, ".data-"):
			shards = append(shards, suffix)
		}
	}
	if !index || len(shards) == 0 {
		return fmt.Errorf("tfwrap: save %q: TensorFlow wrote no index or no data (%d files)", prefix, len(written))
	}
	for _, suffix := range append(shards, ".index") {
		if err := fsync.File(tmpPrefix + suffix); err != nil {
			return fmt.Errorf("tfwrap: save %q: %w", prefix, err)
		}
	}
	// An older checkpoint at prefix: its index goes first, then its shards,
	// so no reader ever pairs its index with the new data.
	if err := RemoveCheckpoint(prefix); err != nil {
		return fmt.Errorf("tfwrap: save %q: %w", prefix, err)
	}
	for _, suffix := range shards {
		if err := os.Rename(tmpPrefix+suffix, prefix+suffix); err != nil {
			return fmt.Errorf("tfwrap: save %q: %w", prefix, err)
		}
	}
	if err := fsync.Dir(dir); err != nil {
		return fmt.Errorf("tfwrap: save %q: %w", prefix, err)
	}
	if err := os.Rename(tmpPrefix+".index", prefix+".index"); err != nil {
		return fmt.Errorf("tfwrap: save %q: %w", prefix, err)
	}
	if err := fsync.Dir(dir); err != nil {
		return fmt.Errorf("tfwrap: save %q: %w", prefix, err)
	}
	return nil
}

// RemoveCheckpoint deletes the checkpoint at prefix: its index first, so
// that no reader opens it half-deleted, then its data shards; then it fsyncs
// the folder if it removed anything. A missing checkpoint is not an error.
func RemoveCheckpoint(prefix string) error {
	if prefix == "" {
		return errors.New("tfwrap: remove checkpoint: empty prefix")
	}
	dir, base := filepath.Dir(prefix), filepath.Base(prefix)
	err := os.Remove(prefix + ".index")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("tfwrap: remove checkpoint %q: %w", prefix, err)
	}
	removed := err == nil
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tfwrap: remove checkpoint %q: %w", prefix, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), base+".data-") && !e.IsDir() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("tfwrap: remove checkpoint %q: %w", prefix, err)
			}
			removed = true
		}
	}
	if !removed {
		return nil
	}
	if err := fsync.Dir(dir); err != nil {
		return fmt.Errorf("tfwrap: remove checkpoint %q: %w", prefix, err)
	}
	return nil
}

// Restore reads the variables from the checkpoint prefix. Every key must be
// present with the variable's dtype and shape.
func (s *Session) Restore(sv *Saver, prefix string) error {
	if !sv.ok() || s == nil || sv.st != s.st {
		return errors.New("tfwrap: restore: saver is not valid for this session")
	}
	if _, err := os.Stat(prefix + ".index"); err != nil {
		return fmt.Errorf("tfwrap: restore: no checkpoint at %q (%s.index is missing)", prefix, prefix)
	}
	p, err := NewStrings([]string{prefix}, []int64{}...)
	if err != nil {
		return err
	}
	if _, err := s.Run(Feeds{sv.prefix: p}, nil, sv.restore); err != nil {
		return fmt.Errorf("tfwrap: restore %q: %w", prefix, err)
	}
	return nil
}

// ReadCheckpoint reads the tensors with the given keys and dtypes from the
// TF checkpoint at prefix (written by this package, by tf.train or by
// tf.raw_ops.SaveV2), with a small graph of its own.
func ReadCheckpoint(prefix string, want map[string]DType) (map[string]*Tensor, error) {
	if _, err := os.Stat(prefix + ".index"); err != nil {
		return nil, fmt.Errorf("tfwrap: read checkpoint: no checkpoint at %q (%s.index is missing)", prefix, prefix)
	}
	if len(want) == 0 {
		return nil, errors.New("tfwrap: read checkpoint: no keys asked for")
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var dtypes []tf.DataType
	for _, k := range keys {
		if !want[k].Valid() || want[k] == String {
			return nil, fmt.Errorf("tfwrap: read checkpoint: unsupported dtype %v for %q", want[k], k)
		}
		dtypes = append(dtypes, tfType(want[k]))
	}
	g := NewGraph()
	p, err := NewStrings([]string{prefix}, []int64{}...)
	if err != nil {
		return nil, err
	}
	names, err := NewStrings(keys)
	if err != nil {
		return nil, err
	}
	slices, err := NewStrings(make([]string, len(keys)))
	if err != nil {
		return nil, err
	}
	op := g.add("RestoreV2", "RestoreV2", []tf.Input{g.Const(p).out, g.Const(names).out, g.Const(slices).out},
		map[string]any{"dtypes": dtypes})
	if op == nil {
		return nil, g.Err()
	}
	outs := make([]Output, len(keys))
	for i := range keys {
		outs[i] = Output{st: g.st, out: op.Output(i)}
	}
	s, err := g.NewSession()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	res, err := s.Run(nil, outs)
	if err != nil {
		return nil, fmt.Errorf("tfwrap: read checkpoint %q: %w", prefix, err)
	}
	out := make(map[string]*Tensor, len(keys))
	for i, k := range keys {
		out[k] = res[i]
	}
	return out, nil
}
