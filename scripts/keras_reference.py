"""Train the course's models with Keras on the same MNIST split as Go.

The architectures, optimizer (Adam 1e-3; for resnet and lstm with a cosine
decay of the rate over the whole run, and gradient clipping for lstm),
epochs, batch sizes and validation split are cmd/train's defaults; the
data is the same .cache/mnist/{train,test}.bin. Prints one line per model:

    RESULT model=cnn framework=keras test_accuracy=0.9830 epochs=25 seconds=61.2

Usage: keras_reference.py [perceptron|mlp|cnn|resnet|lstm ...] [--seed N] [--data DIR]
"""
import argparse
import os
import struct
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402

# model: (epochs, batch size, validation split), as in cmd/train.
DEFAULTS = {"perceptron": (10, 32, 0.0), "mlp": (20, 32, 0.0), "cnn": (25, 64, 0.1),
            "resnet": (12, 64, 0.1), "lstm": (20, 64, 0.1)}
# model: (learning rate, cosine decay to 0 over the run, clipnorm), as in
# cmd/train; the others train with a constant Adam(1e-3).
RECIPES = {"resnet": (1e-3, True, None), "lstm": (2e-3, True, 1.0)}
# Per-sample input shape.
SHAPES = {"perceptron": (784,), "mlp": (784,), "cnn": (28, 28, 1), "resnet": (28, 28, 1), "lstm": (28, 28)}


def optimizer(name, n_train):
    """Adam as cmd/train makes it for the model, for n_train samples."""
    epochs, batch, split = DEFAULTS[name]
    lr, cosine, clipnorm = RECIPES.get(name, (1e-3, False, None))
    if cosine:
        steps = epochs * -(-int(n_train * (1 - split)) // batch)  # Go's split: int(n·(1-split)) train
        lr = keras.optimizers.schedules.CosineDecay(lr, steps)
    return keras.optimizers.Adam(lr, clipnorm=clipnorm)


def conv_bn(x, filters, size, stride):
    x = keras.layers.Conv2D(filters, size, strides=stride, padding="same", use_bias=False)(x)
    return keras.layers.BatchNormalization()(x)


def residual_block(x, filters, stride):
    y = conv_bn(x, filters, 3, stride)
    y = keras.layers.Activation("relu")(y)
    y = conv_bn(y, filters, 3, 1)
    short = x
    if stride != 1 or x.shape[-1] != filters:
        short = conv_bn(x, filters, 1, stride)
    x = keras.layers.Add()([y, short])
    return keras.layers.Activation("relu")(x)


def read(path):
    """Reads the compact MNIST form written by scripts/mnist_convert.py."""
    with open(path, "rb") as f:
        magic, n, rows, cols = f.read(4), *struct.unpack("<III", f.read(12))
        assert magic == b"MNST" and rows == cols == 28
        labels = np.frombuffer(f.read(n), dtype=np.uint8).astype(np.int32)
        k = np.frombuffer(f.read(n * 784), dtype=np.uint8).reshape(n, 784)
    table = np.round(np.arange(256) / 255 * 1000) / 1000  # the package's floats
    return table[k].astype(np.float32), labels


def build(name):
    if name == "resnet":  # course.ResNet
        inp = keras.Input((28, 28, 1), name="image")
        x = conv_bn(inp, 16, 3, 1)
        x = keras.layers.Activation("relu")(x)
        x = residual_block(x, 16, 1)
        x = residual_block(x, 32, 2)
        x = residual_block(x, 64, 2)
        x = keras.layers.GlobalAveragePooling2D()(x)
        out = keras.layers.Dense(10, activation="softmax")(x)
        return keras.Model(inp, out, name="resnet")
    if name == "lstm":  # course.RowLSTM
        inp = keras.Input((28, 28), name="rows")
        x = keras.layers.LSTM(128)(inp)
        out = keras.layers.Dense(10, activation="softmax")(x)
        return keras.Model(inp, out, name="row_lstm")
    if name == "perceptron":
        return keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, activation="softmax")])
    if name == "mlp":
        return keras.Sequential([keras.Input((784,)), keras.layers.Dense(128, activation="relu"),
                                 keras.layers.Dense(10, activation="softmax")])
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Conv2D(64, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", default=list(DEFAULTS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", ".cache", "mnist"))
    args = ap.parse_args()
    x_train, y_train = read(os.path.join(args.data, "train.bin"))
    x_test, y_test = read(os.path.join(args.data, "test.bin"))
    for name in args.models:
        keras.utils.set_random_seed(args.seed)
        epochs, batch, split = DEFAULTS[name]
        shape = (-1, *SHAPES[name])
        model = build(name)
        model.compile(optimizer=optimizer(name, len(x_train)), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        start = time.time()
        model.fit(x_train.reshape(shape), y_train, epochs=epochs, batch_size=batch,
                  validation_split=split, verbose=0)
        seconds = time.time() - start
        _, acc = model.evaluate(x_test.reshape(shape), y_test, batch_size=256, verbose=0)
        print(f"RESULT model={name} framework=keras test_accuracy={acc:.4f} epochs={epochs} seconds={seconds:.1f}",
              flush=True)


if __name__ == "__main__":
    main()
