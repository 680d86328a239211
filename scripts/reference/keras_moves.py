"""keras.layers.RandomRotation and RandomZoom with a fixed move (lower ==
upper) as the reference for layers.RandomRotation and layers.RandomZoom:
stdin {"layer": "rotation" | "zoom", "x": [...], "shape": [n, h, w, c],
"factor": [lo, hi] (rotation), "height": [lo, hi], "width": [lo, hi] or
null (zoom), "fill_mode", "interpolation", "fill_value"}, stdout
{"y": [...]} (training=True)."""
import json
import sys

import numpy as np
import keras

req = json.load(sys.stdin)
x = np.array(req["x"], dtype=np.float32).reshape(req["shape"])
common = dict(fill_mode=req["fill_mode"], interpolation=req["interpolation"],
              fill_value=req["fill_value"], seed=1)
if req["layer"] == "rotation":
    layer = keras.layers.RandomRotation(factor=tuple(req["factor"]), **common)
else:
    width = tuple(req["width"]) if req["width"] is not None else None
    layer = keras.layers.RandomZoom(height_factor=tuple(req["height"]), width_factor=width, **common)
y = np.asarray(layer(x, training=True))
json.dump({"y": y.ravel().astype(float).tolist()}, sys.stdout)
