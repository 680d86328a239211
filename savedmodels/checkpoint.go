package savedmodels

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tfgo-project/gotf/models"
)

// ErrNoCheckpoint is returned by Restore when the folder holds none.
var ErrNoCheckpoint = errors.New("savedmodels: no checkpoint")

// CheckpointManager keeps a model's training checkpoints in Dir as
// TensorFlow does: ckpt-N.index and ckpt-N.data-* for each save N, and a
// "checkpoint" file naming the latest, which tf.train.latest_checkpoint
// reads. A save writes a new prefix and then atomically replaces the
// "checkpoint" file, so a save that dies half-way leaves the last good
// checkpoint as the latest. Not safe for concurrent use.
type CheckpointManager struct {
	Dir string
	// MaxToKeep is how many checkpoints to keep (0: 3).
	MaxToKeep int
}

// state reads the "checkpoint" file: the latest prefix and all kept ones.
func (c *CheckpointManager) state() (latest string, all []string, err error) {
	f, err := os.Open(filepath.Join(c.Dir, "checkpoint"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v, err := strconv.Unquote(strings.TrimSpace(v))
		if err != nil {
			return "", nil, fmt.Errorf("savedmodels: %s/checkpoint: %w", c.Dir, err)
		}
		switch strings.TrimSpace(k) {
		case "model_checkpoint_path":
			latest = v
		case "all_model_checkpoint_paths":
			all = append(all, v)
		}
	}
	return latest, all, sc.Err()
}

// Latest returns the prefix of the latest checkpoint, or "".
func (c *CheckpointManager) Latest() (string, error) {
	latest, _, err := c.state()
	if err != nil || latest == "" {
		return "", err
	}
	if !filepath.IsAbs(latest) {
		latest = filepath.Join(c.Dir, latest)
	}
	return latest, nil
}

// Save writes m's whole training state (models.Sequential.SaveCheckpoint)
// as checkpoint number n and makes it the latest. It returns the prefix.
func (c *CheckpointManager) Save(m *models.Sequential, n int) (string, error) {
	if c.Dir == "" {
		return "", errors.New("savedmodels: checkpoint manager has no folder")
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return "", fmt.Errorf("savedmodels: %w", err)
	}
	name := fmt.Sprintf("ckpt-%d", n)
	prefix := filepath.Join(c.Dir, name)
	if err := m.SaveCheckpoint(prefix); err != nil {
		return "", err
	}
	_, all, err := c.state()
	if err != nil {
		return "", err
	}
	kept := []string{}
	for _, p := range all {
		if p != name {
			kept = append(kept, p)
		}
	}
	kept = append(kept, name)
	keep := c.MaxToKeep
	if keep <= 0 {
		keep = 3
	}
	var drop []string
	if len(kept) > keep {
		drop, kept = kept[:len(kept)-keep], kept[len(kept)-keep:]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "model_checkpoint_path: %q\n", name)
	for _, p := range kept {
		fmt.Fprintf(&b, "all_model_checkpoint_paths: %q\n", p)
	}
	tmp := filepath.Join(c.Dir, ".checkpoint.tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return "", fmt.Errorf("savedmodels: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(c.Dir, "checkpoint")); err != nil {
		return "", fmt.Errorf("savedmodels: %w", err)
	}
	for _, p := range drop {
		files, _ := filepath.Glob(filepath.Join(c.Dir, p+".*"))
		for _, f := range files {
			os.Remove(f)
		}
	}
	return prefix, nil
}

// Restore loads the latest checkpoint into m and returns the epochs it had
// done, to pass as FitOptions.InitialEpoch. It returns ErrNoCheckpoint when
// there is none.
func (c *CheckpointManager) Restore(m *models.Sequential) (int, error) {
	prefix, err := c.Latest()
	if err != nil {
		return 0, err
	}
	if prefix == "" {
		return 0, fmt.Errorf("%w in %q", ErrNoCheckpoint, c.Dir)
	}
	return m.RestoreCheckpoint(prefix)
}
