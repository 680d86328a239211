"""Reference: .keras files saved by Keras 3, and what Keras predicts with them.

Reads {"dir", "seed"} and saves there, each with random weights made by the
seed (BatchNormalization's moving statistics randomized too, so inference
mode is visible):
  cnn.keras     a Sequential CNN (the four augmentation layers, Conv2D,
                MaxPooling2D, BatchNormalization, Dropout, Flatten, Dense)
  resnet.keras  a small ResNet-style functional model (ZeroPadding2D, Conv2D
                without bias, BatchNormalization with ResNet's epsilon, a
                projection shortcut and an identity one joined by Add)
  mnv2.keras    keras.applications.MobileNetV2(alpha=0.35, 96x96, 10 classes,
                logits out)
  nested.keras  a transfer-learning shape: Rescaling, a functional backbone
                used as a layer (frozen), GlobalAveragePooling2D, Dense
  text.keras    int32 ids through Embedding(mask_zero), LSTM, a
                Bidirectional GRU of sequences, masked
                GlobalAveragePooling1D and Dense
  textfn.keras  the same kind of model built functionally (Keras writes
                the mask as a NotEqual op node and mask= arguments), fed
                negative ids as well
Prints {name: {"shape": [...], "x": [...], "y": [...]}}: a random batch and
Keras's predict on it.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from keras import layers


def randomize_bn(model, rng):
    for l in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(l, layers.BatchNormalization):
            c = l.gamma.shape[0]
            l.set_weights([rng.uniform(0.5, 1.5, c), rng.uniform(-0.5, 0.5, c),
                           rng.uniform(-0.5, 0.5, c), rng.uniform(0.5, 2.0, c)])


def cnn():
    return keras.Sequential([
        keras.Input((12, 12, 2)),
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1),
        layers.RandomZoom(0.2),
        layers.RandomTranslation(0.1, (-0.2, 0.1), fill_mode="constant"),
        layers.Conv2D(6, 3, activation="relu", padding="same"),
        layers.MaxPooling2D(2),
        layers.BatchNormalization(),
        layers.Conv2D(4, 3, strides=2, use_bias=False),
        layers.Dropout(0.3),
        layers.Flatten(),
        layers.Dense(5, activation="softmax"),
    ], name="cnn")


def block(x, filters, stride, name):
    s = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=name + "_proj")(x)
    s = layers.BatchNormalization(epsilon=1.001e-5, name=name + "_proj_bn")(s)
    y = layers.Conv2D(filters, 1, strides=stride, name=name + "_1")(x)
    y = layers.BatchNormalization(epsilon=1.001e-5, name=name + "_1_bn")(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", name=name + "_2")(y)
    y = layers.BatchNormalization(epsilon=1.001e-5, name=name + "_2_bn")(y)
    y = layers.Add()([s, y])
    y = layers.Activation("relu")(y)
    z = layers.Conv2D(filters, 3, padding="same", name=name + "_3")(y)
    z = layers.BatchNormalization(epsilon=1.001e-5, momentum=0.9, name=name + "_3_bn")(z)
    z = layers.Add()([y, z])
    return layers.ReLU()(z)


def resnet():
    inp = keras.Input((16, 16, 3), name="image")
    x = layers.ZeroPadding2D(((1, 1), (1, 1)))(inp)
    x = layers.Conv2D(8, 3, strides=2, use_bias=False)(x)
    x = layers.BatchNormalization(epsilon=1.001e-5)(x)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = block(x, 12, 1, "b1")
    x = block(x, 16, 2, "b2")
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(5)(x)  # logits
    return keras.Model(inp, out, name="small_resnet")


def mnv2():
    # Logits, not probabilities: a softmax would hide differences.
    return keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10,
                                          classifier_activation=None)


def nested():
    inp = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    base = keras.Model(inp, x, name="backbone")
    base.trainable = False
    outer_in = keras.Input((16, 16, 3), name="pixels")
    y = layers.Rescaling(1 / 127.5, offset=-1)(outer_in)
    y = base(y)
    y = layers.GlobalAveragePooling2D()(y)
    y = layers.Dropout(0.2)(y)
    out = layers.Dense(3, activation="softmax")(y)
    return keras.Model(outer_in, out, name="transfer")


def text():
    return keras.Sequential([
        keras.Input((6,), dtype="int32"),
        layers.Embedding(20, 4, mask_zero=True),
        layers.LSTM(5, return_sequences=True),
        layers.Bidirectional(layers.GRU(3, return_sequences=True)),
        layers.GlobalAveragePooling1D(),
        layers.Dense(2),
    ], name="text")


def textfn():
    # The functional form writes the mask into the graph: a NotEqual op
    # node and mask= on each call that takes one.
    ids = keras.Input((6,), dtype="int32", name="ids")
    x = layers.Embedding(20, 4, mask_zero=True)(ids)
    x = layers.Dense(4, activation="tanh", name="proj")(x)
    x = layers.LSTM(5, return_sequences=True)(x)
    x = layers.Bidirectional(layers.GRU(3, return_sequences=True))(x)
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(ids, layers.Dense(2)(x), name="textfn")


def main():
    cfg = json.load(sys.stdin)
    keras.utils.set_random_seed(cfg.get("seed", 1))
    rng = np.random.default_rng(cfg.get("seed", 1))
    out = {}
    for name, make, scale in [("cnn", cnn, 1.0), ("resnet", resnet, 1.0), ("mnv2", mnv2, 1.0), ("nested", nested, 255.0),
                              ("text", text, 0), ("textfn", textfn, 0)]:
        m = make()
        randomize_bn(m, rng)
        path = os.path.join(cfg["dir"], name + ".keras")
        m.save(path)
        shape = [3] + list(m.input_shape[1:])
        if name.startswith("text"):  # ids, some 0 (masked); Go feeds them as floats
            emb = [l for l in m.layers if isinstance(l, layers.Embedding)][0]
            emb.set_weights([rng.normal(0, 1, (20, 4))])  # outputs far from 0
            m.save(path)
            # textfn's ids count from the end too (-1 is the last row).
            low = -20 if name == "textfn" else 0
            ids = rng.integers(low, 20, shape) * rng.integers(0, 2, shape)
            ids[:, 0] = rng.integers(1, 20, shape[0])  # no sample wholly masked (its mean is 0/0)
            y = m.predict(ids.astype(np.int32), verbose=0)
            x = ids.astype(np.float32)
        else:
            x = (rng.uniform(0, 1, shape) * scale).astype(np.float32)
            y = m.predict(x, verbose=0)
        out[name] = {"shape": shape, "x": x.ravel().tolist(), "y": np.asarray(y).ravel().tolist()}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
