package models

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/tfgo-project/gotf/internal/fsync"
	"github.com/tfgo-project/gotf/tfwrap"
)

const (
	stateName = "checkpoint"      // what tf.train.latest_checkpoint reads
	stateTemp = ".checkpoint.tmp" // the next state, before its rename
	stagePref = ".ckpt-tmp-"      // a save's own folder, until it is published
	dropName  = "drop"            // in a save's folder: the checkpoints it drops
)

// stageHook, when a test sets it, is called at each step of a save with
// the step's name, so the test can copy the folder as a crash at that
// moment would leave it.
var stageHook func(stage string)

func stage(name string) {
	if stageHook != nil {
		stageHook(name)
	}
}

// CheckpointManager keeps a model's training checkpoints in Dir as
// TensorFlow does: ckpt-N.index and ckpt-N.data-* for each save N, and a
// "checkpoint" file naming the latest, which tf.train.latest_checkpoint
// reads.
//
// Saves are crash-safe: a process killed at any moment of a save leaves
// either the previous latest checkpoint or the new one as the latest, whole,
// and saving a number again keeps its old files until the new ones are
// complete. A save writes and fsyncs the new checkpoint in a folder of its
// own (.ckpt-tmp-*), commits by atomically replacing the "checkpoint" file
// with one that names that staged copy, then links it in as ckpt-N, removes
// the checkpoints beyond MaxToKeep and replaces the "checkpoint" file again.
// The next Save or Restore finishes a save that had committed, and removes
// what one that had not left behind: its folder, a half-written
// "checkpoint" file, data files whose index is gone. Tidying up never
// removes a checkpoint that the "checkpoint" file names or that has its
// index.
//
// One CheckpointManager in one process may use Dir at a time: Save and
// Restore take any save folder the "checkpoint" file does not name to be
// left by a dead save. Not safe for concurrent use.
type CheckpointManager struct {
	Dir string
	// MaxToKeep is how many checkpoints to keep (0: 3).
	MaxToKeep int
}

// state reads the "checkpoint" file: the latest path and all kept ones, as
// written (relative to Dir or absolute). A missing file is no checkpoint.
func (c *CheckpointManager) state() (latest string, all []string, err error) {
	file := filepath.Join(c.Dir, stateName)
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("read checkpoint state: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		k = strings.TrimSpace(k)
		if !ok || (k != "model_checkpoint_path" && k != "all_model_checkpoint_paths") {
			continue // Python's manager adds timestamps, which are numbers
		}
		v, err := strconv.Unquote(strings.TrimSpace(v))
		if err != nil {
			return "", nil, fmt.Errorf("read checkpoint state %s: %s: %w", file, k, err)
		}
		if k == "model_checkpoint_path" {
			latest = v
		} else {
			all = append(all, v)
		}
	}
	if err := sc.Err(); err != nil {
		return "", nil, fmt.Errorf("read checkpoint state %s: %w", file, err)
	}
	return latest, all, nil
}

// path resolves a path from the "checkpoint" file against Dir.
func (c *CheckpointManager) path(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(c.Dir, p)
}

// staged returns the name of the save folder in Dir that p (from the
// "checkpoint" file) lies in, or "".
func (c *CheckpointManager) staged(p string) string {
	if p == "" {
		return ""
	}
	d := filepath.Dir(c.path(p))
	if filepath.Dir(d) != filepath.Clean(c.Dir) || !strings.HasPrefix(filepath.Base(d), stagePref) {
		return ""
	}
	return filepath.Base(d)
}

// writeState atomically replaces the "checkpoint" file: a temporary file,
// fsynced, renamed over it, and the folder fsynced.
func (c *CheckpointManager) writeState(latest string, all []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "model_checkpoint_path: %q\n", latest)
	for _, p := range all {
		fmt.Fprintf(&b, "all_model_checkpoint_paths: %q\n", p)
	}
	tmp := filepath.Join(c.Dir, stateTemp)
	if err := writeSynced(tmp, b.String()); err != nil {
		return fmt.Errorf("write checkpoint state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(c.Dir, stateName)); err != nil {
		return fmt.Errorf("write checkpoint state: %w", err)
	}
	return fsync.Dir(c.Dir)
}

// Latest returns the prefix of the latest checkpoint, or "". It only reads:
// after a save that died after its commit, the prefix lies in that save's
// folder until the next Save or Restore publishes it.
func (c *CheckpointManager) Latest() (string, error) {
	if c == nil || c.Dir == "" {
		return "", errors.New("models: latest checkpoint: the manager has no folder")
	}
	latest, _, err := c.state()
	if err != nil {
		return "", fmt.Errorf("models: latest checkpoint: %w", err)
	}
	if latest == "" {
		return "", nil
	}
	return c.path(latest), nil
}

func (c *CheckpointManager) keep() int {
	if c.MaxToKeep <= 0 {
		return 3
	}
	return c.MaxToKeep
}

// Save writes m's whole training state (Sequential.SaveCheckpoint)
// as checkpoint number n and makes it the latest. It returns the prefix.
// Saving a number that exists replaces that checkpoint once the new one is
// whole. A failed save leaves the previous latest checkpoint in place.
func (c *CheckpointManager) Save(m *Model, n int) (string, error) {
	if c == nil || c.Dir == "" {
		return "", errors.New("models: save checkpoint: the manager has no folder")
	}
	if m == nil {
		return "", errors.New("models: save checkpoint: nil model")
	}
	if n < 0 {
		return "", fmt.Errorf("models: save checkpoint: negative number %d", n)
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return "", fmt.Errorf("models: save checkpoint: %w", err)
	}
	if err := c.tidy(); err != nil {
		return "", fmt.Errorf("models: save checkpoint %d: %w", n, err)
	}
	_, all, err := c.state()
	if err != nil {
		return "", fmt.Errorf("models: save checkpoint %d: %w", n, err)
	}
	name := fmt.Sprintf("ckpt-%d", n)
	folder, err := os.MkdirTemp(c.Dir, stagePref)
	if err != nil {
		return "", fmt.Errorf("models: save checkpoint %d: %w", n, err)
	}
	committing := false
	defer func() {
		// Once the "checkpoint" file may name the folder, only tidy (which
		// reads that file) may remove it.
		if !committing {
			os.RemoveAll(folder)
		}
	}()
	staged := filepath.Join(filepath.Base(folder), name)
	// tfwrap fsyncs the files and the folder they are in.
	if err := m.SaveCheckpoint(filepath.Join(c.Dir, staged)); err != nil {
		return "", fmt.Errorf("models: save checkpoint %d: %w", n, err)
	}
	// The checkpoints to keep: the old ckpt-N, if any, is named no more, so
	// publishing may replace it. Those beyond MaxToKeep are listed in the
	// folder, so that whoever finishes the save removes them.
	var kept []string
	for _, p := range all {
		if c.path(p) != filepath.Join(c.Dir, name) {
			kept = append(kept, p)
		}
	}
	kept = append(kept, staged)
	var drop []string
	if k := c.keep(); len(kept) > k {
		drop, kept = kept[:len(kept)-k], kept[len(kept)-k:]
	}
	if err := writeSynced(filepath.Join(folder, dropName), strings.Join(drop, "\n")); err != nil {
		return "", fmt.Errorf("models: save checkpoint %d: %w", n, err)
	}
	// The folder's entries, then its own entry in Dir, are durable before
	// the "checkpoint" file names it.
	if err := fsync.Dir(folder); err != nil {
		return "", fmt.Errorf("models: save checkpoint %d: %w", n, err)
	}
	if err := fsync.Dir(c.Dir); err != nil {
		return "", fmt.Errorf("models: save checkpoint %d: %w", n, err)
	}
	stage("staged")
	// The commit: the staged copy becomes the latest.
	committing = true
	if err := c.writeState(staged, kept); err != nil {
		return "", fmt.Errorf("models: save checkpoint %d: %w", n, err)
	}
	stage("committed")
	if err := c.publish(staged, kept); err != nil {
		return "", fmt.Errorf("models: save checkpoint %d: %w", n, err)
	}
	return filepath.Join(c.Dir, name), nil
}

// publish finishes a committed save: the "checkpoint" file names staged
// (folder/ckpt-N) as the latest, among all. It links the staged files in as
// ckpt-N (data first, index last; the staged copy stays whole meanwhile),
// fsyncs Dir, removes the checkpoints the save dropped (listed in the
// folder), names ckpt-N in the "checkpoint" file instead of the staged copy,
// and removes the folder. Until that last "checkpoint" file is in place,
// the staged copy is the latest and tidy runs publish again after a crash;
// run again from any point, it ends in the same place.
func (c *CheckpointManager) publish(staged string, all []string) error {
	folder := c.path(filepath.Dir(staged))
	name := filepath.Base(staged)
	files, err := os.ReadDir(folder)
	if err != nil {
		return fmt.Errorf("publish %s: %w", staged, err)
	}
	var data []string
	index := false
	for _, f := range files {
		switch suffix, ok := strings.CutPrefix(f.Name(), name); {
		case !ok || f.IsDir():
		case suffix == ".index":
			index = true
		case strings.HasPrefix(suffix, ".data-"):
			data = append(data, f.Name())
		}
	}
	if !index || len(data) == 0 {
		return fmt.Errorf("publish %s: the staged checkpoint is not whole (index %v, %d data files)", staged, index, len(data))
	}
	// What an older save left under this name: no "checkpoint" file names it.
	if err := tfwrap.RemoveCheckpoint(filepath.Join(c.Dir, name)); err != nil {
		return fmt.Errorf("publish %s: remove the old %s: %w", staged, name, err)
	}
	stage("cleared")
	for _, f := range data {
		if err := linkOrCopy(filepath.Join(folder, f), filepath.Join(c.Dir, f)); err != nil {
			return fmt.Errorf("publish %s: %w", staged, err)
		}
	}
	if err := fsync.Dir(c.Dir); err != nil {
		return fmt.Errorf("publish %s: %w", staged, err)
	}
	stage("data")
	if err := linkOrCopy(filepath.Join(folder, name+".index"), filepath.Join(c.Dir, name+".index")); err != nil {
		return fmt.Errorf("publish %s: %w", staged, err)
	}
	if err := fsync.Dir(c.Dir); err != nil {
		return fmt.Errorf("publish %s: %w", staged, err)
	}
	stage("linked")
	drop, err := os.ReadFile(filepath.Join(folder, dropName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("publish %s: %w", staged, err)
	}
	named := c.named(staged, all)
	for _, p := range strings.Split(string(drop), "\n") {
		if p == "" || named[c.path(p)] || c.staged(p) != "" {
			continue // a save folder nothing names is tidy's to remove
		}
		if err := tfwrap.RemoveCheckpoint(c.path(p)); err != nil {
			return fmt.Errorf("publish %s: drop %s: %w", staged, p, err)
		}
	}
	stage("dropped")
	var kept []string
	for _, p := range all {
		if p != staged && c.path(p) != filepath.Join(c.Dir, name) {
			kept = append(kept, p)
		}
	}
	if err := c.writeState(name, append(kept, name)); err != nil {
		return fmt.Errorf("publish %s: %w", staged, err)
	}
	stage("published")
	if err := os.RemoveAll(folder); err != nil {
		return fmt.Errorf("publish %s: remove the save folder: %w", staged, err)
	}
	return nil
}

// named returns the paths (resolved against Dir) that the "checkpoint"
// file's latest and all name, and the save folders they lie in.
func (c *CheckpointManager) named(latest string, all []string) map[string]bool {
	named := map[string]bool{}
	for _, p := range append(all, latest) {
		if p == "" {
			continue
		}
		named[c.path(p)] = true
		if s := c.staged(p); s != "" {
			named[filepath.Join(c.Dir, s)] = true
		}
	}
	return named
}

// tidy finishes a save that died after its commit and removes what a save
// that died before it left in Dir: save folders the "checkpoint" file does
// not name, the temporary "checkpoint" file, and data files of a ckpt-N
// whose index is gone (a save or prune that died half-way). It removes
// nothing the "checkpoint" file names and no checkpoint with an index.
func (c *CheckpointManager) tidy() error {
	latest, all, err := c.state()
	if err != nil {
		return err
	}
	if c.staged(latest) != "" {
		if err := c.publish(latest, all); err != nil {
			return fmt.Errorf("finish the save that died: %w", err)
		}
		if latest, all, err = c.state(); err != nil {
			return err
		}
	}
	named := c.named(latest, all)
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return fmt.Errorf("tidy %s: %w", c.Dir, err)
	}
	removed := false
	for _, e := range entries {
		full := filepath.Join(c.Dir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), stagePref) && e.IsDir() && !named[full]:
			err = os.RemoveAll(full)
		case e.Name() == stateTemp:
			err = os.Remove(full)
		case orphanData(c.Dir, e.Name(), named):
			err = os.Remove(full)
		default:
			continue
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("tidy %s: remove what a dead save left: %w", c.Dir, err)
		}
		removed = true
	}
	if removed {
		return fsync.Dir(c.Dir)
	}
	return nil
}

// dataShard matches a data file of a checkpoint this manager names ckpt-N.
var dataShard = regexp.MustCompile(`^(ckpt-[0-9]+)\.data-[0-9]{5}-of-[0-9]{5}$`)

// orphanData reports whether file in dir is a data shard of a checkpoint
// ckpt-N that has no index and that the "checkpoint" file does not name.
func orphanData(dir, file string, named map[string]bool) bool {
	m := dataShard.FindStringSubmatch(file)
	if m == nil || named[filepath.Join(dir, m[1])] {
		return false
	}
	_, err := os.Lstat(filepath.Join(dir, m[1]+".index"))
	return errors.Is(err, os.ErrNotExist)
}

// Restore loads the latest checkpoint into m and returns the epochs it had
// done, to pass as FitOptions.InitialEpoch. It returns ErrNoCheckpoint when
// there is none. It first tidies up after a save that died, as Save does;
// if the folder cannot be written to, it restores what the "checkpoint"
// file names as it is.
func (c *CheckpointManager) Restore(m *Model) (int, error) {
	if c == nil || c.Dir == "" {
		return 0, errors.New("models: restore checkpoint: the manager has no folder")
	}
	if m == nil {
		return 0, errors.New("models: restore checkpoint: nil model")
	}
	if _, err := os.Stat(c.Dir); errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%w in %q", ErrNoCheckpoint, c.Dir)
	}
	tidyErr := c.tidy()
	prefix, err := c.Latest()
	if err != nil {
		return 0, err
	}
	if prefix == "" {
		return 0, fmt.Errorf("%w in %q", ErrNoCheckpoint, c.Dir)
	}
	epochs, err := m.RestoreCheckpoint(prefix)
	if err != nil {
		if tidyErr != nil {
			return 0, fmt.Errorf("models: restore %q: %w (and tidy up: %w)", prefix, err, tidyErr)
		}
		return 0, fmt.Errorf("models: restore %q: %w", prefix, err)
	}
	return epochs, nil
}

// writeSynced writes text to the file at path and fsyncs it.
func writeSynced(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.WriteString(f, text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// linkOrCopy makes dst a hard link to src, or on a file system without
// hard links a copy of it, fsynced. dst must not exist.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	} else if errors.Is(err, os.ErrExist) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// SaveCheckpoint writes the whole training state to a TensorFlow checkpoint
// at prefix: the weights, the optimizer's slots, iteration count and
// learning rate, the step count that seeds dropout, and the epochs done.
// A model restored from it with RestoreCheckpoint and fitted on with
// FitOptions.InitialEpoch continues exactly as an uninterrupted run.
func (m *Model) SaveCheckpoint(prefix string) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, err := m.session()
	if err != nil {
		return err
	}
	return c.sess.Save(c.fullSaver, prefix)
}

// RestoreCheckpoint reads what SaveCheckpoint wrote (from a model of the
// same architecture, loss and optimizer) and returns the epochs done.
func (m *Model) RestoreCheckpoint(prefix string) (epochs int, err error) {
	if err := m.lockMutable("restore checkpoint"); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	c, err := m.session()
	if err != nil {
		return 0, err
	}
	if err := c.sess.Restore(c.fullSaver, prefix); err != nil {
		return 0, err
	}
	t, err := c.sess.Value(c.epochVar)
	if err != nil {
		return 0, err
	}
	v, err := t.Int64s()
	if err != nil {
		return 0, err
	}
	return int(v[0]), nil
}
