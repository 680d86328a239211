"""Reference: TF Serving's own Python client (tensorflow-serving-api) against
the gRPC ModelService and, by version label, the PredictionService.

Reads {"address", "calls": [...]} where each call is one of
  {"op": "status", "model", "version"?, "label"?}
  {"op": "predict", "model", "version"?, "label"?, "input", "x": {"shape", "data"}}
  {"op": "reload", "config": TEXT}   (a ModelServerConfig in text format)
and prints [{"code": "OK" | gRPC code name, "message", "result"}], one per
call, in order: status gives [{"version", "state", "error_code"}], predict
gives {"version", "outputs": {name: flat list}}, reload gives its status.
"""
import json
import sys

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import (get_model_status_pb2, model_management_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc)
from tensorflow_serving.config import model_server_config_pb2


def spec(msg, call):
    msg.name = call["model"]
    if "version" in call:
        msg.version.value = call["version"]
    if "label" in call:
        msg.version_label = call["label"]


def run(models, predictions, call):
    op = call["op"]
    if op == "status":
        req = get_model_status_pb2.GetModelStatusRequest()
        spec(req.model_spec, call)
        resp = models.GetModelStatus(req, timeout=60)
        return [{"version": s.version, "state": get_model_status_pb2.ModelVersionStatus.State.Name(s.state),
                 "error_code": s.status.error_code} for s in resp.model_version_status]
    if op == "predict":
        req = predict_pb2.PredictRequest()
        spec(req.model_spec, call)
        x = np.asarray(call["x"]["data"], dtype=np.float32).reshape(call["x"]["shape"])
        req.inputs[call["input"]].CopyFrom(tf.make_tensor_proto(x))
        resp = predictions.Predict(req, timeout=60)
        return {"version": resp.model_spec.version.value,
                "outputs": {k: tf.make_ndarray(v).ravel().tolist() for k, v in resp.outputs.items()}}
    if op == "reload":
        req = model_management_pb2.ReloadConfigRequest()
        text_format.Parse(call["config"], req.config, allow_unknown_field=False)
        resp = models.HandleReloadConfigRequest(req, timeout=120)
        return {"error_code": resp.status.error_code, "error_message": resp.status.error_message}
    raise ValueError(f"unknown op {op!r}")


def main():
    cfg = json.load(sys.stdin)
    channel = grpc.insecure_channel(cfg["address"])
    models = model_service_pb2_grpc.ModelServiceStub(channel)
    predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    out = []
    for call in cfg["calls"]:
        try:
            out.append({"code": "OK", "message": "", "result": run(models, predictions, call)})
        except grpc.RpcError as e:
            out.append({"code": e.code().name, "message": e.details(), "result": None})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
