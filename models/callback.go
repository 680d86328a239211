package models

import "sort"

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

// Callback is called by Fit at the end of each epoch. A callback may also
// implement TrainBeginner, BatchEnder and TrainEnder. Call
// Sequential.StopTraining to end Fit after the current epoch.
type Callback interface {
	OnEpochEnd(m *Sequential, epoch int, logs Logs) error
}

// TrainBeginner is called once before the first epoch.
type TrainBeginner interface {
	OnTrainBegin(m *Sequential) error
}

// BatchEnder is called after every training batch with the running means
// of the epoch so far. Fit fetches them from TensorFlow only when some
// callback asks for batches.
type BatchEnder interface {
	OnBatchEnd(m *Sequential, batch int, logs Logs) error
}

// TrainEnder is called once after training, also when it stopped early.
type TrainEnder interface {
	OnTrainEnd(m *Sequential, h *History) error
}

// CallbackFuncs adapts plain functions to a Callback; nil fields are
// skipped.
type CallbackFuncs struct {
	BatchEnd func(m *Sequential, batch int, logs Logs) error
	EpochEnd func(m *Sequential, epoch int, logs Logs) error
}

// OnEpochEnd implements Callback.
func (c CallbackFuncs) OnEpochEnd(m *Sequential, epoch int, logs Logs) error {
	if c.EpochEnd == nil {
		return nil
	}
	return c.EpochEnd(m, epoch, logs)
}

// batchFunc returns the batch hook of a callback, if it has one.
func batchFunc(cb Callback) func(m *Sequential, batch int, logs Logs) error {
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
