// Package losses holds the Keras losses of models.Sequential, built from
// TensorFlow ops that have C++ gradients: mean squared error, binary,
// categorical and sparse categorical cross-entropy, each reduced as Keras's
// "sum_over_batch_size" (the mean over the batch).
//
// As Keras does, a cross-entropy whose predictions come straight from a
// softmax (or sigmoid) layer is computed from that layer's logits, which is
// exact where the probabilities would round to 0 or 1.
package losses
