"""Reference: Keras training steps with sample weights, class weights and
weight regularizers on a fixed batch.

Reads {"weights": [{"shape", "data"}...], "x": {...}, "y": {...},
"steps": n, "lr": lr, "cases": [{"name", "regs"?, "class_weight"?,
"sample_weight"?}]} where regs is, per weighted layer, null or {"kernel":
[l1, l2], "bias": [l1, l2]} (either may be left out), and prints
{name: {"weights": [[weights after n steps]...], "losses": [loss of each
step], "accuracies": [(unweighted) accuracy of each step], "eval_loss": unweighted evaluate() loss after them}} for a
Dense(4, relu) → Dense(3, softmax) model, or for images x (n, h, w, c) a
Conv2D(2, 3×3, relu) → Flatten → Dense(3, softmax) one, trained with
SGD(lr) and sparse categorical cross-entropy, one train_on_batch per step.
"""
import json
import sys

import numpy as np
import keras


def regularizer(spec):
    if spec is None:
        return None
    l1, l2 = spec
    if l1 == 0:
        return keras.regularizers.L2(l2)
    if l2 == 0:
        return keras.regularizers.L1(l1)
    return keras.regularizers.L1L2(l1, l2)


def tensor(spec, dtype=np.float32):
    return np.asarray(spec["data"], dtype=dtype).reshape(spec["shape"])


def main():
    cfg = json.load(sys.stdin)
    x, y = tensor(cfg["x"]), tensor(cfg["y"], np.int32)
    out = {}
    for case in cfg["cases"]:
        regs = case.get("regs") or [None, None]
        r0, r1 = regs[0] or {}, regs[1] or {}
        head = keras.layers.Dense(3, activation="softmax", kernel_regularizer=regularizer(r1.get("kernel")),
                                  bias_regularizer=regularizer(r1.get("bias")))
        if x.ndim == 4:
            first = [keras.layers.Conv2D(2, 3, activation="relu", kernel_regularizer=regularizer(r0.get("kernel")),
                                         bias_regularizer=regularizer(r0.get("bias"))), keras.layers.Flatten()]
        else:
            first = [keras.layers.Dense(4, activation="relu", kernel_regularizer=regularizer(r0.get("kernel")),
                                        bias_regularizer=regularizer(r0.get("bias")))]
        model = keras.Sequential([keras.Input(x.shape[1:])] + first + [head])
        model.set_weights([tensor(w) for w in cfg["weights"]])
        model.compile(optimizer=keras.optimizers.SGD(cfg["lr"]), loss="sparse_categorical_crossentropy",
                      metrics=["sparse_categorical_accuracy"])
        kw = {}
        if "class_weight" in case:
            kw["class_weight"] = {int(k): v for k, v in case["class_weight"].items()}
        if "sample_weight" in case:
            kw["sample_weight"] = np.asarray(case["sample_weight"], dtype=np.float32)
        losses, accuracies = [], []
        for _ in range(cfg["steps"]):
            loss, acc = model.train_on_batch(x, y, **kw)
            losses.append(float(loss))
            accuracies.append(float(acc))
        out[case["name"]] = {"weights": [w.ravel().tolist() for w in model.get_weights()], "losses": losses, "accuracies": accuracies,
                             "eval_loss": float(model.evaluate(x, y, batch_size=len(x), verbose=0)[0])}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
