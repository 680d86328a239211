"""Reference: a small CNN trained a few SGD steps under Keras's float32 and
mixed_bfloat16 policies, from the same weights on the same batch.

Reads {"weights": [{"shape", "data"}...], "x": {...}, "y": {...},
"steps": n, "lr": f} and prints {policy: {"losses": [...], "weights":
[[...]...], "pred": [...]}} for policy float32 and mixed_bfloat16: the loss
of each train_on_batch, the weights after the last, and the model's
predictions on x after it.
"""
import json
import sys

import numpy as np
import keras


def run(cfg, policy):
    keras.mixed_precision.set_global_policy(policy)
    x = np.asarray(cfg["x"]["data"], np.float32).reshape(cfg["x"]["shape"])
    y = np.asarray(cfg["y"]["data"], np.int32).reshape(cfg["y"]["shape"])
    model = keras.Sequential([
        keras.Input(x.shape[1:]),
        keras.layers.Conv2D(8, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.set_weights([np.asarray(w["data"], np.float32).reshape(w["shape"]) for w in cfg["weights"]])
    model.compile(optimizer=keras.optimizers.SGD(cfg["lr"]), loss="sparse_categorical_crossentropy")
    losses = [float(model.train_on_batch(x, y)) for _ in range(cfg["steps"])]
    pred = np.asarray(model.predict(x, verbose=0), np.float64)
    out = {"losses": losses, "weights": [np.asarray(w, np.float64).ravel().tolist() for w in model.get_weights()],
           "pred": pred.ravel().tolist(), "variable_dtypes": sorted({v.dtype for v in model.weights}),
           "compute_dtype": model.layers[0].compute_dtype}
    keras.mixed_precision.set_global_policy("float32")
    return out


def main():
    cfg = json.load(sys.stdin)
    json.dump({p: run(cfg, p) for p in ("float32", "mixed_bfloat16")}, sys.stdout)


if __name__ == "__main__":
    main()
