"""Reference: Keras optimizer steps on a fixed batch.

Reads {"weights": [{"shape", "data"}...], "x": {...}, "y": {...},
"steps": n, "optimizers": [{"name", "lr", "kind"?, "kw"?, "schedule"?}]}
and prints
{name: [[weights after n steps]...]} for a Dense(4, relu) → Dense(3,
softmax) model trained with sparse categorical cross-entropy, one
train_on_batch per step.
"""
import json
import sys

import numpy as np
import keras


def optimizer(spec):
    n, lr = spec.get("kind", spec["name"]), spec["lr"]
    kw = spec.get("kw", {})
    if "schedule" in spec:
        sch = spec["schedule"]
        lr = getattr(keras.optimizers.schedules, sch["type"])(**sch["kw"])
    if kw or "kind" in spec:
        cls = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
               "adagrad": keras.optimizers.Adagrad, "rmsprop": keras.optimizers.RMSprop}[n]
        return cls(learning_rate=lr, **kw)
    if n == "sgd":
        return keras.optimizers.SGD(lr)
    if n == "momentum":
        return keras.optimizers.SGD(lr, momentum=0.9)
    if n == "nesterov":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)
    if n == "adam":
        return keras.optimizers.Adam(lr)
    if n == "rmsprop":
        return keras.optimizers.RMSprop(lr)
    raise SystemExit(f"unknown optimizer {n}")


def tensor(spec, dtype=np.float32):
    return np.asarray(spec["data"], dtype=dtype).reshape(spec["shape"])


def main():
    cfg = json.load(sys.stdin)
    x, y = tensor(cfg["x"]), tensor(cfg["y"], np.int32)
    out = {}
    for spec in cfg["optimizers"]:
        model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(4, activation="relu"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.set_weights([tensor(w) for w in cfg["weights"]])
        model.compile(optimizer=optimizer(spec), loss="sparse_categorical_crossentropy")
        for _ in range(cfg["steps"]):
            model.train_on_batch(x, y)
        out[spec["name"]] = [w.ravel().tolist() for w in model.get_weights()]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
