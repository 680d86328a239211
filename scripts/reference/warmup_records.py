"""Reference: TF Serving's warm-up file, written and read the way its guide
(saved_model_warmup.md) does, with tensorflow-serving-api's PredictionLog
and TensorFlow's TFRecord reader and writer.

Reads {"op": "write", "files": [{"path", "signature", "requests": [R]}]} and
writes each file, one PredictionLog record per request R: {name: {"shape",
"data"}} is a PredictLog (float32 inputs); {"kind": "classify" | "regress" |
"multi", "signature" (for multi: "tasks": [[signature, kind]]), "examples":
[{feature: {"float" | "int64" | "bytes": [values]}}]} a ClassifyLog,
RegressLog or MultiInferenceLog; or
{"op": "read", "path"} and prints [{"signature", "inputs": {name: {"shape",
"data"}}}], one per record, after TensorFlow has checked every checksum.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import (classification_pb2, inference_pb2, input_pb2, model_pb2,  # noqa: E402
                                     predict_pb2, prediction_log_pb2, regression_pb2)

METHODS = {"classify": "tensorflow/serving/classify", "regress": "tensorflow/serving/regress"}


def example_input(examples):
    inp = input_pb2.Input()
    for ex in examples:
        e = inp.example_list.examples.add()
        for name, f in ex.items():
            if "float" in f:
                e.features.feature[name].float_list.value.extend(f["float"])
            elif "int64" in f:
                e.features.feature[name].int64_list.value.extend(f["int64"])
            else:
                e.features.feature[name].bytes_list.value.extend(v.encode() for v in f["bytes"])
    return inp


def record(r, signature):
    kind = r.get("kind", "predict")
    if kind == "classify":
        req = classification_pb2.ClassificationRequest(input=example_input(r["examples"]))
        req.model_spec.signature_name = r["signature"]
        return prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog(request=req))
    if kind == "regress":
        req = regression_pb2.RegressionRequest(input=example_input(r["examples"]))
        req.model_spec.signature_name = r["signature"]
        return prediction_log_pb2.PredictionLog(regress_log=prediction_log_pb2.RegressLog(request=req))
    if kind == "multi":
        req = inference_pb2.MultiInferenceRequest(input=example_input(r["examples"]))
        for sig, k in r["tasks"]:
            t = req.tasks.add()
            t.model_spec.name = "m"
            t.model_spec.signature_name = sig
            t.method_name = METHODS[k]
        return prediction_log_pb2.PredictionLog(multi_inference_log=prediction_log_pb2.MultiInferenceLog(request=req))
    req = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=signature))
    for name, t in r.items():
        x = np.asarray(t["data"], dtype=np.float32).reshape(t["shape"])
        req.inputs[name].CopyFrom(tf.make_tensor_proto(x))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=req))


def main():
    cfg = json.load(sys.stdin)
    if cfg["op"] == "write":
        for f in cfg["files"]:
            os.makedirs(os.path.dirname(f["path"]), exist_ok=True)
            with tf.io.TFRecordWriter(f["path"]) as w:
                for r in f["requests"]:
                    w.write(record(r, f["signature"]).SerializeToString())
        json.dump({"ok": True}, sys.stdout)
        return
    out = []
    for raw in tf.data.TFRecordDataset(cfg["path"]):
        log = prediction_log_pb2.PredictionLog.FromString(raw.numpy())
        req = log.predict_log.request
        ins = {}
        for name, tp in req.inputs.items():
            a = tf.make_ndarray(tp)
            ins[name] = {"shape": list(a.shape), "data": a.ravel().tolist(), "dtype": tf.as_dtype(a.dtype).name}
        out.append({"signature": req.model_spec.signature_name, "inputs": ins})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
