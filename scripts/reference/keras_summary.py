"""Reference: what Keras reports for the course's models.

Prints {model: {"layers": [{"name", "type", "shape", "params"}...],
"total": n}} for the models built by scripts/keras_reference.py (the
functional ones without their InputLayer).
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import keras  # noqa: E402
from keras_reference import build  # noqa: E402


def main():
    out = {}
    for name in ("perceptron", "mlp", "cnn", "resnet", "lstm"):
        keras.backend.clear_session()  # restart Keras's layer-name counters
        model = build(name)
        out[name] = {
            "layers": [{"name": l.name, "type": type(l).__name__, "shape": list(l.output.shape)[1:],
                        "params": l.count_params()} for l in model.layers
                       if not isinstance(l, keras.layers.InputLayer)],
            "total": model.count_params(),
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
