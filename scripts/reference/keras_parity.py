"""Reference: Keras outputs and gradients for the same layers, weights and data.

Reads JSON on stdin: {"cases": [{"name", "input": [...], "layers": [spec...],
"loss": {"type", "from_logits"}, "weights": [{"shape", "data"}...],
"x": {"shape", "data"}, "y": {"shape", "data", "int"}}, ...]} and prints
{name: {"pred": [...], "loss": float, "grads": [[...]...],
"moving": [[...]...]}}: the inference outputs, the training-mode loss and
its gradients with respect to model.trainable_weights (in order), and the
BatchNormalization moving statistics after one training-mode call.
"""
import json
import sys

import numpy as np
import tensorflow as tf
import keras


class SelfAttention(keras.layers.Layer):
    """mha(x, x), so that a Sequential model can hold a MultiHeadAttention
    as gotf's Sequential does; its weights are the attention layer's."""

    def __init__(self, **kwargs):
        super().__init__()
        self.mha = keras.layers.MultiHeadAttention(**kwargs)

    def build(self, shape):
        self.mha.build(shape, shape)

    def call(self, x):
        return self.mha(x, x)


def layer(spec):
    t = spec["type"]
    act = spec.get("activation", "linear")
    if t == "Dense":
        return keras.layers.Dense(spec["units"], activation=act, use_bias=not spec.get("no_bias", False))
    if t == "Conv2D":
        return keras.layers.Conv2D(spec["filters"], tuple(spec["kernel"]), strides=tuple(spec["strides"]),
                                   padding=spec["padding"].lower(), activation=act,
                                   use_bias=not spec.get("no_bias", False))
    if t == "DepthwiseConv2D":
        return keras.layers.DepthwiseConv2D(tuple(spec["kernel"]), strides=tuple(spec["strides"]),
                                            padding=spec["padding"].lower(),
                                            depth_multiplier=spec.get("depth_multiplier", 1), activation=act,
                                            use_bias=not spec.get("no_bias", False))
    if t == "SeparableConv2D":
        return keras.layers.SeparableConv2D(spec["filters"], tuple(spec["kernel"]), strides=tuple(spec["strides"]),
                                            padding=spec["padding"].lower(),
                                            depth_multiplier=spec.get("depth_multiplier", 1), activation=act,
                                            use_bias=not spec.get("no_bias", False))
    if t == "MultiHeadAttention":
        return SelfAttention(num_heads=spec["num_heads"], key_dim=spec["key_dim"],
                             use_bias=not spec.get("no_bias", False))
    if t == "MaxPooling2D":
        return keras.layers.MaxPooling2D(tuple(spec["size"]), strides=tuple(spec["strides"]),
                                         padding=spec["padding"].lower())
    if t == "AveragePooling2D":
        return keras.layers.AveragePooling2D(tuple(spec["size"]), strides=tuple(spec["strides"]),
                                             padding=spec["padding"].lower())
    if t == "Flatten":
        return keras.layers.Flatten()
    if t == "Dropout":
        return keras.layers.Dropout(spec.get("rate", 0.0))
    if t == "BatchNormalization":
        return keras.layers.BatchNormalization()
    if t == "Activation":
        return keras.layers.Activation(act)
    if t in ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        return getattr(keras.layers, t)()
    if t == "Reshape":
        return keras.layers.Reshape(tuple(spec["target_shape"]))
    if t == "Permute":
        return keras.layers.Permute(tuple(spec["dims"]))
    if t == "ZeroPadding2D":
        return keras.layers.ZeroPadding2D(tuple(tuple(p) for p in spec["pad_widths"]))
    if t == "Conv1D":
        return keras.layers.Conv1D(spec["filters"], spec["kernel"][0], strides=spec["strides"][0],
                                   padding=spec["padding"].lower(), activation=act,
                                   use_bias=not spec.get("no_bias", False))
    if t == "Embedding":
        return keras.layers.Embedding(spec["input_dim"], spec["output_dim"])
    if t == "LayerNormalization":
        return keras.layers.LayerNormalization(epsilon=spec.get("epsilon", 1e-3), center=not spec.get("no_center", False),
                                               scale=not spec.get("no_scale", False))
    if t == "Rescaling":
        return keras.layers.Rescaling(spec.get("scale", 0.0), offset=spec.get("offset", 0.0))
    raise SystemExit(f"unknown layer {t}")


def loss(spec):
    t, fl = spec["type"], spec.get("from_logits", False)
    return {
        "mse": lambda: keras.losses.MeanSquaredError(),
        "bce": lambda: keras.losses.BinaryCrossentropy(from_logits=fl),
        "cce": lambda: keras.losses.CategoricalCrossentropy(from_logits=fl),
        "scce": lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=fl),
    }[t]()


def tensor(spec):
    dtype = np.int32 if spec.get("int") else np.float32
    return np.asarray(spec["data"], dtype=dtype).reshape(spec["shape"])


def run(case):
    model = keras.Sequential([keras.Input(shape=tuple(case["input"]))] + [layer(s) for s in case["layers"]])
    model.set_weights([tensor(w) for w in case["weights"]])
    x, y = tensor(case["x"]), tensor(case["y"])
    pred = model(x, training=False)
    fn = loss(case["loss"])
    with tf.GradientTape() as tape:
        out = model(x, training=True)
        value = fn(y, out)
    grads = tape.gradient(value, model.trainable_weights)
    moving = [w.numpy().ravel().tolist() for w in model.non_trainable_weights]
    return {
        "pred": np.asarray(pred).ravel().tolist(),
        "loss": float(value),
        "grads": [np.asarray(tf.convert_to_tensor(g)).ravel().tolist() for g in grads],
        "moving": moving,
    }


def main():
    cfg = json.load(sys.stdin)
    json.dump({c["name"]: run(c) for c in cfg["cases"]}, sys.stdout)


if __name__ == "__main__":
    main()
