// Package kerasfile reads Keras 3 .keras files into Go models: the
// architecture in config.json becomes a models.Model (Sequential and
// functional models, models nested as layers) built from the layers
// package, and the weights in model.weights.h5 are assigned to it after
// Compile, layer by layer, each checked against its variable's shape.
//
// The layers it reads are those MobileNetV2, ResNet50 and the course's
// models use: InputLayer, Dense, Conv2D, DepthwiseConv2D, SeparableConv2D,
// BatchNormalization, ReLU (with max_value, as ReLU6), LeakyReLU,
// Activation, ZeroPadding2D, MaxPooling2D, AveragePooling2D, the global
// poolings, Flatten, Dropout, Reshape, Permute, Rescaling, the augmentation
// layers RandomFlip, RandomTranslation, RandomRotation and RandomZoom,
// LayerNormalization, Conv1D, Embedding (int32 and int64 id inputs are fed
// as float32 in Go), LSTM, GRU and Bidirectional (Keras's defaults: tanh,
// sigmoid gates, reset_after, no dropout), Add, Multiply and Concatenate.
// Anything else, and any
// argument the Go layer cannot honour (a dilation, a constraint, a
// mixed-precision policy), is an error that names the layer, its position
// in the file and what was wrong: a model is read as Keras would run it, or
// not at all.
//
// Save writes the other way: a Go model, Sequential or functional (models
// used as layers too), as a .keras file that keras.models.load_model opens
// with the same weights, bit for bit, and the same outputs. It writes the
// layer types Read reads, in the file layout of Keras FormatVersion.
//
// The weights file is HDF5, read and written by internal/h5 (see there
// why not libhdf5). The file is read into memory; a .keras file larger than
// Options allow, or an entry whose declared size is a lie, is refused
// before it is read.
package kerasfile
