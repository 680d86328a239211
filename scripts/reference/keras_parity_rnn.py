"""Reference: Keras outputs and gradients for models with recurrent layers.

Reads JSON on stdin: {"cases": [...], "states": [...]}. "cases" are as
keras_parity.py's (a Sequential model, weights, x, y, loss) and may use the
layer specs LSTM, GRU ({"units", "return_sequences", "return_state"}),
Bidirectional ({"layer": spec}) and Embedding with "mask_zero"; each gives
{"pred", "loss", "grads", "moving"} as there. "states" are single layers
called in a functional model on {"input", "layer", "weights", "x"}; each
gives {"outputs": [[...]...]}: every output of the layer (output, then the
states with return_state), flattened. Prints {name: result}.
"""
import json
import sys

import numpy as np
import keras

import keras_parity

_base_layer = keras_parity.layer


def layer(spec):
    t = spec["type"]
    if t in ("LSTM", "GRU"):
        return getattr(keras.layers, t)(spec["units"], return_sequences=spec.get("return_sequences", False),
                                        return_state=spec.get("return_state", False))
    if t == "Bidirectional":
        return keras.layers.Bidirectional(layer(spec["layer"]))
    if t == "Embedding" and spec.get("mask_zero"):
        return keras.layers.Embedding(spec["input_dim"], spec["output_dim"], mask_zero=True)
    return _base_layer(spec)


keras_parity.layer = layer


def states(case):
    inp = keras.Input(shape=tuple(case["input"]))
    outs = layer(case["layer"])(inp)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    model = keras.Model(inp, list(outs))
    model.set_weights([keras_parity.tensor(w) for w in case["weights"]])
    got = model(keras_parity.tensor(case["x"]), training=False)
    if not isinstance(got, (list, tuple)):
        got = [got]
    return {"outputs": [np.asarray(o).ravel().tolist() for o in got]}


def main():
    cfg = json.load(sys.stdin)
    out = {c["name"]: keras_parity.run(c) for c in cfg.get("cases", [])}
    out.update({c["name"]: states(c) for c in cfg.get("states", [])})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
