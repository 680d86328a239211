package callbacks

import (
	"path/filepath"

	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TensorBoard writes each epoch's metrics as scalars through TensorFlow's
// own summary ops, in Keras's layout: LogDir/train gets "epoch_loss",
// "epoch_accuracy", …, LogDir/validation the val_ metrics, so
// `tensorboard --logdir LogDir` shows the run as it shows a Keras one.
type TensorBoard struct {
	LogDir string

	train, val *tfwrap.SummaryWriter
}

// OnTrainBegin implements models.TrainBeginner.
func (c *TensorBoard) OnTrainBegin(models.TrainingView) error {
	var err error
	if c.train, err = tfwrap.NewSummaryWriter(filepath.Join(c.LogDir, "train")); err != nil {
		return err
	}
	if c.val, err = tfwrap.NewSummaryWriter(filepath.Join(c.LogDir, "validation")); err != nil {
		c.train.Close()
		return err
	}
	return nil
}

// OnEpochEnd implements models.Callback.
func (c *TensorBoard) OnEpochEnd(_ models.TrainingView, epoch int, logs models.Logs) error {
	for _, k := range logs.Keys() {
		w, tag := c.train, "epoch_"+k
		if len(k) > 4 && k[:4] == "val_" {
			w, tag = c.val, "epoch_"+k[4:]
		}
		if err := w.Scalar(tag, int64(epoch), logs[k]); err != nil {
			return err
		}
	}
	if err := c.train.Flush(); err != nil {
		return err
	}
	return c.val.Flush()
}

// OnTrainEnd implements models.TrainEnder.
func (c *TensorBoard) OnTrainEnd(*models.Sequential, *models.History) error {
	err := c.train.Close()
	if verr := c.val.Close(); err == nil {
		err = verr
	}
	return err
}
