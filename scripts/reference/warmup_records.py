"""Reference: TF Serving's warm-up file, written and read the way its guide
(saved_model_warmup.md) does, with tensorflow-serving-api's PredictionLog
and TensorFlow's TFRecord reader and writer.

Reads {"op": "write", "files": [{"path", "signature", "requests": [{name:
{"shape", "data"}}]}]} and writes each file, one PredictLog record per
request (float32 inputs); or
{"op": "read", "path"} and prints [{"signature", "inputs": {name: {"shape",
"data"}}}], one per record, after TensorFlow has checked every checksum.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2  # noqa: E402


def main():
    cfg = json.load(sys.stdin)
    if cfg["op"] == "write":
        for f in cfg["files"]:
            os.makedirs(os.path.dirname(f["path"]), exist_ok=True)
            with tf.io.TFRecordWriter(f["path"]) as w:
                for r in f["requests"]:
                    req = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=f["signature"]))
                    for name, t in r.items():
                        x = np.asarray(t["data"], dtype=np.float32).reshape(t["shape"])
                        req.inputs[name].CopyFrom(tf.make_tensor_proto(x))
                    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=req))
                    w.write(log.SerializeToString())
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
