"""Reference: TF Serving's own Python client (tensorflow-serving-api) against
a gRPC PredictionService.

Reads {"address", "model", "signature", "input", "x": {"shape", "data"}}
and prints {"outputs": {name: {"shape", "data"}}, "version": n,
"signatures": {key: {"inputs": {...}, "outputs": {...}}}, "errors": {...}}:
a Predict, a GetModelMetadata, and the status codes of a few bad requests.
"""
import json
import sys

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc


def main():
    cfg = json.load(sys.stdin)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(cfg["address"]))
    x = np.asarray(cfg["x"]["data"], dtype=np.float32).reshape(cfg["x"]["shape"])

    req = predict_pb2.PredictRequest()
    req.model_spec.name = cfg["model"]
    req.model_spec.signature_name = cfg["signature"]
    req.inputs[cfg["input"]].CopyFrom(tf.make_tensor_proto(x))
    resp = stub.Predict(req, timeout=30)
    outputs = {k: {"shape": list(tf.make_ndarray(v).shape), "data": tf.make_ndarray(v).ravel().tolist()}
               for k, v in resp.outputs.items()}

    mreq = get_model_metadata_pb2.GetModelMetadataRequest()
    mreq.model_spec.name = cfg["model"]
    mreq.metadata_field.append("signature_def")
    mresp = stub.GetModelMetadata(mreq, timeout=30)
    sigmap = get_model_metadata_pb2.SignatureDefMap()
    mresp.metadata["signature_def"].Unpack(sigmap)
    sigs = {k: {"inputs": {n: [d.size for d in t.tensor_shape.dim] for n, t in v.inputs.items()},
                "outputs": sorted(v.outputs)} for k, v in sigmap.signature_def.items()}

    errors = {}
    bad = {
        "unknown_model": ("nope", cfg["input"], x),
        "misspelt_input": (cfg["model"], cfg["input"] + "x", x),
        "wrong_shape": (cfg["model"], cfg["input"], x[..., :1]),
        "wrong_dtype": (cfg["model"], cfg["input"], x.astype(np.int32)),
    }
    for case, (model, name, value) in bad.items():
        r = predict_pb2.PredictRequest()
        r.model_spec.name = model
        r.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        try:
            stub.Predict(r, timeout=30)
            errors[case] = "OK"
        except grpc.RpcError as e:
            errors[case] = e.code().name
    json.dump({"outputs": outputs, "version": resp.model_spec.version.value, "signatures": sigs, "errors": errors},
              sys.stdout)


if __name__ == "__main__":
    main()
