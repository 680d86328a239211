"""Train the course's models with Keras on the same MNIST split as Go.

The architectures, optimizer (Adam 1e-3), epochs, batch sizes and
validation split are cmd/train's defaults; the data is the same
.cache/mnist/{train,test}.bin. Prints one line per model:

    RESULT model=cnn framework=keras test_accuracy=0.9830 epochs=25 seconds=61.2

Usage: keras_reference.py [perceptron|mlp|cnn ...] [--seed N] [--data DIR]
"""
import argparse
import os
import struct
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402

# model: (epochs, batch size, validation split), as in cmd/train.
DEFAULTS = {"perceptron": (10, 32, 0.0), "mlp": (20, 32, 0.0), "cnn": (25, 64, 0.1)}


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
    ap.add_argument("models", nargs="*", default=["perceptron", "mlp", "cnn"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", ".cache", "mnist"))
    args = ap.parse_args()
    x_train, y_train = read(os.path.join(args.data, "train.bin"))
    x_test, y_test = read(os.path.join(args.data, "test.bin"))
    for name in args.models:
        keras.utils.set_random_seed(args.seed)
        epochs, batch, split = DEFAULTS[name]
        shape = (-1, 28, 28, 1) if name == "cnn" else (-1, 784)
        model = build(name)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
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
