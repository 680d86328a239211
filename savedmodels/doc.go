// Package savedmodels loads, inspects and runs TensorFlow SavedModels
// written by Python (tf.saved_model.save, Keras's model.export) and by this
// module (models.Sequential's Export). It links tfwrap only, not models, so
// a server that loads SavedModels does not link the Keras layer; exporting
// and checkpointing a model live in models, pretrained backbones in
// models/transfer.
//
// A loaded Model keeps one Session for its whole life, shared by all
// callers: Predict is safe for concurrent use, Close is idempotent. Every
// input is checked against its signature in Go before TensorFlow runs.
package savedmodels
