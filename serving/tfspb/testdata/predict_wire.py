"""The Python half of tfspb's wire test: TF Serving's own predict_pb2.

Reads JSON on stdin:
  {"request": base64 of a PredictRequest that Go marshalled,
   "response": {"model_spec": {...}, "outputs": {name: tensor}}}
and writes JSON on stdout:
  {"request": the parsed request's fields, in the same shape as "response",
   "unknown_fields": how many fields, at any depth, Python did not know,
   "response": base64 of a PredictResponse built from "response"}
A tensor is {"dtype": int, "shape": [int], "float_val": [float]}.
"""

import base64
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

from google.protobuf import unknown_fields  # noqa: E402
from tensorflow_serving.apis import predict_pb2  # noqa: E402


def count_unknown(msg):
    n = len(unknown_fields.UnknownFieldSet(msg))
    for fd, value in msg.ListFields():
        if fd.message_type is None:
            continue
        if fd.message_type.GetOptions().map_entry:
            if fd.message_type.fields_by_name["value"].message_type is None:
                continue
            items = value.values()
        elif fd.is_repeated:
            items = value
        else:
            items = [value]
        n += sum(count_unknown(m) for m in items)
    return n


def spec_to_json(spec):
    out = {"name": spec.name, "signature_name": spec.signature_name}
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        out["version"] = spec.version.value
    elif choice == "version_label":
        out["version_label"] = spec.version_label
    return out


def tensor_to_json(t):
    return {
        "dtype": int(t.dtype),
        "shape": [d.size for d in t.tensor_shape.dim],
        "float_val": list(t.float_val),
    }


def fill_spec(spec, j):
    spec.name = j["name"]
    spec.signature_name = j.get("signature_name", "")
    if "version" in j:
        spec.version.value = j["version"]


def fill_tensor(t, j):
    t.dtype = j["dtype"]
    for size in j["shape"]:
        t.tensor_shape.dim.add().size = size
    t.float_val.extend(j["float_val"])


def main():
    inp = json.load(sys.stdin)

    req = predict_pb2.PredictRequest()
    req.ParseFromString(base64.b64decode(inp["request"]))
    parsed = {
        "model_spec": spec_to_json(req.model_spec),
        "inputs": {k: tensor_to_json(v) for k, v in req.inputs.items()},
        "output_filter": list(req.output_filter),
    }

    resp = predict_pb2.PredictResponse()
    fill_spec(resp.model_spec, inp["response"]["model_spec"])
    for name, t in inp["response"]["outputs"].items():
        fill_tensor(resp.outputs[name], t)

    json.dump({
        "request": parsed,
        "unknown_fields": count_unknown(req),
        "response": base64.b64encode(resp.SerializeToString()).decode(),
    }, sys.stdout)


if __name__ == "__main__":
    main()
