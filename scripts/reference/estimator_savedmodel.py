"""Reference: an Estimator-style SavedModel with TF Serving's classify and
regress signatures, and what its signatures answer, run directly in TF.

Reads {"dir": DIR, "cases": {NAME: {"context"?: EX, "examples": [EX, ...]}}}
where EX is {feature: {"float" | "int64" | "bytes": [values]}} (bytes as
UTF-8 strings). Writes, in tf.compat.v1 graph mode, a SavedModel to DIR
whose graph parses serialized tf.Examples (tf.io.parse_example on a string
placeholder) with features

    x:   float32 [2]
    k:   int64 [1], default 0
    tag: string [], default ""

and computes logits = x·W + k·v + (tag == "hi")·u + b with fixed weights.
Signatures (method names from tf.compat.v1.saved_model's builders):

    serving_default, classify: classify, classes ["cat","dog","owl"] and
                               scores softmax(logits), both [batch, 3]
    classify_scores:           classify, scores only
    classify_classes:          classify, classes only
    classify_bad:              classify, classes of batch 1 whatever the input
    regress:                   regress, outputs = logits[:, :1] ([batch, 1])
    regress_bad:               regress, outputs = logits[:, :2] ([batch, 2])
    predict:                   predict, inputs {"inputs"}, outputs {"scores"}

For each case it builds each Example, merges the context into it as TF
Serving documents (the example's features win; here with
Example.MergeFrom, independently of how the server concatenates bytes), and
prints {NAME: {"classes": [[...]], "scores": [[...]], "outputs": [...]}}
computed by loading DIR and running the signatures' tensors in a session.
"""
import json
import sys

import numpy as np
import tensorflow as tf

from tensorflow.core.example import example_pb2

v1 = tf.compat.v1
LABELS = [b"cat", b"dog", b"owl"]


def build(export_dir):
    graph = tf.Graph()
    with graph.as_default():
        serialized = v1.placeholder(tf.string, shape=[None], name="tf_example")
        feats = tf.io.parse_example(serialized, {
            "x": tf.io.FixedLenFeature([2], tf.float32),
            "k": tf.io.FixedLenFeature([1], tf.int64, default_value=[0]),
            "tag": tf.io.FixedLenFeature([], tf.string, default_value=""),
        })
        w = tf.constant([[0.5, -1.0, 0.25], [1.5, 0.75, -0.5]], tf.float32)
        v = tf.constant([[0.2, -0.3, 0.1]], tf.float32)
        u = tf.constant([[-0.4, 0.6, 0.9]], tf.float32)
        b = tf.constant([0.1, -0.2, 0.05], tf.float32)
        k = tf.cast(feats["k"], tf.float32)
        hi = tf.cast(tf.equal(feats["tag"], "hi"), tf.float32)[:, None]
        logits = tf.matmul(feats["x"], w) + k * v + hi * u + b
        scores = tf.nn.softmax(logits, name="scores")
        batch = tf.shape(serialized)[0]
        classes = tf.tile(tf.constant([LABELS]), [batch, 1], name="classes")
        one_row = tf.constant([LABELS], name="one_row")
        sig = v1.saved_model.signature_def_utils
        cls = sig.classification_signature_def(serialized, classes, scores)
        sigs = {
            "serving_default": cls,
            "classify": cls,
            "classify_scores": sig.classification_signature_def(serialized, None, scores),
            "classify_classes": sig.classification_signature_def(serialized, classes, None),
            "classify_bad": sig.classification_signature_def(serialized, one_row, None),
            "regress": sig.regression_signature_def(serialized, logits[:, :1]),
            "regress_bad": sig.regression_signature_def(serialized, logits[:, :2]),
            "predict": sig.predict_signature_def({"inputs": serialized}, {"scores": scores}),
        }
        with v1.Session(graph=graph) as sess:
            builder = v1.saved_model.Builder(export_dir)
            builder.add_meta_graph_and_variables(sess, [v1.saved_model.tag_constants.SERVING],
                                                 signature_def_map=sigs)
            builder.save()


def example(spec):
    ex = example_pb2.Example()
    for name, f in (spec or {}).items():
        feat = ex.features.feature[name]
        if "float" in f:
            feat.float_list.value.extend(f["float"])
        elif "int64" in f:
            feat.int64_list.value.extend(f["int64"])
        else:
            feat.bytes_list.value.extend(s.encode() for s in f["bytes"])
    return ex


def serialize(case):
    out = []
    for spec in case["examples"]:
        ex = example(case.get("context"))
        ex.MergeFrom(example(spec))
        out.append(ex.SerializeToString())
    return out


def main():
    cfg = json.load(sys.stdin)
    build(cfg["dir"])
    results = {}
    with v1.Session(graph=tf.Graph()) as sess:
        meta = v1.saved_model.load(sess, ["serve"], cfg["dir"])
        defs = meta.signature_def

        def run(key, out, batch):
            name = defs[key].inputs["inputs"].name
            return sess.run(defs[key].outputs[out].name, {name: batch})

        for case_name, case in cfg["cases"].items():
            batch = serialize(case)
            results[case_name] = {
                "classes": [[c.decode() for c in row] for row in run("classify", "classes", batch)],
                "scores": run("classify", "scores", batch).tolist(),
                "outputs": run("regress", "outputs", batch).ravel().tolist(),
            }
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
