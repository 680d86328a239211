"""Reference: keras.layers.MultiHeadAttention outputs and gradients.

Reads JSON on stdin: {"cases": [{"name", "num_heads", "key_dim", "no_bias",
"self": bool, "inputs": [query, value(, key)], "masks": [mask or null per
input], "weights": [...], "r": tensor}]}, each tensor {"shape", "data"}
(a mask's data is 1 for a real step, 0 for a masked one), and prints
{name: {"out": [...], "grads": [[...]...]}}: the layer's output, and the
gradients of sum(output * r) with respect to the layer's weights (in
get_weights order) and then to each input. A "self" case calls mha(x, x)
with x's mask as the query's and the value's, as keras does.
"""
import json
import sys

import numpy as np
import tensorflow as tf
import keras
from keras.src import backend


def tensor(spec, dtype=np.float32):
    return np.asarray(spec["data"], dtype=dtype).reshape(spec["shape"])


def run(c):
    ins = [tf.constant(tensor(t)) for t in c["inputs"]]
    masks = [None if m is None else tf.constant(tensor(m) > 0.5) for m in (c.get("masks") or [])]
    masks += [None] * (3 - len(masks))
    mha = keras.layers.MultiHeadAttention(c["num_heads"], c["key_dim"], use_bias=not c["no_bias"])

    def args():
        if c["self"]:
            return ins[0], ins[0], None, masks[0], masks[0], None
        key = ins[2] if len(ins) > 2 else None
        return ins[0], ins[1], key, masks[0], masks[1], masks[2]

    q, v, k, _, _, _ = args()
    mha(q, v, key=k)  # builds
    mha.set_weights([tensor(w) for w in c["weights"]])
    with tf.GradientTape() as tape:
        tape.watch(ins)
        q, v, k, qm, vm, km = args()
        # MultiHeadAttention reads the query's mask from the tensor only.
        backend.set_keras_mask(q, qm)
        out = mha(q, v, key=k, value_mask=vm, key_mask=km)
        target = tf.reduce_sum(out * tensor(c["r"]))
    grads = tape.gradient(target, mha.trainable_weights + ins)
    return {
        "out": np.asarray(out).ravel().tolist(),
        "grads": [np.asarray(tf.convert_to_tensor(g)).ravel().tolist() for g in grads],
    }


def main():
    cfg = json.load(sys.stdin)
    json.dump({c["name"]: run(c) for c in cfg["cases"]}, sys.stdout)


if __name__ == "__main__":
    main()
