package callbacks

import (
	"fmt"
	"math"

	"github.com/tfgo-project/gotf/models"
)

// ReduceLROnPlateau multiplies the learning rate by Factor when Monitor has
// not improved by more than MinDelta for Patience epochs, then waits
// Cooldown epochs before counting again, never going below MinLR: Keras's
// keras.callbacks.ReduceLROnPlateau, step for step. NewReduceLROnPlateau
// gives Keras's defaults. Each epoch's logs gain "learning_rate", the rate
// the epoch trained with, as in Keras.
type ReduceLROnPlateau struct {
	Monitor  string // default "val_loss"
	Factor   float64
	Patience int
	Mode     Mode // Auto: "max" for accuracy-like names, else "min"
	MinDelta float64
	Cooldown int
	MinLR    float64

	best     float64
	wait     int
	cooldown int
}

// NewReduceLROnPlateau returns the callback with Keras's defaults: monitor
// val_loss, factor 0.1, patience 10, min_delta 1e-4, no cooldown, min_lr 0.
func NewReduceLROnPlateau() *ReduceLROnPlateau {
	return &ReduceLROnPlateau{Factor: 0.1, Patience: 10, MinDelta: 1e-4}
}

// OnTrainBegin implements models.TrainBeginner.
func (c *ReduceLROnPlateau) OnTrainBegin(models.TrainingView) error {
	if !(c.Factor > 0 && c.Factor < 1) {
		return fmt.Errorf("callbacks: ReduceLROnPlateau: factor %v must be in (0, 1)", c.Factor)
	}
	if c.Patience < 0 || c.MinDelta < 0 || c.Cooldown < 0 || c.MinLR < 0 {
		return fmt.Errorf("callbacks: ReduceLROnPlateau: patience %d, min delta %v, cooldown %d and min lr %v must not be negative",
			c.Patience, c.MinDelta, c.Cooldown, c.MinLR)
	}
	c.best, c.wait, c.cooldown = math.NaN(), 0, 0
	return nil
}

// OnEpochEnd implements models.Callback.
func (c *ReduceLROnPlateau) OnEpochEnd(m models.TrainingView, epoch int, logs models.Logs) error {
	lr, err := m.LearningRate()
	if err != nil {
		return fmt.Errorf("callbacks: ReduceLROnPlateau: %w", err)
	}
	if logs != nil {
		logs["learning_rate"] = lr
	}
	name := monitorOf(c.Monitor)
	v, ok := logs[name]
	if !ok {
		return fmt.Errorf("callbacks: ReduceLROnPlateau monitors %q, which the logs lack (have %v)", name, logs.Keys())
	}
	if c.cooldown > 0 {
		c.cooldown--
		c.wait = 0
	}
	if math.IsNaN(c.best) || better(c.Mode, name, v, c.best, c.MinDelta) {
		c.best, c.wait = v, 0
		return nil
	}
	if c.cooldown > 0 {
		return nil
	}
	c.wait++
	if c.wait < c.Patience {
		return nil
	}
	// Keras compares the float32 rate with min_lr as a float32.
	if lr <= float64(float32(c.MinLR)) {
		return nil
	}
	if err := m.SetLearningRate(max(lr*c.Factor, c.MinLR)); err != nil {
		return fmt.Errorf("callbacks: ReduceLROnPlateau: %w", err)
	}
	c.cooldown, c.wait = c.Cooldown, 0
	return nil
}
