"""keras.layers.RandomTranslation with a fixed move (lower == upper) as the
reference for layers.RandomTranslation: stdin {"x": [...], "shape":
[n, h, w, c], "height": [lo, hi], "width": [lo, hi], "fill_mode",
"interpolation", "fill_value"}, stdout {"y": [...]} (training=True)."""
import json
import sys

import numpy as np
import keras

req = json.load(sys.stdin)
x = np.array(req["x"], dtype=np.float32).reshape(req["shape"])
layer = keras.layers.RandomTranslation(
    height_factor=tuple(req["height"]), width_factor=tuple(req["width"]),
    fill_mode=req["fill_mode"], interpolation=req["interpolation"],
    fill_value=req["fill_value"], seed=1)
y = np.asarray(layer(x, training=True))
json.dump({"y": y.ravel().astype(float).tolist()}, sys.stdout)
