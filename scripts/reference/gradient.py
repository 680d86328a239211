"""Reference: gradients of nonlinear expressions of a watched constant.

Reads {"x": [...], "exprs": [name, ...]} and prints
{name: {"value": float, "grad": [...]}, ...}, computed in float64 with
tf.GradientTape and tape.watch. The expressions match those
in tfwrap's gradient test.
"""
import json
import sys

import tensorflow as tf

EXPRS = {
    # sum(x^2 * exp(-x) + tanh(x) * sin(x)) / (1 + sum(x^2))
    "mixed": lambda x: tf.reduce_sum(tf.square(x) * tf.exp(-x) + tf.tanh(x) * tf.sin(x))
    / (1.0 + tf.reduce_sum(tf.square(x))),
    # mean(sigmoid(x) * log(1 + x^2)) + max(x)
    "sigmoid_log": lambda x: tf.reduce_mean(tf.sigmoid(x) * tf.math.log(1.0 + tf.square(x)))
    + tf.reduce_max(x),
    # sum(sqrt(|x| + 1) * relu(x - 0.5)) - sum(maximum(x, 0.2) ** 3)
    "relu_pow": lambda x: tf.reduce_sum(tf.sqrt(tf.abs(x) + 1.0) * tf.nn.relu(x - 0.5))
    - tf.reduce_sum(tf.pow(tf.maximum(x, 0.2), 3.0)),
}


def main():
    cfg = json.load(sys.stdin)
    x = tf.constant(cfg["x"], dtype=tf.float64)
    out = {}
    for name in cfg["exprs"]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = EXPRS[name](x)
        g = tape.gradient(y, x)
        out[name] = {"value": float(y), "grad": g.numpy().tolist()}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
