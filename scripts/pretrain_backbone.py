"""Pretrain a CNN backbone on a source task and export it.

The source is MNIST digits 0-4 (--source 0-4, the default, for the near
target digits 5-9) or all ten MNIST digits (--source all, for the far
target, scikit-learn's 8x8 digits). Each source gets its own folder.

Writes, in OUT (default .cache/backbone for 0-4, .cache/backbone-all for all):
  savedmodel/   a SavedModel with four signatures, each taking "images"
                (float32, (None, 28, 28, 1)): "serving_default" -> "probs"
                (the source classes), and the features at three depths:
                "block1" -> (None, 13, 13, 32), "block2" -> (None, 5, 5, 64),
                "features" -> (None, 128) (the dense layer before the
                classifier: the most source-specific depth);
  weights.*     the same weights as a TF checkpoint keyed as Go names them
                ("block1_conv/kernel", ...): the trainable form Go rebuilds
                and fine-tunes;
  backbone.json the architecture (each layer as Go's layers.Config reads it,
                rebuilt by models/transfer's Backbone.Layers), the source
                test accuracy, the seed.

Usage: pretrain_backbone.py [--source 0-4|all] [--out DIR] [--epochs N] [--seed N] [--data DIR]
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from keras_reference import read  # noqa: E402

LAYERS = [
    {"type": "Conv2D", "name": "block1_conv", "filters": 32, "kernel": [3, 3], "activation": "relu"},
    {"type": "MaxPooling2D", "name": "block1_pool", "size": [2, 2]},
    {"type": "Conv2D", "name": "block2_conv", "filters": 64, "kernel": [3, 3], "activation": "relu"},
    {"type": "MaxPooling2D", "name": "block2_pool", "size": [2, 2]},
    {"type": "Flatten", "name": "flatten"},
    {"type": "Dense", "name": "features", "units": 128, "activation": "relu"},
]

SOURCES = {"0-4": [0, 1, 2, 3, 4], "all": list(range(10))}


def build(classes):
    inputs = keras.Input((28, 28, 1), name="images")
    x, taps = inputs, {}
    for spec in LAYERS:
        if spec["type"] == "Conv2D":
            x = keras.layers.Conv2D(spec["filters"], tuple(spec["kernel"]), activation=spec["activation"],
                                    name=spec["name"])(x)
        elif spec["type"] == "MaxPooling2D":
            x = keras.layers.MaxPooling2D(tuple(spec["size"]), name=spec["name"])(x)
        elif spec["type"] == "Dense":
            x = keras.layers.Dense(spec["units"], activation=spec["activation"], name=spec["name"])(x)
        else:
            x = keras.layers.Flatten(name=spec["name"])(x)
        taps[spec["name"]] = x
    y = keras.layers.Dropout(0.5)(x)
    probs = keras.layers.Dense(classes, activation="softmax", name="source_classifier")(y)
    return keras.Model(inputs, probs), keras.Model(inputs, [taps["block1_pool"], taps["block2_pool"], x])


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--source", choices=sorted(SOURCES), default="0-4", help="source classes: digits 0-4 or all ten")
    ap.add_argument("--out", default=None, help="default .cache/backbone (0-4) or .cache/backbone-all (all)")
    ap.add_argument("--data", default=os.path.join(here, "..", ".cache", "mnist"))
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.out is None:
        args.out = os.path.join(here, "..", ".cache", "backbone" if args.source == "0-4" else "backbone-" + args.source)
    classes = SOURCES[args.source]
    keras.utils.set_random_seed(args.seed)
    x, y = read(os.path.join(args.data, "train.bin"))
    xt, yt = read(os.path.join(args.data, "test.bin"))
    src, srct = np.isin(y, classes), np.isin(yt, classes)
    model, taps = build(len(classes))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[src].reshape(-1, 28, 28, 1), y[src], epochs=args.epochs, batch_size=64, verbose=0)
    _, acc = model.evaluate(xt[srct].reshape(-1, 28, 28, 1), yt[srct], verbose=0)

    os.makedirs(args.out, exist_ok=True)
    spec = tf.TensorSpec([None, 28, 28, 1], tf.float32, name="images")

    # Keras's ExportArchive tracks the variables so that TF's C++ loader
    # (TF_LoadSessionFromSavedModel) restores them; a plain tf.Module holding
    # a Keras 3 model does not (tensorflow/tensorflow#72963).
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(taps)
    archive.add_endpoint("serving_default", lambda images: {"probs": model(images, training=False)}, input_signature=[spec])
    archive.add_endpoint("block1", lambda images: {"block1": taps(images, training=False)[0]}, input_signature=[spec])
    archive.add_endpoint("block2", lambda images: {"block2": taps(images, training=False)[1]}, input_signature=[spec])
    archive.add_endpoint("features", lambda images: {"features": taps(images, training=False)[2]}, input_signature=[spec])
    archive.write_out(os.path.join(args.out, "savedmodel"), verbose=False)

    names, tensors = [], []
    for spec_ in LAYERS:
        if spec_["type"] in ("Conv2D", "Dense"):
            kernel, bias = model.get_layer(spec_["name"]).get_weights()
            names += [spec_["name"] + "/kernel", spec_["name"] + "/bias"]
            tensors += [tf.constant(kernel), tf.constant(bias)]
    tf.raw_ops.SaveV2(prefix=os.path.join(args.out, "weights"), tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=tensors)
    with open(os.path.join(args.out, "backbone.json"), "w") as f:
        json.dump({"input": [28, 28, 1], "layers": LAYERS, "source_classes": classes,
                   "source_test_accuracy": float(acc), "epochs": args.epochs, "seed": args.seed}, f, indent=1)
    print(f"backbone: source test accuracy {acc:.4f} on digits {args.source}; written to {args.out}")


if __name__ == "__main__":
    main()
