package callbacks

import (
	"fmt"
	"math"
	"strings"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/tfwrap"
)

// EarlyStopping stops training when Monitor has not improved by more than
// MinDelta for Patience epochs, as keras.callbacks.EarlyStopping. With
// RestoreBestWeights the model ends with the weights of its best epoch.
type EarlyStopping struct {
	Monitor            string // default "val_loss"
	MinDelta           float64
	Patience           int
	Mode               Mode // Auto: "max" for accuracy-like names, else "min"
	RestoreBestWeights bool

	best        float64
	bestEpoch   int
	wait        int
	bestWeights []*tfwrap.Tensor
	// StoppedEpoch is the epoch training stopped after, or -1.
	StoppedEpoch int
}

// Mode says whether a monitored value should go down or up.
type Mode int

// The modes.
const (
	Auto Mode = iota
	Min
	Max
)

func monitorOf(name string) string {
	if name == "" {
		return "val_loss"
	}
	return name
}

func better(mode Mode, name string, v, best, delta float64) bool {
	if mode == Auto {
		mode = Min
		if strings.Contains(name, "acc") {
			mode = Max
		}
	}
	if mode == Max {
		return v > best+delta
	}
	return v < best-delta
}

// OnTrainBegin implements models.TrainBeginner.
func (c *EarlyStopping) OnTrainBegin(models.TrainingView) error {
	if c.Patience < 0 || c.MinDelta < 0 {
		return fmt.Errorf("callbacks: early stopping: patience %d and min delta %v must not be negative", c.Patience, c.MinDelta)
	}
	c.best, c.wait, c.bestWeights, c.StoppedEpoch, c.bestEpoch = math.NaN(), 0, nil, -1, -1
	return nil
}

// OnEpochEnd implements models.Callback.
func (c *EarlyStopping) OnEpochEnd(m models.TrainingView, epoch int, logs models.Logs) error {
	name := monitorOf(c.Monitor)
	v, ok := logs[name]
	if !ok {
		return fmt.Errorf("callbacks: early stopping monitors %q, which the logs lack (have %v)", name, logs.Keys())
	}
	if math.IsNaN(c.best) || better(c.Mode, name, v, c.best, c.MinDelta) {
		c.best, c.bestEpoch, c.wait = v, epoch, 0
		if c.RestoreBestWeights {
			w, err := m.GetWeights()
			if err != nil {
				return err
			}
			c.bestWeights = w
		}
		return nil
	}
	c.wait++
	if c.wait > c.Patience {
		c.StoppedEpoch = epoch
		m.StopTraining()
	}
	return nil
}

// OnTrainEnd implements models.TrainEnder: it restores the best weights.
func (c *EarlyStopping) OnTrainEnd(m *models.Sequential, _ *models.History) error {
	if c.RestoreBestWeights && c.bestWeights != nil && c.bestEpoch >= 0 {
		return m.SetWeights(c.bestWeights)
	}
	return nil
}

// Best returns the best monitored value and its epoch.
func (c *EarlyStopping) Best() (float64, int) { return c.best, c.bestEpoch }
