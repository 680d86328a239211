"""Reference: keras.callbacks.ReduceLROnPlateau driven by scripted logs.

Reads {"lr": x, "cases": [{"name", "monitor", "values": [...], "kw": {...}}]}
and prints {name: [learning rate after each epoch...]}: the callback runs
on a compiled model whose SGD starts at lr, one on_epoch_end per value.
"""
import json
import sys

import keras


def main():
    cfg = json.load(sys.stdin)
    out = {}
    for case in cfg["cases"]:
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(float(cfg["lr"])), loss="mse")
        cb = keras.callbacks.ReduceLROnPlateau(monitor=case["monitor"], **case["kw"])
        cb.set_model(model)
        cb.on_train_begin()
        lrs = []
        for epoch, v in enumerate(case["values"]):
            cb.on_epoch_end(epoch, {case["monitor"]: v})
            lrs.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
        out[case["name"]] = lrs
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
