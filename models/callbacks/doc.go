// Package callbacks holds Fit callbacks after Keras's: EarlyStopping,
// ReduceLROnPlateau, ModelCheckpoint and TensorBoard. Each value is used by
// one Fit at a time.
package callbacks
