"""Reference: which checkpoint Python TensorFlow considers the latest.

Reads {"dir": DIR} and prints {"latest": tf.train.latest_checkpoint(DIR),
"keys": [...]}: the variable keys in that checkpoint.
"""
import json
import sys

import tensorflow as tf


def main():
    d = json.load(sys.stdin)["dir"]
    latest = tf.train.latest_checkpoint(d)
    keys = sorted(tf.train.load_checkpoint(latest).get_variable_to_shape_map()) if latest else []
    json.dump({"latest": latest, "keys": keys}, sys.stdout)


if __name__ == "__main__":
    main()
