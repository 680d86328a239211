"""Writes a TFRecord file of tf.train.Example with TensorFlow's own writer,
as the independent reference for data/tfrecord: stdin {"path", "n",
"names"}, stdout the values written: {"x": [...], "y": [...]} (x: each
example's "pixels" (3 floats) then "count" (one int64), flattened)."""
import json
import sys

import numpy as np
import tensorflow as tf

req = json.load(sys.stdin)
rng = np.random.default_rng(5)
shapes = [b"circle", b"square", b"triangle"]
xs, ys = [], []
with tf.io.TFRecordWriter(req["path"]) as w:
    for i in range(req["n"]):
        px = rng.normal(size=3).astype(np.float32)
        count = int(rng.integers(-1000, 1000))
        feats = {
            "pixels": tf.train.Feature(float_list=tf.train.FloatList(value=px)),
            "count": tf.train.Feature(int64_list=tf.train.Int64List(value=[count])),
            "note": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"ignored"])),
        }
        if req["names"]:
            name = shapes[int(rng.integers(0, 3))]
            feats["label"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[name]))
            ys.append(sorted(shapes).index(name))
        else:
            label = int(rng.integers(0, 10))
            feats["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))
            ys.append(label)
        w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
        xs.extend([float(v) for v in px] + [float(np.float32(count))])
json.dump({"x": xs, "y": ys}, sys.stdout)
