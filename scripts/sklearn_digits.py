"""Export scikit-learn's bundled 8x8 optical-recognition digits (1,797
images, shipped inside the package: nothing downloads) as the far target of
the transfer study, in the compact form data/mnist reads.

Each 8x8 image (values 0-16) is scaled to [0, 1] and upsampled to 28x28
with bilinear interpolation (tf.image.resize, half-pixel centres): the
digit fills the whole frame, blurred and blocky, unlike MNIST's pen strokes
centred in a 20x20 box. A NumPy default_rng(SEED) permutation splits them:
the first 1,000 are the pool the labelled examples are drawn from, the
other 797 are the test set.

Usage: sklearn_digits.py [OUT_DIR]   (default .cache/sklearn-digits)
Writes OUT_DIR/train.bin and OUT_DIR/test.bin (see mnist_convert.py).
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from mnist_convert import write  # noqa: E402

SEED = 20261127
N_POOL = 1000


def images():
    d = load_digits()
    x = d.images.astype(np.float32)[..., None] / 16.0
    big = tf.image.resize(x, (28, 28), method="bilinear").numpy()[..., 0]
    k = np.clip(np.rint(big * 255), 0, 255).astype(np.uint8).reshape(-1, 784)
    return k, d.target.astype(np.uint8)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", ".cache", "sklearn-digits")
    x, y = images()
    perm = np.random.default_rng(SEED).permutation(len(y))
    x, y = x[perm], y[perm]
    if np.bincount(y[:N_POOL], minlength=10).min() < 50:
        raise SystemExit("the pool has fewer than 50 digits of some class")
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "train.bin"), x[:N_POOL], y[:N_POOL])
    write(os.path.join(out, "test.bin"), x[N_POOL:], y[N_POOL:])
    print(f"sklearn digits: {N_POOL} pool and {len(y) - N_POOL} test images (28x28) in {out}")


if __name__ == "__main__":
    main()
