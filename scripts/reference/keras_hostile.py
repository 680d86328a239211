"""Hostile .keras files for kerasfile's tests: configs and weights files no
Keras would write, made to crash, overflow or stall a reader.

Reads {"dir"} and writes there:
  inflate.keras   Dense(units=2^16) whose vars are two links to one
                  never-written (2^24,) dataset: "stores" nothing
  overflow.keras  Conv2D kernels whose parameter count overflows int64
  padfrac.keras   ZeroPadding2D(padding=1.5)
  strides0.keras  Conv2D(strides=0)
  eps0.keras      BatchNormalization(epsilon=0)
  amplify.keras   50 layer folders hard-linked to one vars group of 2,000
                  links to one dataset with 200 attributes
Prints {"files": [names]}.
"""
import json
import os
import sys
import zipfile

import h5py
import numpy as np


def save(path, config, fill):
    h5 = path + ".h5"
    with h5py.File(h5, "w") as f:
        fill(f)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.x"}))
        z.writestr("config.json", json.dumps(config))
        z.write(h5, "model.weights.h5")
    os.remove(h5)


def sequential(name, shape, layers):
    ls = [{"class_name": "InputLayer", "config": {"batch_shape": [None] + shape, "dtype": "float32", "name": "in"}}]
    ls += [{"class_name": c, "config": dict(cfg, dtype="float32", trainable=True)} for c, cfg in layers]
    return {"class_name": "Sequential", "config": {"name": name, "layers": ls}}


def nothing(f):
    pass


def main():
    d = json.load(sys.stdin)["dir"]

    def inflate(f):
        v = f.create_group("layers/dense/vars")
        v.create_dataset("0", shape=(2**24,), dtype="f4")
        v["1"] = v["0"]
    save(os.path.join(d, "inflate.keras"),
         sequential("inflate", [16], [("Dense", {"name": "dense", "units": 2**16, "use_bias": False})]), inflate)
    save(os.path.join(d, "overflow.keras"), sequential("overflow", [1, 1, 2**31 - 1], [
        ("Conv2D", {"name": "c1", "filters": 2, "kernel_size": [1, 1], "use_bias": False}),
        ("Conv2D", {"name": "c2", "filters": 7, "kernel_size": [256, 256], "use_bias": False, "padding": "same"})]), nothing)
    save(os.path.join(d, "padfrac.keras"), sequential("padfrac", [2, 2, 1], [("ZeroPadding2D", {"name": "zp", "padding": 1.5})]), nothing)
    save(os.path.join(d, "strides0.keras"), sequential("strides0", [8, 8, 1], [
        ("Conv2D", {"name": "c", "filters": 2, "kernel_size": [3, 3], "strides": [0, 0]})]), nothing)
    save(os.path.join(d, "eps0.keras"), sequential("eps0", [4], [("BatchNormalization", {"name": "bn", "epsilon": 0})]), nothing)

    def amplify(f):
        g = f.create_group("layers/dropout")
        v = g.create_group("vars")
        ds = v.create_dataset("0", data=np.zeros((1,), "f4"))
        for i in range(200):
            ds.attrs[f"a{i}"] = np.int8(0)
        for i in range(1, 2000):
            v[str(i)] = ds
        for k in range(1, 50):
            f["layers"][f"dropout_{k}"] = g
    save(os.path.join(d, "amplify.keras"),
         sequential("amplify", [4], [("Dropout", {"name": f"d{k}", "rate": 0.0}) for k in range(50)]), amplify)
    json.dump({"files": ["inflate", "overflow", "padfrac", "strides0", "eps0", "amplify"]}, sys.stdout)


if __name__ == "__main__":
    main()
