// Sentinel errors of package models, in one place: test for them with
// errors.Is.

package models

import (
	"errors"

	"github.com/tfgo-project/gotf/tfwrap"
)

// ErrNoCheckpoint is returned by Restore when the folder holds none.
var ErrNoCheckpoint = errors.New("models: no checkpoint")

// ErrTraining is returned (wrapped) by the calls that would change a model
// or the data Fit has uploaded (Fit, Compile, SetWeights, SetWeightsByName,
// LoadWeights, RestoreCheckpoint, SetLearningRate, Close) while Fit trains
// it, whether they come from Fit's callbacks or from another goroutine.
// Cancel Fit's context and wait for it to return first.
var ErrTraining = errors.New("the model is training")

// ErrClosed is tfwrap.ErrClosed: every method of a closed model returns
// an error wrapping it.
var ErrClosed = tfwrap.ErrClosed

// ErrNotCompiled is returned by Fit, Evaluate, Predict and the weight
// methods of a model that has not been compiled.
var ErrNotCompiled = errors.New("models: model is not compiled; call Compile first")
