"""Reference: Keras functional models built as models/functional_test.go
builds them in Go, by name, with Go's weights (by "layer/weight" name).

Reads {"cases": [{"name", "weights": {name: tensor}, "x": [tensor...],
"y": [tensor...]}]} on stdin and prints, per case: the inference outputs,
the training-mode total loss and its gradients (by weight name), the logs
of fit() for one epoch of one batch of SGD(0.1) without shuffling, the
weights after it, and the summary's "name (Type)" and "Connected to"
cells, and the weights' names in get_weights order.
"""
import json
import sys

import numpy as np
import tensorflow as tf
import keras
from keras import layers as L


def two_in_two_out():
    a, b = keras.Input((6,), name="a"), keras.Input((4,), name="b")
    shared = L.Dense(5, activation="tanh", name="shared")
    sa = shared(a)
    sb = shared(L.Dense(6, name="proj")(b))
    x = L.Add()([sa, sb])
    x = L.Concatenate(axis=-1)([x, b])
    trunk = L.Dense(8, activation="relu", name="trunk")(x)
    cls = L.Dense(3, activation="softmax", name="cls")(trunk)
    gate = L.Dense(8, activation="sigmoid", name="gate")(a)
    reg = L.Dense(1, name="reg")(L.Multiply()([trunk, gate]))
    m = keras.Model([a, b], [cls, reg], name="two_in_two_out")
    m.compile(optimizer=keras.optimizers.SGD(0.1),
              loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
              loss_weights={"cls": 1.0, "reg": 0.5},
              metrics={"cls": ["accuracy"], "reg": ["mae"]})
    return m


def nested():
    e = keras.Input((6,), name="e")
    h = L.Dense(4, activation="relu", name="enc_hidden")(e)
    enc = keras.Model(e, L.Dense(3, name="enc_out")(h), name="encoder")
    x, y = keras.Input((6,), name="x"), keras.Input((6,), name="y")
    joined = L.Concatenate(axis=-1)([enc(x), enc(y)])
    out = L.Dense(2, activation="softmax", name="head")(joined)
    m = keras.Model([x, y], out, name="nested")
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def residual():
    i = keras.Input((6, 6, 2), name="image")
    x = L.Conv2D(3, 3, padding="same", name="c1")(i)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.Activation("relu", name="relu1")(x)
    x = L.Conv2D(3, 3, padding="same", name="c2")(x)
    skip = L.Conv2D(3, 1, name="proj")(i)
    x = L.Add(name="add")([x, skip])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(3, activation="softmax", name="out")(x)
    m = keras.Model(i, out, name="residual")
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def masked_lstm_states():
    ids = keras.Input((5,), name="ids")
    x = L.Embedding(9, 4, mask_zero=True, name="emb")(ids)
    x = L.LSTM(3, return_sequences=True, name="lstm1")(x)
    out, h, c = L.LSTM(2, return_state=True, name="lstm2")(x)
    joined = L.Concatenate(axis=-1)([out, c])
    out = L.Dense(2, name="out")(joined)
    m = keras.Model(ids, out, name="masked_lstm_states")
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return m


def _masked_merge(name, merge):
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    ea = L.Embedding(9, 4, mask_zero=True, name="emb_a")(a)
    eb = L.Embedding(9, 4, mask_zero=True, name="emb_b")(b)
    x = merge([ea, eb])
    x = L.LSTM(2, name="lstm")(x)
    out = L.Dense(2, name="out")(x)
    m = keras.Model([a, b], out, name=name)
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return m


def masked_add():
    return _masked_merge("masked_add", L.Add(name="merge"))


def masked_multiply():
    return _masked_merge("masked_multiply", L.Multiply(name="merge"))


def masked_concatenate():
    return _masked_merge("masked_concatenate", L.Concatenate(axis=-1, name="merge"))


BUILD = {f.__name__: f for f in (two_in_two_out, nested, residual, masked_lstm_states,
                                 masked_add, masked_multiply, masked_concatenate)}


def named_weights(model, prefix=""):
    """Pairs "scope/layer/weight" names, as Go names its variables, with
    the model's variables."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out += named_weights(layer, prefix + layer.name + "/")
            continue
        for w in layer.weights:
            out.append((prefix + layer.name + "/" + w.name, w))
    return out


def tensor(spec):
    dtype = np.int32 if spec.get("int") else np.float32
    return np.asarray(spec["data"], dtype=dtype).reshape(spec["shape"])


def run(case):
    model = BUILD[case["name"]]()
    named = named_weights(model)
    for name, w in named:
        w.assign(tensor(case["weights"][name]))
    xs = [tensor(x) for x in case["x"]]
    ys = [tensor(y) for y in case["y"]]
    pred = model(xs, training=False)
    if not isinstance(pred, (list, tuple)):
        pred = [pred]
    trainable = {id(w): name for name, w in named if w.trainable}
    with tf.GradientTape() as tape:
        out = model(xs, training=True)
        if not isinstance(out, (list, tuple)):
            out = [out]
        total = model.compute_loss(x=xs, y=ys if len(ys) > 1 else ys[0], y_pred=out if len(out) > 1 else out[0])
    grads = tape.gradient(total, model.trainable_weights)
    g = {trainable[id(w)]: np.asarray(tf.convert_to_tensor(d)).ravel().tolist() for w, d in zip(model.trainable_weights, grads)}
    # The training-mode call above moved BatchNormalization's statistics;
    # fit starts from the weights Go starts from.
    for name, w in named:
        w.assign(tensor(case["weights"][name]))
    hist = model.fit(xs, ys if len(ys) > 1 else ys[0], batch_size=len(xs[0]), epochs=1, shuffle=False, verbose=0)
    logs = {k: float(v[0]) for k, v in hist.history.items()}
    if "compile_metrics" in logs:
        del logs["compile_metrics"]
    summary = []
    for layer in model.layers:
        summary.append(f"{layer.name} ({layer.__class__.__name__ if not isinstance(layer, keras.Model) else 'Functional'})")
    return {
        "pred": [np.asarray(p).ravel().tolist() for p in pred],
        "loss": float(total),
        "grads": g,
        "logs": logs,
        "after": {name: w.numpy().ravel().tolist() for name, w in named},
        "summary": summary,
        "order": [name for name, _ in named],
    }


def main():
    cfg = json.load(sys.stdin)
    json.dump({c["name"]: run(c) for c in cfg["cases"]}, sys.stdout)


if __name__ == "__main__":
    main()
