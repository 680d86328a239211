"""Reference: small SavedModels of the kinds transfer.SavedModelLayer must
take or refuse, each with what Python's tf.saved_model.load computes.

Reads {"dir", "kinds": [...]} and saves each kind, in the order given, as
dir/KIND (signature serving_default, input "images" (None, 8, 8, 3)
float32, output "features"):
  relu, tanh     a 3x3 convolution with a bias (variables), then relu or
                 tanh, averaged over the pixels. Saved first in two
                 separate processes, their functions get the same names
                 (TensorFlow numbers a process's functions from one
                 counter) with different bodies.
  novars         2 * mean + 1: no variables at all
  table          a StaticHashTable lookup (filled by the init op)
  assigns        a signature that adds to its own variable on every call
  batch_changes  reshape(x, [-1, 8]): not one row per input row
Prints {kind: [features of X...]} for X = sin(0.37 * i) of shape (2, 8, 8, 3)
(the kinds that run).
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

SPEC = tf.TensorSpec([None, 8, 8, 3], tf.float32, name="images")


class Conv(tf.Module):
    def __init__(self, act, seed):
        r = np.random.default_rng(seed)
        self.act = act
        self.k = tf.Variable(r.normal(size=(3, 3, 3, 4)).astype(np.float32))
        self.b = tf.Variable(r.normal(size=(4,)).astype(np.float32))

    @tf.function(input_signature=[SPEC])
    def f(self, x):
        y = tf.nn.conv2d(x, self.k, 1, "SAME") + self.b
        return {"features": tf.reduce_mean(self.act(y), [1, 2])}


class NoVars(tf.Module):
    @tf.function(input_signature=[SPEC])
    def f(self, x):
        return {"features": 2 * tf.reduce_mean(x, [1, 2]) + 1}


class Table(tf.Module):
    def __init__(self):
        init = tf.lookup.KeyValueTensorInitializer(tf.constant([0, 1], tf.int64), tf.constant([2.0, 3.0]))
        self.t = tf.lookup.StaticHashTable(init, -1.0)

    @tf.function(input_signature=[SPEC])
    def f(self, x):
        k = tf.cast(tf.reduce_mean(x, [1, 2, 3]) > 0, tf.int64)
        return {"features": tf.reshape(self.t.lookup(k), [-1, 1]) * tf.ones([1, 2])}


class Assigns(tf.Module):
    def __init__(self):
        self.n = tf.Variable(np.zeros(3, np.float32))

    @tf.function(input_signature=[SPEC])
    def f(self, x):
        self.n.assign_add(tf.ones(3))
        return {"features": tf.reduce_mean(x, [1, 2]) + self.n}


class BatchChanges(tf.Module):
    @tf.function(input_signature=[SPEC])
    def f(self, x):
        return {"features": tf.reshape(x, [-1, 8])}


def make(kind):
    return {"relu": lambda: Conv(tf.nn.relu, 1), "tanh": lambda: Conv(tf.tanh, 2), "novars": NoVars,
            "table": Table, "assigns": Assigns, "batch_changes": BatchChanges}[kind]()


def main():
    cfg = json.load(sys.stdin)
    x = np.sin(np.arange(2 * 8 * 8 * 3) * 0.37).reshape(2, 8, 8, 3).astype(np.float32)
    out = {}
    for kind in cfg["kinds"]:
        m = make(kind)
        path = os.path.join(cfg["dir"], kind)
        tf.saved_model.save(m, path, signatures={"serving_default": m.f})
        if kind in ("relu", "tanh", "novars"):
            y = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(x))["features"]
            out[kind] = y.numpy().ravel().tolist()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
