"""Reference: one fine-tuning step of a .keras model in Keras.

Reads {"path", "trainable_from", "lr", "shape", "x", "y"}: loads the model,
freezes every layer before trainable_from (in model.layers order, models
used as layers at their place, as kerasfile.Options.TrainableFrom does),
compiles it with SGD(lr) and mean squared error, and trains one step on the
batch (x, y). Prints {"weights": [[...], ...], "trainable": n}: every
weight after the step, in get_weights order, and how many are trainable.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np


def flat(model):
    for l in model.layers:
        if isinstance(l, keras.Model):
            yield from flat(l)
        elif not isinstance(l, keras.layers.InputLayer):
            yield l


def main():
    cfg = json.load(sys.stdin)
    m = keras.models.load_model(cfg["path"], compile=False)
    for l in flat(m):
        if l.name == cfg["trainable_from"]:
            break
        l.trainable = False
    m.compile(optimizer=keras.optimizers.SGD(cfg["lr"]), loss="mse")
    x = np.asarray(cfg["x"], np.float32).reshape(cfg["shape"])
    y = np.asarray(cfg["y"], np.float32).reshape(len(x), -1)
    m.train_on_batch(x, y)
    json.dump({"weights": [w.ravel().tolist() for w in m.get_weights()],
               "trainable": len(m.trainable_weights)}, sys.stdout)


if __name__ == "__main__":
    main()
