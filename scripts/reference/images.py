"""Reference: images written and preprocessed by Python TensorFlow.

Reads {"dir": DIR, "height", "width", "channels", "mean", "std"}; writes
DIR/img.png and DIR/img.jpg (a 37×23 synthetic picture) and prints
{"png": [...], "jpg": [...]}: each decoded, scaled to [0, 1], resized with
tf.image.resize (bilinear) and normalized as (x - mean) / std.
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf


def main():
    cfg = json.load(sys.stdin)
    h, w, c = 37, 23, cfg["channels"]
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 11 + yy * 3 + k * 40) % 256 for k in range(c)], axis=-1).astype(np.uint8)
    out = {}
    for ext, enc in (("png", tf.io.encode_png), ("jpg", tf.io.encode_jpeg)):
        path = os.path.join(cfg["dir"], "img." + ext)
        tf.io.write_file(path, enc(img))
        x = tf.io.decode_image(tf.io.read_file(path), channels=c, expand_animations=False)
        x = tf.cast(x, tf.float32) / 255.0
        x = tf.image.resize(x, (cfg["height"], cfg["width"]), method="bilinear")
        x = (x - cfg["mean"]) / cfg["std"]
        out[ext] = x.numpy().ravel().tolist()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
