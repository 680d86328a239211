"""keras_profile.profile_fit reads Keras's own training steps out of
tf.profiler's XSpace: as many steps as batches, per-step times that add up
(busy within wall, kernels at least busy), and the op types of the model's
layers and of its optimizer among the kernels."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402

from keras_profile import canonical, profile_fit  # noqa: E402


def test_profile_fit_counts_steps_and_kernels():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = rng.integers(0, 3, size=64)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    p = profile_fit(model, x, y, batch=16, steps=4)
    assert p["steps"] == 4
    assert 0 < p["busy_us"] <= p["wall_us"]
    assert p["kernel_us"] >= p["busy_us"] * 0.999
    assert abs(sum(p["ops"].values()) - p["kernel_us"]) < 1e-6 * p["kernel_us"] + 1e-9
    # Kernel names differ where oneDNN runs (_MklNativeFusedMatMul): count
    # what they stand for.
    ops = {canonical(t) for t in p["ops"]}
    assert ops & {"_FusedMatMul", "MatMul"}, p["ops"]
    assert "SparseSoftmaxCrossEntropyWithLogits" in p["ops"], p["ops"]


def test_canonical_matches_go():
    for kernel, want in [("_MklNativeFusedMatMul", "_FusedMatMul"), ("_MklMatMul", "MatMul"), ("_MklSoftmax", "Softmax"),
                         ("_MklNativeFusedBatchNormV3", "FusedBatchNormV3"), ("_MklNativeFusedBatchNormEx", "_FusedBatchNormEx"),
                         ("_FusedMatMul", "_FusedMatMul"), ("MatMul", "MatMul")]:
        assert canonical(kernel) == want, kernel
