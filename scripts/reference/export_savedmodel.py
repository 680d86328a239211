"""Reference: a SavedModel written by Python TensorFlow, and its outputs.

Reads {"dir": DIR, "x": [[...]]}; saves with tf.saved_model.save a module
y = tanh(x·W + b), probs = softmax(y), with a "serving_default" signature
taking "x" (float32, (None, 3)) and returning {"y", "probs"}; prints
{"y": [...], "probs": [...]} for x, computed by the loaded model.
"""
import json
import sys

import numpy as np
import tensorflow as tf


class Net(tf.Module):
    def __init__(self):
        rng = np.random.default_rng(7)
        self.w = tf.Variable(rng.normal(size=(3, 4)).astype(np.float32), name="w")
        self.b = tf.Variable(rng.normal(size=(4,)).astype(np.float32), name="b")

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def serve(self, x):
        y = tf.tanh(tf.matmul(x, self.w) + self.b)
        return {"y": y, "probs": tf.nn.softmax(y)}


def main():
    cfg = json.load(sys.stdin)
    net = Net()
    tf.saved_model.save(net, cfg["dir"], signatures={"serving_default": net.serve})
    loaded = tf.saved_model.load(cfg["dir"])
    out = loaded.signatures["serving_default"](x=tf.constant(cfg["x"], dtype=tf.float32))
    json.dump({k: v.numpy().ravel().tolist() for k, v in out.items()}, sys.stdout)


if __name__ == "__main__":
    main()
