// Package models is the Keras-shaped layer of this module: Sequential
// (define the layers, Compile with a loss, an optimizer and metrics, then
// Fit, Evaluate, Predict, Export as a SavedModel), the Dataset it trains
// on, Fit's callbacks and History, and CheckpointManager for crash-safe,
// resumable training checkpoints. The layers, losses, optimizers, metrics
// and callbacks live in the sub-packages of the same names, the course's
// models (the perceptron, Classifier, MLP, CNN) in models/course, and
// transfer learning from a pretrained backbone in models/transfer.
// Distribute trains across the tasks of a TensorFlow cluster,
// synchronously (Mirrored) or through a parameter server.
//
// TensorFlow's kernels do all the math, gradients and weight updates
// included. Every model owns a TensorFlow session: Close it when done.
// Methods return errors for bad input (wrong dtype or shape, labels outside
// the classes, empty data, an uncompiled or closed model); none panics.
package models
