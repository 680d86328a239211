"""Reference: what h5py (libhdf5, the library Keras loads weights with)
reads from an HDF5 file that Go wrote.

Reads {"path"}; prints {"groups": [path, ...], "datasets": {path: {"dtype",
"shape", "bits"}}}, every object in the file, each path without a leading
slash; "bits" are float32 values' bit patterns, exact whatever they hold.
"""
import json
import sys

import h5py
import numpy as np


def main():
    path = json.load(sys.stdin)["path"]
    groups, datasets = [], {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                groups.append(name)
            else:
                v = np.asarray(obj[()])
                bits = v.astype("<f4").view("<u4") if v.dtype == np.float32 else v
                datasets[name] = {"dtype": str(obj.dtype), "shape": list(obj.shape),
                                  "bits": bits.ravel().tolist()}
        f.visititems(visit)
    json.dump({"groups": sorted(groups), "datasets": datasets}, sys.stdout)


if __name__ == "__main__":
    main()
