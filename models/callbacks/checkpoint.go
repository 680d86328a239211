package callbacks

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/tfgo-project/gotf/models"
)

// ModelCheckpoint saves the weights after each epoch to Path (a checkpoint
// prefix; "{epoch}" in it is replaced by the 1-based epoch), or with
// SaveBestOnly only when Monitor improves, as keras.callbacks.ModelCheckpoint.
// Saves are atomic: a save that dies half-way leaves the last one whole.
type ModelCheckpoint struct {
	Path         string
	Monitor      string // default "val_loss"
	Mode         Mode
	SaveBestOnly bool

	best float64
	// Saved lists the prefixes written, in order.
	Saved []string
}

// OnTrainBegin implements models.TrainBeginner.
func (c *ModelCheckpoint) OnTrainBegin(models.TrainingView) error {
	if c.Path == "" {
		return fmt.Errorf("callbacks: model checkpoint: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o755); err != nil {
		return fmt.Errorf("callbacks: model checkpoint: %w", err)
	}
	c.best, c.Saved = math.NaN(), nil
	return nil
}

// OnEpochEnd implements models.Callback.
func (c *ModelCheckpoint) OnEpochEnd(m models.TrainingView, epoch int, logs models.Logs) error {
	if c.SaveBestOnly {
		name := monitorOf(c.Monitor)
		v, ok := logs[name]
		if !ok {
			return fmt.Errorf("callbacks: model checkpoint monitors %q, which the logs lack (have %v)", name, logs.Keys())
		}
		if !math.IsNaN(c.best) && !better(c.Mode, name, v, c.best, 0) {
			return nil
		}
		c.best = v
	}
	path := expand(c.Path, epoch+1)
	if err := m.SaveWeights(path); err != nil {
		return err
	}
	c.Saved = append(c.Saved, path)
	return nil
}

func expand(p string, epoch int) string {
	out := []byte{}
	for i := 0; i < len(p); i++ {
		if p[i] == '{' && len(p) >= i+7 && p[i:i+7] == "{epoch}" {
			out = append(out, fmt.Sprintf("%02d", epoch)...)
			i += 6
			continue
		}
		out = append(out, p[i])
	}
	return string(out)
}
