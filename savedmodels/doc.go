// Package savedmodels loads, inspects and exports TensorFlow SavedModels and
// manages training checkpoints, for models written by Python
// (tf.saved_model.save, Keras's model.export) and by this module.
//
// A loaded Model keeps one Session for its whole life, shared by all
// callers: Predict is safe for concurrent use, Close is idempotent. Every
// input is checked against its signature in Go before TensorFlow runs.
package savedmodels
