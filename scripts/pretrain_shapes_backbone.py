"""Pretrains a small MobileNetV2-style network on a source shapes task and
saves its backbone as a Keras 3 .keras file: the pretrained model the
transfer tool's test and the README's walk-through fine-tune on other
shapes.

    python scripts/pretrain_shapes_backbone.py --data DIR --out FILE.keras

DIR holds one folder of PNGs per class (data/shapes writes it). The
backbone is MobileNetV2's design at a size that trains in seconds on a CPU:
a strided 3x3 stem, then six inverted-residual blocks (1x1 expansion,
ZeroPadding2D and a strided 3x3 DepthwiseConv2D where it downsamples, 1x1
projection, each followed by BatchNormalization and ReLU6 but the
projection, Add where shapes allow) and a 1x1 convolution to 128 features:
32x32 images become 4x4x128. keras.applications.MobileNetV2 itself needs
more data than a test can make: at 32x32 its features ended up the same for
every image. The model trained is the backbone after Rescaling(1/127.5,
offset=-1) (MobileNetV2's preprocess_input), with GlobalAveragePooling2D
and a softmax head for the source classes; only the backbone is saved.
Prints one JSON line: {"source_classes", "val_accuracy", "epochs",
"seconds"}.
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings

import keras
from keras import layers

# fit on a tf.data dataset warns that its shuffle argument is ignored.
warnings.filterwarnings("ignore", message=".*shuffle.*")


def bn_relu(x, name, relu=True):
    x = layers.BatchNormalization(momentum=0.9, name=name + "_BN")(x)
    return layers.ReLU(6.0, name=name + "_relu")(x) if relu else x


def inverted(x, expand, out, stride, name):
    c = x.shape[-1]
    y = layers.Conv2D(c * expand, 1, use_bias=False, name=name + "_expand")(x)
    y = bn_relu(y, name + "_expand")
    if stride == 2:
        y = layers.ZeroPadding2D(((0, 1), (0, 1)), name=name + "_pad")(y)
    y = layers.DepthwiseConv2D(3, strides=stride, padding="valid" if stride == 2 else "same",
                               use_bias=False, name=name + "_depthwise")(y)
    y = bn_relu(y, name + "_depthwise")
    y = layers.Conv2D(out, 1, use_bias=False, name=name + "_project")(y)
    y = bn_relu(y, name + "_project", relu=False)
    if stride == 1 and c == out:
        y = layers.Add(name=name + "_add")([x, y])
    return y


def backbone(size):
    inp = keras.Input((size, size, 3), name="image")
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem")(inp)
    x = bn_relu(x, "stem")
    for i, (expand, out, stride) in enumerate([(1, 16, 1), (4, 24, 2), (4, 24, 1), (4, 32, 2), (4, 32, 1), (4, 48, 1)]):
        x = inverted(x, expand, out, stride, f"block_{i + 1}")
    x = layers.Conv2D(128, 1, use_bias=False, name="top")(x)
    x = bn_relu(x, "top")
    return keras.Model(inp, x, name="shapes_mobilenet")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    keras.utils.set_random_seed(a.seed)
    common = dict(image_size=(a.size, a.size), batch_size=32, label_mode="categorical",
                  validation_split=0.2, seed=a.seed)
    train = keras.utils.image_dataset_from_directory(a.data, subset="training", **common)
    val = keras.utils.image_dataset_from_directory(a.data, subset="validation", **common)
    classes = train.class_names
    base = backbone(a.size)
    inp = keras.Input((a.size, a.size, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1)(inp)
    x = base(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(len(classes), activation="softmax")(x)
    m = keras.Model(inp, out)
    m.compile(optimizer=keras.optimizers.Adam(2e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    t = time.time()
    h = m.fit(train, validation_data=val, epochs=a.epochs, verbose=0)
    if os.environ.get("PRETRAIN_VERBOSE"):
        print({k: [round(v, 3) for v in vs] for k, vs in h.history.items()})
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp.keras"
    base.save(tmp)
    os.replace(tmp, a.out)
    print(json.dumps({"source_classes": classes, "val_accuracy": h.history["val_accuracy"][-1],
                      "epochs": a.epochs, "seconds": round(time.time() - t, 1)}))


if __name__ == "__main__":
    main()
