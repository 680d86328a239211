package course

import (
	"github.com/tfgo-project/gotf/models"
	"github.com/tfgo-project/gotf/models/layers"
)

// Classifier returns the course's perceptron as a Keras model: one Dense
// layer from inputs features to classes scores with a softmax, i.e.
// multinomial logistic regression (with classes 1 and a ReLU it is the
// max(0, x·W + b) perceptron of NewPerceptron).
func Classifier(inputs, classes int) (*models.Sequential, error) {
	return models.NewSequential([]int64{int64(inputs)}, layers.Dense(classes, layers.WithActivation(layers.Softmax)))
}

// MLP returns the course's multi-layer perceptron for MNIST: 784 inputs →
// 128 ReLU units → 10 softmax outputs.
func MLP() (*models.Sequential, error) {
	return models.NewSequential([]int64{784},
		layers.Dense(128, layers.WithActivation(layers.ReLU)),
		layers.Dense(10, layers.WithActivation(layers.Softmax)))
}

// CNN returns the course's convolutional network for 28×28×1 images:
// feature extraction by Conv-ReLU-MaxPool twice (32 then 64 filters of
// 3×3), then classification by Flatten, Dropout(0.5) and a Dense softmax
// over 10 classes (Keras's "simple MNIST convnet").
func CNN() (*models.Sequential, error) {
	relu := layers.WithActivation(layers.ReLU)
	return models.NewSequential([]int64{28, 28, 1},
		layers.Conv2D(32, 3, 3, relu),
		layers.MaxPool2D(2, 2),
		layers.Conv2D(64, 3, 3, relu),
		layers.MaxPool2D(2, 2),
		layers.Flatten(),
		layers.Dropout(0.5),
		layers.Dense(10, layers.WithActivation(layers.Softmax)))
}

// ResNet returns a small residual CNN for 28×28×1 images, built with the
// functional API: a 3×3 convolution stem of 16 filters, then three
// residual blocks of 16, 32 and 64 filters (the last two halving the
// resolution with stride-2 convolutions: 28 → 14 → 7), global average
// pooling and a Dense softmax over 10 classes. Each convolution has no
// bias and is followed by BatchNormalization; a block is
//
//	y = BN(Conv3×3(ReLU(BN(Conv3×3(x)))))
//	out = ReLU(y + shortcut(x))
//
// where the shortcut is x itself, or BN(Conv1×1 stride 2(x)) when the
// block changes the resolution and width. scripts/keras_reference.py
// builds the same model in Keras (78,426 parameters, 672 of them
// BatchNormalization's moving statistics).
func ResNet() (*models.Model, error) {
	in := models.Input("image", 28, 28, 1)
	x := convBN(in, 16, 3, 1)
	x = models.Call(layers.ActivationLayer(layers.ReLU), x)
	x = residualBlock(x, 16, 1)
	x = residualBlock(x, 32, 2)
	x = residualBlock(x, 64, 2)
	x = models.Call(layers.GlobalAveragePooling2D(), x)
	out := models.Call(layers.Dense(10, layers.WithActivation(layers.Softmax)), x)
	return models.NewModel("resnet", []*models.Symbol{in}, []*models.Symbol{out})
}

// convBN is a size×size convolution without bias (same padding) followed
// by BatchNormalization.
func convBN(x *models.Symbol, filters, size int, stride int64) *models.Symbol {
	x = models.Call(layers.Conv2D(filters, size, size, layers.WithStrides(stride, stride), layers.WithPadding(layers.Same), layers.NoBias()), x)
	return models.Call(layers.BatchNormalization(), x)
}

// residualBlock is ResNet's basic block: two 3×3 conv-BN, the first
// with the stride, added to the shortcut, then a ReLU. The layers are
// made in the order Keras's reference makes them, so that both name them
// alike.
func residualBlock(x *models.Symbol, filters int, stride int64) *models.Symbol {
	y := convBN(x, filters, 3, stride)
	y = models.Call(layers.ActivationLayer(layers.ReLU), y)
	y = convBN(y, filters, 3, 1)
	short := x
	if s := x.Shape(); stride != 1 || (len(s) == 3 && s[2] != int64(filters)) {
		short = convBN(x, filters, 1, stride)
	}
	x = models.CallMulti(layers.Add(), y, short)
	return models.Call(layers.ActivationLayer(layers.ReLU), x)
}

// RowLSTM returns a recurrent classifier that reads a 28×28 image row by
// row, as a sequence of 28 steps of 28 features: LSTM(128), whose last
// output goes to a Dense softmax over 10 classes (81,674 parameters, as
// Keras counts them). Its input is (28, 28) per sample: MNIST images
// without the channel axis.
func RowLSTM() (*models.Model, error) {
	in := models.Input("rows", 28, 28)
	x := models.Call(layers.LSTM(128), in)
	out := models.Call(layers.Dense(10, layers.WithActivation(layers.Softmax)), x)
	return models.NewModel("row_lstm", []*models.Symbol{in}, []*models.Symbol{out})
}
