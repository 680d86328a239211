// Package course holds the models of the deep-learning course this
// project grew from, built on package models: the perceptron written with
// raw graph ops (predict = max(0, x·W + b), MSE loss, a gradient step by
// assignment) and its toy data (TwoClusters), and the Keras-shaped models
// of the course (Classifier, MLP, CNN) with a small ResNet and a row LSTM
// for the benchmarks. They are examples to read and run, not library API.
package course
