"""Writes tiny.keras, the model ExampleLoad reads: Keras 3 Sequential,
3 inputs -> Dense(4, relu) -> Dense(2, softmax), with weights set by hand.
Run from this folder with the project's .venv: python make_tiny.py"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
import numpy as np

m = keras.Sequential([keras.Input((3,), name="features"),
                      keras.layers.Dense(4, activation="relu", name="hidden"),
                      keras.layers.Dense(2, activation="softmax", name="probs")], name="tiny")
m.set_weights([np.arange(12, dtype=np.float32).reshape(3, 4) / 10 - 0.5, np.array([0.1, 0, -0.1, 0.2], np.float32),
               np.arange(8, dtype=np.float32).reshape(4, 2) / 5 - 0.7, np.array([0.05, -0.05], np.float32)])
m.save("tiny.keras")
print(m.predict(np.array([[1, 2, 3]], np.float32), verbose=0))
