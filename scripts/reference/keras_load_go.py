"""Reference: Keras 3 opens a .keras file that Go wrote, and predicts.

Reads {"path", "inputs": [{"shape": [...], "x": [...]}, ...]}: the file and a
batch for each of the model's inputs, in order. Loads it with
keras.models.load_model(compile=False) and prints {"outputs": [{"shape",
"y"}, ...], "weights": {layer path: [[bits...], ...]}}: Keras's predict for
every output, in order, and every layer's weights as Keras holds them after
the load (float32 bit patterns, layers of a model used as a layer under
"outer/inner"), so a test can check the weights file bit for bit.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np


def main():
    req = json.load(sys.stdin)
    m = keras.models.load_model(req["path"], compile=False)
    xs = [np.asarray(i["x"], dtype="float32").reshape(i["shape"]) for i in req["inputs"]]
    ys = m.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    if not isinstance(ys, (list, tuple)):
        ys = [ys]
    weights = {}

    def walk(model, prefix):
        for l in model.layers:
            if isinstance(l, keras.Model):
                walk(l, prefix + l.name + "/")
            elif l.weights:
                weights[prefix + l.name] = [
                    np.asarray(w.numpy(), dtype="float32").view("<u4").ravel().tolist() for w in l.weights]

    walk(m, "")
    json.dump({"outputs": [{"shape": list(y.shape), "y": np.asarray(y).ravel().tolist()} for y in ys],
               "weights": weights}, sys.stdout)


if __name__ == "__main__":
    main()
