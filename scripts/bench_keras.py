"""Keras side of `make bench`: the same cases as cmd/bench, timed the same way.

Reads {"data": DIR, "epochs": E, "repeats": R, "cases": [...]} on stdin and
prints {case: value, "profile": {case: ...}}: training samples per second of model.fit for
"fit_*" cases, and mean microseconds per call for "predict_*" cases
(Keras model.predict) and "tf_function_*" cases (a tf.function around the
model, the fastest way to call it from Python). With "profile_steps": N,
each fit case also traces N steps (keras_profile.py) into "profile".
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from keras_reference import SHAPES, build, read  # noqa: E402
from keras_profile import profile_fit  # noqa: E402


def fit_rate(name, batch, x, y, epochs, profile_steps=0):
    """Samples per second, and with profile_steps the profile of that
    many steps after the timed ones (keras_profile.profile_fit)."""
    keras.utils.set_random_seed(1)
    model = build(name)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=batch, verbose=0)  # warm-up: traces the step
    start = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0)
    rate = len(x) * epochs / (time.perf_counter() - start)
    prof = profile_fit(model, x, y, batch, profile_steps) if profile_steps else None
    return rate, prof


def latency(fn, repeats):
    for _ in range(10):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e6


def main():
    cfg = json.load(sys.stdin)
    # Before TensorFlow starts its pools; 0 keeps its default, as in Go.
    tf.config.threading.set_intra_op_parallelism_threads(cfg.get("intra_op", 0))
    tf.config.threading.set_inter_op_parallelism_threads(cfg.get("inter_op", 0))
    x_train, y_train = read(os.path.join(cfg["data"], "train.bin"))
    out = {"profile": {}}
    models = {}
    for case in cfg["cases"]:
        # e.g. fit_mlp_b32, tffunction_cnn_b1, fit_cnn_b64_bf16 (Keras's mixed_bfloat16 policy)
        kind, name, batch, *precision = case.split("_")
        batch = int(batch[1:])
        keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == ["bf16"] else "float32")
        x = x_train.reshape((-1, *SHAPES[name]))
        if kind == "fit":
            out[case], prof = fit_rate(name, batch, x, y_train, cfg["epochs"], cfg.get("profile_steps", 0))
            if prof:
                out["profile"][case] = prof
            continue
        key = (name, tuple(precision))
        if key not in models:
            keras.utils.set_random_seed(1)
            models[key] = build(name)
        model = models[key]
        xb = x[:batch]
        if kind == "predict":
            out[case] = latency(lambda: model.predict(xb, verbose=0), cfg["repeats"])
        else:
            f = tf.function(lambda t: model(t, training=False))
            out[case] = latency(lambda: f(tf.constant(xb)).numpy(), cfg["repeats"])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
