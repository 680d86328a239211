"""Reference: call a SavedModel from Python TensorFlow, and describe it.

Reads {"dir", "signature", "inputs": {name: {"shape", "data"}}} and prints
{"outputs": {name: [...]}, "cli": "..."}: the signature's outputs computed
by tf.saved_model.load, and what `saved_model_cli show --all` prints.
"""
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf


def main():
    cfg = json.load(sys.stdin)
    model = tf.saved_model.load(cfg["dir"])
    fn = model.signatures[cfg["signature"]]
    inputs = {k: tf.constant(np.asarray(v["data"], dtype=np.float32).reshape(v["shape"]))
              for k, v in cfg["inputs"].items()}
    outputs = fn(**inputs)
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", cfg["dir"], "--all"], capture_output=True, text=True,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    json.dump({"outputs": {k: v.numpy().ravel().tolist() for k, v in outputs.items()},
               "cli": shown.stdout + shown.stderr}, sys.stdout)


if __name__ == "__main__":
    main()
