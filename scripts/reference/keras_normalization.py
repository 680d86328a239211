"""keras.layers.Normalization as the reference for layers.Normalization
and layers.Adapt: stdin {"data": [...], "features": F, "x": [...]},
stdout {"mean", "variance" (adapt's weights), "y" (the layer on x),
"inverted" (an invert=True layer with the same statistics on x)}."""
import json
import sys

import numpy as np
import keras

req = json.load(sys.stdin)
f = req["features"]
data = np.array(req["data"], dtype=np.float32).reshape(-1, f)
x = np.array(req["x"], dtype=np.float32).reshape(-1, f)
layer = keras.layers.Normalization(axis=-1)
layer.adapt(data)
mean, var = layer.get_weights()[:2]
inv = keras.layers.Normalization(axis=-1, mean=mean, variance=var, invert=True)
json.dump({"mean": mean.astype(float).tolist(), "variance": var.astype(float).tolist(),
           "y": np.asarray(layer(x)).ravel().astype(float).tolist(),
           "inverted": np.asarray(inv(x)).ravel().astype(float).tolist()}, sys.stdout)
