// Package layers holds the Keras-shaped layers of models.Sequential: Dense,
// Conv2D, Conv1D, MaxPool2D, AveragePooling2D, the global poolings
// (GlobalAveragePooling1D/2D, GlobalMaxPooling1D/2D), Flatten, Reshape,
// Permute, ZeroPadding2D, Rescaling, Dropout, BatchNormalization,
// LayerNormalization, Embedding and Activation, and the recurrent LSTM,
// GRU and Bidirectional (unrolled over a fixed number of steps), with
// Keras's default initializers (Glorot uniform kernels, zero biases,
// uniform embeddings, orthogonal recurrent kernels), seeded.
//
// Activations are values of type Activation: Linear (the default), ReLU,
// Sigmoid, Tanh and Softmax. Pass one to a layer with WithActivation, as
// Keras's activation= argument, or use ActivationLayer on its own:
//
//	layers.Dense(10, layers.WithActivation(layers.Softmax))
//	layers.ActivationLayer(layers.ReLU)
//
// ParseActivation maps Keras's names ("relu", "softmax", …) to them.
//
// A layer checks shapes in Go (OutputShape) before any TensorFlow op is
// built, creates its variables on its first Forward, and reuses them on
// later ones (the training and the inference pass share weights). Layers
// are not safe for concurrent building; the model that owns them is.
//
// Each layer describes itself as a Config (Keras's get_config), whose JSON
// is the layer list of a backbone's backbone.json, and FromConfig rebuilds
// it (Keras's from_config).
package layers
