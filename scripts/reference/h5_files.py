"""Reference: HDF5 files written by h5py (the library Keras saves with).

Reads {"dir"} and writes there, with h5py's default settings unless the name
says otherwise:
  values.h5     datasets of every number type the Go reader takes, a scalar,
                an empty array, one never written, one stored compactly,
                nested groups
  many.h5       400 groups of one dataset each (a B-tree of several levels)
  chunked.h5, gzip.h5, latest.h5, strings.h5, bigendian.h5
                files the reader must refuse with a clear error
Prints {"values": {path: {"dtype", "shape", "data"}}, "many": n}.
"""
import json
import os
import sys

import h5py
import numpy as np


def main():
    d = json.load(sys.stdin)["dir"]
    rng = np.random.default_rng(7)
    want = {}
    with h5py.File(os.path.join(d, "values.h5"), "w") as f:
        arrays = {
            "f32": rng.standard_normal((3, 4)).astype("<f4"),
            "f64": rng.standard_normal((5,)).astype("<f8"),
            "f16": np.array([0.5, -2.25, 65504, 6e-8, -0.0], dtype="<f2"),
            "i8": np.array([-128, -1, 0, 127], dtype="<i1"),
            "i32": np.array([[-2**31, 5], [7, 2**31 - 1]], dtype="<i4"),
            "i64": np.array([-2**62, 3, 2**62], dtype="<i8"),
            "u8": np.array([0, 200, 255], dtype="<u1"),
            "u32": np.array([2**32 - 1, 1], dtype="<u4"),
            "scalar": np.float32(3.5),
            "empty": np.zeros((0, 3), dtype="<f4"),
            "nested/deeper/w": rng.standard_normal((2, 2, 2)).astype("<f4"),
            "big": rng.standard_normal((300, 70)).astype("<f4"),
        }
        for k, v in arrays.items():
            f[k] = v
        f.create_dataset("unwritten", shape=(2, 3), dtype="<f4")
        arrays["unwritten"] = np.zeros((2, 3), dtype="<f4")
        # A compact dataset, through the low-level API.
        v = np.arange(6, dtype="<f4").reshape(2, 3)
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        space = h5py.h5s.create_simple(v.shape)
        dset = h5py.h5d.create(f.id, b"compact", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
        dset.write(h5py.h5s.ALL, h5py.h5s.ALL, v)
        arrays["compact"] = v
        f["nested"].attrs["name"] = "a string attribute"
        for k, v in arrays.items():
            a = np.asarray(v)
            want["/" + k] = {"dtype": a.dtype.name, "shape": list(a.shape),
                             "data": [float(x) for x in a.ravel()]}
    with h5py.File(os.path.join(d, "many.h5"), "w") as f:
        for i in range(400):
            f[f"layers/layer_{i:03d}/vars/0"] = np.full((2,), i, dtype="<f4")
    with h5py.File(os.path.join(d, "chunked.h5"), "w") as f:
        f.create_dataset("x", data=np.ones((64, 64), "<f4"), chunks=(8, 8))
    with h5py.File(os.path.join(d, "gzip.h5"), "w") as f:
        f.create_dataset("x", data=np.ones((64, 64), "<f4"), compression="gzip")
    with h5py.File(os.path.join(d, "latest.h5"), "w", libver="latest") as f:
        f["g/x"] = np.ones((4,), "<f4")
    with h5py.File(os.path.join(d, "strings.h5"), "w") as f:
        f["x"] = np.array([b"abc", b"de"])
    with h5py.File(os.path.join(d, "bigendian.h5"), "w") as f:
        f["x"] = np.ones((4,), ">f4")
    json.dump({"values": want, "many": 400}, sys.stdout)


if __name__ == "__main__":
    main()
