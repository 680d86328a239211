"""Reference for the concurrent-Predict stress: a two-input Keras model,
saved as a SavedModel by Python TensorFlow, and its outputs.

Reads {"dir": DIR, "sets": [{"a": [...], "b": [...], "rows": N}, ...]};
builds, with fixed seeds, a Keras functional model taking "a" (float32,
(None, 16)) and "b" (float32, (None, 8)), concatenated into a ReLU layer of
64 units, with two heads: "probs", a softmax over 3 classes, and "wide",
the hidden layer tiled 64 times (4096 floats, 16 KB a row: a large output,
the kind whose copy a use-after-free corrupts, and cheap to compute). Saves it with a "serving_default"
signature {a, b} -> {probs, wide}, loads it back and prints, for each set,
{"probs": [...], "wide": [...]} computed by the loaded SavedModel, flat.
"""
import contextlib
import json
import sys

import numpy as np
import tensorflow as tf
import keras


def build():
    keras.utils.set_random_seed(22)
    a = keras.Input((16,), name="a")
    b = keras.Input((8,), name="b")
    h = keras.layers.Dense(64, activation="relu", name="hidden")(keras.layers.Concatenate()([a, b]))
    probs = keras.layers.Dense(3, activation="softmax", name="probs")(h)
    wide = keras.ops.tile(h, (1, 64))  # cheap to compute, large to copy
    return keras.Model({"a": a, "b": b}, {"probs": probs, "wide": wide})


def main():
    cfg = json.load(sys.stdin)
    model = build()

    # Keras's ExportArchive tracks the variables, so that TF's C++ loader
    # (which Go uses) restores them.
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        lambda a, b: model({"a": a, "b": b}, training=False),
        input_signature=[tf.TensorSpec([None, 16], tf.float32, name="a"),
                         tf.TensorSpec([None, 8], tf.float32, name="b")])
    with contextlib.redirect_stdout(sys.stderr):  # write_out prints a summary
        archive.write_out(cfg["dir"])
    fn = tf.saved_model.load(cfg["dir"]).signatures["serving_default"]
    out = []
    for s in cfg["sets"]:
        a = np.asarray(s["a"], np.float32).reshape(s["rows"], 16)
        b = np.asarray(s["b"], np.float32).reshape(s["rows"], 8)
        r = fn(a=tf.constant(a), b=tf.constant(b))
        out.append({k: v.numpy().ravel().tolist() for k, v in r.items()})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
