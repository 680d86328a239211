// Package models holds the models of the course this project grew from,
// built from tfwrap so that TensorFlow's kernels do all the math: the
// perceptron (predict = max(0, x·W + b), MSE loss, gradient step by
// assignment) and the toy data it learns from.
//
// Every model owns a TensorFlow session: Close it when done. Methods return
// errors for bad input (wrong dtype or shape, empty batches, a closed
// model); none panics.
package models
