"""Reference: read what Go wrote, with Python TensorFlow's own readers.

Reads {"checkpoint": PREFIX or null, "events": [DIR...]} and prints
{"checkpoint": {key: {"shape": [...], "data": [...]}},
 "events": {DIR: [{"tag", "step", "value"}...]}}: every tensor in a
checkpoint (tf.train.load_checkpoint) and every scalar in the event files
of each folder (tf.compat.v1.train.summary_iterator), with the kind of
value ("simple_value" scalars are what TensorBoard's scalar dashboard
reads from TF's WriteScalarSummary).
"""
import glob
import json
import os
import sys

import numpy as np
import tensorflow as tf


def main():
    cfg = json.load(sys.stdin)
    out = {"checkpoint": {}, "events": {}}
    if cfg.get("checkpoint"):
        reader = tf.train.load_checkpoint(cfg["checkpoint"])
        for key, shape in reader.get_variable_to_shape_map().items():
            value = np.asarray(reader.get_tensor(key))
            out["checkpoint"][key] = {"shape": list(shape), "data": value.astype(np.float64).ravel().tolist()}
    for d in cfg.get("events") or []:
        rows = []
        for path in sorted(glob.glob(os.path.join(d, "events.out.tfevents.*"))):
            for event in tf.compat.v1.train.summary_iterator(path):
                for v in event.summary.value:
                    kind = v.WhichOneof("value")
                    value = float(tf.make_ndarray(v.tensor)) if kind == "tensor" else v.simple_value
                    rows.append({"tag": v.tag, "step": event.step, "value": value, "kind": kind})
        out["events"][d] = rows
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
