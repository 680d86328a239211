"""Makes a folder of class subfolders holding PNG and JPEG images of several
sizes (TensorFlow's encoders), then reads it with Keras's
image_dataset_from_directory (shuffle off), as the reference for
data/imagefolder: stdin {"dir", "height", "width", "crop", "categorical",
"split", "subset", "shuffle", "seed"}, stdout {"images": [...], "labels": [...],
"classes": [...], "files": [...]}. With "shuffle", Keras also reshuffles
what it yields (a shuffle buffer), so only "files" (its file order, which
decides the split) is meant to be compared."""
import contextlib
import json
import os
import sys

import numpy as np
import tensorflow as tf
import keras

req = json.load(sys.stdin)
d = req["dir"]
rng = np.random.default_rng(3)
if not os.path.exists(os.path.join(d, "square")):
    sizes = [(40, 60), (64, 64), (70, 50), (33, 47), (100, 20)]
    for c, cls in enumerate(["square", "circle", "triangle"]):
        os.makedirs(os.path.join(d, cls), exist_ok=True)
        for i in range(6):
            h, w = sizes[(i + c) % len(sizes)]
            img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            if i % 2:
                data = tf.io.encode_png(img).numpy()
                name = f"img{i}.png" if i != 3 else f"IMG{i}.PNG"
            else:
                data = tf.io.encode_jpeg(img, quality=90).numpy()
                name = f"img{i}.jpg"
            with open(os.path.join(d, cls, name), "wb") as f:
                f.write(data)
        with open(os.path.join(d, cls, "notes.txt"), "w") as f:
            f.write("not an image")
kw = {}
if req["split"]:
    kw = {"validation_split": req["split"], "subset": req["subset"], "seed": 1}
shuffle = bool(req.get("shuffle"))
if shuffle:
    kw["seed"] = req["seed"]
with contextlib.redirect_stdout(sys.stderr):  # Keras prints "Found N files ..."
    ds = keras.utils.image_dataset_from_directory(
        d, image_size=(req["height"], req["width"]), shuffle=shuffle, batch_size=None,
        crop_to_aspect_ratio=req["crop"], label_mode="categorical" if req["categorical"] else "int", **kw)
images, labels = [], []
for x, y in ds:
    images.extend(x.numpy().astype(np.float32).ravel().tolist())
    labels.extend(np.asarray(y).ravel().tolist())
json.dump({"images": images, "labels": labels, "classes": ds.class_names,
           "files": [os.path.relpath(p, d) for p in ds.file_paths]}, sys.stdout)
