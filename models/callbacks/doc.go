// Package callbacks holds Fit callbacks after Keras's: EarlyStopping,
// ModelCheckpoint and TensorBoard. Each value is used by one Fit at a time.
package callbacks
