package models

import (
	"sort"

	"github.com/tfgo-project/gotf/tfwrap"
)

// Logs maps metric names ("loss", "accuracy", "val_loss", …) to values.
type Logs map[string]float64

// Keys returns the names in sorted order, as Keras prints them.
func (l Logs) Keys() []string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TrainingView is what Fit's callbacks see of the model being trained, as
// a Keras callback sees self.model: its shape and summary, its weights and
// learning rate, inference (Predict, Evaluate), saving (SaveWeights,
// SaveCheckpoint) and a request to stop (StopTraining). Nothing in it
// changes the model. *Model implements it; while Fit runs, the
// Sequential's own mutating methods (Fit, Compile, SetWeights,
// SetWeightsByName, LoadWeights, RestoreCheckpoint, SetLearningRate,
// Close) return ErrTraining, also to a callback that holds the model
// another way.
//
// Every method may be called from a callback without deadlock: Fit
// releases the model's lock while its callbacks run.
type TrainingView interface {
	// InputShape and OutputShape are the per-sample shapes.
	InputShape() []int64
	OutputShape() []int64
	ParamCount() (trainable, nonTrainable int64)
	Summary() string
	GetWeights() ([]*tfwrap.Tensor, error)
	LearningRate() (float64, error)
	// SetLearningRate changes the learning rate from the next step on
	// (ReduceLROnPlateau, a scheduler callback).
	SetLearningRate(lr float64) error
	Predict(x *tfwrap.Tensor, opts PredictOptions) (*tfwrap.Tensor, error)
	Evaluate(d *Dataset, opts EvaluateOptions) (Logs, error)
	SaveWeights(prefix string) error
	SaveCheckpoint(prefix string) error
	// StopTraining asks Fit to stop after the current epoch (or batch,
	// from a batch callback).
	StopTraining()
}

var _ TrainingView = (*Model)(nil)

// Callback is called by Fit at the end of each epoch with a read-only view
// of the model. A callback may also implement TrainBeginner, BatchEnder and
// TrainEnder. Call StopTraining on the view to end Fit after the current
// epoch. A callback's error ends Fit and is returned by it.
type Callback interface {
	OnEpochEnd(m TrainingView, epoch int, logs Logs) error
}

// TrainBeginner is called once before the first epoch, after Fit has
// checked its arguments and uploaded the data.
type TrainBeginner interface {
	OnTrainBegin(m TrainingView) error
}

// BatchEnder is called after every training batch with the running means
// of the epoch so far. Fit fetches them from TensorFlow only when some
// callback asks for batches.
type BatchEnder interface {
	OnBatchEnd(m TrainingView, batch int, logs Logs) error
}

// TrainEnder is called once after training, however it ended (done,
// stopped early, cancelled, or failed), on every callback whose
// OnTrainBegin succeeded (or that has none), so it can release what it
// opened. Fit has then released the model (its uploaded data is freed and
// it is no longer training), so OnTrainEnd gets the model itself and may
// change it, as EarlyStopping does when it restores the best weights. Fit
// returns after the last OnTrainEnd; the first error, Fit's own first,
// is returned.
type TrainEnder interface {
	OnTrainEnd(m *Model, h *History) error
}

// CallbackFuncs adapts plain functions to a Callback; nil fields are
// skipped.
type CallbackFuncs struct {
	BatchEnd func(m TrainingView, batch int, logs Logs) error
	EpochEnd func(m TrainingView, epoch int, logs Logs) error
}

// OnEpochEnd implements Callback.
func (c CallbackFuncs) OnEpochEnd(m TrainingView, epoch int, logs Logs) error {
	if c.EpochEnd == nil {
		return nil
	}
	return c.EpochEnd(m, epoch, logs)
}

// batchFunc returns the batch hook of a callback, if it has one.
func batchFunc(cb Callback) func(m TrainingView, batch int, logs Logs) error {
	if c, ok := cb.(CallbackFuncs); ok {
		return c.BatchEnd
	}
	if c, ok := cb.(*CallbackFuncs); ok && c != nil {
		return c.BatchEnd
	}
	if b, ok := cb.(BatchEnder); ok {
		return b.OnBatchEnd
	}
	return nil
}

// History is what Fit returns: one value per epoch for each metric.
type History struct {
	Epochs  []int
	Metrics map[string][]float64
}

func (h *History) add(epoch int, logs Logs) {
	if h.Metrics == nil {
		h.Metrics = map[string][]float64{}
	}
	h.Epochs = append(h.Epochs, epoch)
	for k, v := range logs {
		h.Metrics[k] = append(h.Metrics[k], v)
	}
}

// Last returns the metric's value after the last epoch, and whether there
// is one.
func (h *History) Last(name string) (float64, bool) {
	if h == nil || len(h.Metrics[name]) == 0 {
		return 0, false
	}
	v := h.Metrics[name]
	return v[len(v)-1], true
}
