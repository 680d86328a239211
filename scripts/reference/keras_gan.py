"""Reference: the GAN of models/course/gan.go written with Keras 3, trained
for a few steps from the same weights on the same data.

Reads {"latent", "lr", "beta1", "gen": [[...], ...], "disc": [[...], ...],
"steps": [{"real": [...], "z1": [...], "z2": [...]}, ...]}: the initial
weights of both models (Keras's model.weights order, flattened) and each
step's real batch (784 pixels a sample) and noise. Each step updates the
discriminator (real samples labelled 1, generated ones 0, the mean of the
two binary cross-entropies on logits) with its own Adam, then the
generator (its samples labelled 1) against the updated discriminator with
another, as a custom train_step with two GradientTapes and two
apply_gradients.
Prints {"d_loss": [...], "g_loss": [...], "gen": [[...]], "disc": [[...]]}:
the losses of each step and the weights after the last.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf
from keras import layers


def main():
    req = json.load(sys.stdin)
    latent = req["latent"]
    gen = keras.Sequential([
        keras.Input((latent,)),
        layers.Dense(128), layers.LeakyReLU(negative_slope=0.2),
        layers.Dense(256), layers.LeakyReLU(negative_slope=0.2),
        layers.Dense(784, activation="tanh"),
    ])
    disc = keras.Sequential([
        keras.Input((784,)),
        layers.Dense(256), layers.LeakyReLU(negative_slope=0.2),
        layers.Dense(128), layers.LeakyReLU(negative_slope=0.2),
        layers.Dense(1),
    ])
    for m, ws in ((gen, req["gen"]), (disc, req["disc"])):
        m.set_weights([np.asarray(w, dtype="float32").reshape(v.shape) for w, v in zip(ws, m.weights)])
    d_opt = keras.optimizers.Adam(req["lr"], beta_1=req["beta1"])
    g_opt = keras.optimizers.Adam(req["lr"], beta_1=req["beta1"])
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    d_losses, g_losses = [], []
    for s in req["steps"]:
        real = tf.constant(np.asarray(s["real"], dtype="float32").reshape(-1, 784))
        z1 = tf.constant(np.asarray(s["z1"], dtype="float32").reshape(-1, latent))
        z2 = tf.constant(np.asarray(s["z2"], dtype="float32").reshape(-1, latent))
        with tf.GradientTape() as tape:
            on_real = disc(real, training=True)
            on_fake = disc(gen(z1, training=True), training=True)
            d_loss = (bce(tf.ones_like(on_real), on_real) + bce(tf.zeros_like(on_fake), on_fake)) / 2
        grads = tape.gradient(d_loss, disc.trainable_weights)
        d_opt.apply_gradients(zip(grads, disc.trainable_weights))
        with tf.GradientTape() as tape:
            judged = disc(gen(z2, training=True), training=True)
            g_loss = bce(tf.ones_like(judged), judged)
        grads = tape.gradient(g_loss, gen.trainable_weights)
        g_opt.apply_gradients(zip(grads, gen.trainable_weights))
        d_losses.append(float(d_loss))
        g_losses.append(float(g_loss))
    json.dump({"d_loss": d_losses, "g_loss": g_losses,
               "gen": [w.numpy().ravel().tolist() for w in gen.weights],
               "disc": [w.numpy().ravel().tolist() for w in disc.weights]}, sys.stdout)


if __name__ == "__main__":
    main()
