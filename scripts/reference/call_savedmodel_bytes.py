"""Reference: call a SavedModel signature that takes encoded images, from
Python TensorFlow. Reads {"dir", "signature", "input", "files": [paths]}
and prints {"outputs": {name: [...]}}: the signature run on the files'
bytes, as tf.saved_model.load runs it."""
import json
import sys

import tensorflow as tf


def main():
    cfg = json.load(sys.stdin)
    fn = tf.saved_model.load(cfg["dir"]).signatures[cfg["signature"]]
    data = tf.stack([tf.io.read_file(p) for p in cfg["files"]])
    out = fn(**{cfg["input"]: data})
    json.dump({"outputs": {k: v.numpy().ravel().tolist() for k, v in out.items()}}, sys.stdout)


if __name__ == "__main__":
    main()
