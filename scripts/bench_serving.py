"""The floor for `make loadtest`: the same SavedModel called in-process from
Python TF, one image per call. Prints one RESULT line.

Usage: bench_serving.py SAVEDMODEL_DIR MNIST_DIR [CALLS]
"""
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from keras_reference import read  # noqa: E402


def main():
    model_dir, data = sys.argv[1], sys.argv[2]
    calls = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    x, _ = read(os.path.join(data, "test.bin"))
    fn = tf.saved_model.load(model_dir).signatures["serving_default"]
    imgs = [tf.constant(x[i:i + 1].reshape(1, 28, 28, 1)) for i in range(200)]
    for i in range(50):
        fn(inputs=imgs[i % 200])["outputs"].numpy()
    lat = []
    for i in range(calls):
        t0 = time.perf_counter()
        fn(inputs=imgs[i % 200])["outputs"].numpy()
        lat.append(time.perf_counter() - t0)
    lat.sort()
    print(f"RESULT python_in_process calls={calls} p50_ms={lat[len(lat) // 2] * 1e3:.3f} "
          f"p99_ms={lat[len(lat) * 99 // 100] * 1e3:.3f}")


if __name__ == "__main__":
    main()
