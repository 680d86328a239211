"""Reference: the course's perceptron in Python TensorFlow (eager).

Reads JSON on stdin: {"x": [[...]], "labels": [[...]], "W": [[...]],
"b": [...], "lr": float, "steps": int}; trains full-batch for `steps` steps
and prints {"losses": [...], "W": [[...]], "b": [...],
"predictions": [[...]]} on stdout. Go's tests compare their numbers
with these.
"""
import json
import sys

import tensorflow as tf


def main():
    cfg = json.load(sys.stdin)
    x = tf.constant(cfg["x"], dtype=tf.float32)
    labels = tf.constant(cfg["labels"], dtype=tf.float32)
    W = tf.Variable(tf.constant(cfg["W"], dtype=tf.float32))
    b = tf.Variable(tf.constant(cfg["b"], dtype=tf.float32))
    lr = cfg["lr"]

    def predict(inputs):
        return tf.maximum(0.0, tf.matmul(inputs, W) + b)

    def train_step(inputs, targets):
        with tf.GradientTape() as tape:
            predictions = predict(inputs)
            loss = tf.reduce_mean(tf.square(targets - predictions))
        grad_W, grad_b = tape.gradient(loss, [W, b])
        W.assign(W - lr * grad_W)
        b.assign(b - lr * grad_b)
        return loss

    losses = [float(train_step(x, labels)) for _ in range(cfg["steps"])]
    json.dump({
        "losses": losses,
        "W": W.numpy().tolist(),
        "b": b.numpy().tolist(),
        "predictions": predict(x).numpy().tolist(),
    }, sys.stdout)


if __name__ == "__main__":
    main()
