package models

import "github.com/tfgo-project/gotf/models/layers"

// Classifier returns the course's perceptron as a Keras model: one Dense
// layer from inputs features to classes scores with a softmax, i.e.
// multinomial logistic regression (with classes 1 and a ReLU it is the
// max(0, x·W + b) perceptron of NewPerceptron).
func Classifier(inputs, classes int) (*Sequential, error) {
	return NewSequential([]int64{int64(inputs)}, layers.Dense(classes, layers.WithActivation(layers.Softmax)))
}

// MLP returns the course's multi-layer perceptron for MNIST: 784 inputs →
// 128 ReLU units → 10 softmax outputs.
func MLP() (*Sequential, error) {
	return NewSequential([]int64{784},
		layers.Dense(128, layers.WithActivation(layers.ReLU)),
		layers.Dense(10, layers.WithActivation(layers.Softmax)))
}

// CNN returns the course's convolutional network for 28×28×1 images:
// feature extraction by Conv-ReLU-MaxPool twice (32 then 64 filters of
// 3×3), then classification by Flatten, Dropout(0.5) and a Dense softmax
// over 10 classes (Keras's "simple MNIST convnet").
func CNN() (*Sequential, error) {
	relu := layers.WithActivation(layers.ReLU)
	return NewSequential([]int64{28, 28, 1},
		layers.Conv2D(32, 3, 3, relu),
		layers.MaxPool2D(2, 2),
		layers.Conv2D(64, 3, 3, relu),
		layers.MaxPool2D(2, 2),
		layers.Flatten(),
		layers.Dropout(0.5),
		layers.Dense(10, layers.WithActivation(layers.Softmax)))
}
