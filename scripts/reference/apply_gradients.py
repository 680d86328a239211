"""Reference: a training loop of one's own, as Keras users write it when
fit is not enough: tf.GradientTape, a custom loss, and two optimizers each
applying its gradients to its own variables in one step
(optimizer.apply_gradients).

Reads {"w", "w_shape", "b", "x", "x_shape", "y", "steps"} and prints
{"w", "b", "losses"}: the variables after the steps, and each step's loss.
The model: p = tanh(x·w + b); loss = mean((p - y)^2) + 0.01·sum(|w|).
w is trained by Adam(0.05, clipnorm=1), b by RMSprop(0.01).
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import keras
import tensorflow as tf


def main():
    cfg = json.load(sys.stdin)
    w = tf.Variable(np.array(cfg["w"], np.float32).reshape(cfg["w_shape"]))
    b = tf.Variable(np.array(cfg["b"], np.float32))
    x = tf.constant(np.array(cfg["x"], np.float32).reshape(cfg["x_shape"]))
    y = tf.constant(np.array(cfg["y"], np.float32).reshape(cfg["x_shape"][0], -1))
    adam = keras.optimizers.Adam(0.05, clipnorm=1.0)
    rms = keras.optimizers.RMSprop(0.01)
    losses = []
    for _ in range(cfg["steps"]):
        with tf.GradientTape() as tape:
            p = tf.tanh(tf.matmul(x, w) + b)
            loss = tf.reduce_mean(tf.square(p - y)) + 0.01 * tf.reduce_sum(tf.abs(w))
        gw, gb = tape.gradient(loss, [w, b])
        adam.apply_gradients([(gw, w)])
        rms.apply_gradients([(gb, b)])
        losses.append(float(loss))
    json.dump({"w": w.numpy().ravel().tolist(), "b": b.numpy().ravel().tolist(), "losses": losses}, sys.stdout)


if __name__ == "__main__":
    main()
