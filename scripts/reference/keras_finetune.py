"""Reference: one fine-tuning step of a .keras model in Keras.

Reads {"path", "trainable_from", "lr", "shape", "x", "y"}: loads the model,
freezes every layer before trainable_from (in model.layers order, models
used as layers at their place, as kerasfile.Options.TrainableFrom does),
compiles it with SGD(lr) and mean squared error, and trains one step on the
batch (x, y). Prints {"weights": [[...], ...], "weights64": [[...], ...],
"trainable": n}: every weight after the step, in get_weights order, as
float32 Keras computes it and as the same model in float64 does (the truth
a float32 result is judged against: a step through BatchNormalization's
training mode on a small batch can lose 1e-3 to float32 rounding in Keras
itself), and how many weights are trainable.
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


def step(m, cfg, dtype):
    for l in flat(m):
        if l.name == cfg["trainable_from"]:
            break
        l.trainable = False
    m.compile(optimizer=keras.optimizers.SGD(cfg["lr"]), loss="mse")
    x = np.asarray(cfg["x"], np.float32).reshape(cfg["shape"]).astype(dtype)
    y = np.asarray(cfg["y"], np.float32).reshape(len(x), -1).astype(dtype)
    m.train_on_batch(x, y)
    return m


def main():
    cfg = json.load(sys.stdin)
    m = keras.models.load_model(cfg["path"], compile=False)
    start = m.get_weights()
    m = step(m, cfg, np.float32)
    # The same model in float64: every float32 dtype policy made float64.
    js = m.to_json().replace('"name": "float32"', '"name": "float64"').replace('"dtype": "float32"', '"dtype": "float64"')
    m64 = keras.models.model_from_json(js)
    m64.set_weights([w.astype(np.float64) for w in start])
    m64 = step(m64, cfg, np.float64)
    json.dump({"weights": [w.ravel().tolist() for w in m.get_weights()],
               "weights64": [w.ravel().tolist() for w in m64.get_weights()],
               "trainable": len(m.trainable_weights)}, sys.stdout)


if __name__ == "__main__":
    main()
