"""Reference: the JSON TF Serving's REST API answers for a model's status
and metadata, made the way its http_rest_api_handler.cc makes it: the
GetModelStatusResponse / GetModelMetadataResponse protos (metadata holding
the SavedModel's own signature_def map, copied from its MetaGraphDef,
packed in an Any) printed with protobuf's JSON printer, proto field names
kept and fields without presence always printed.

Reads {"dir": SavedModel folder, "name", "version"}; prints
{"status": ..., "metadata": ...}.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from google.protobuf import json_format  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2  # noqa: E402


def to_json(msg):
    return json.loads(json_format.MessageToJson(msg, preserving_proto_field_name=True,
                                                always_print_fields_with_no_presence=True))


def main():
    cfg = json.load(sys.stdin)
    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(cfg["dir"], "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    mg = next(m for m in sm.meta_graphs if "serve" in m.meta_info_def.tags)

    sigs = get_model_metadata_pb2.SignatureDefMap()
    for k, v in mg.signature_def.items():
        sigs.signature_def[k].CopyFrom(v)
    meta = get_model_metadata_pb2.GetModelMetadataResponse()
    meta.model_spec.name = cfg["name"]
    meta.model_spec.version.value = cfg["version"]
    meta.metadata["signature_def"].Pack(sigs)

    status = get_model_status_pb2.GetModelStatusResponse()
    s = status.model_version_status.add()
    s.version = cfg["version"]
    s.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    s.status.SetInParent()

    json.dump({"status": to_json(status), "metadata": to_json(meta)}, sys.stdout)


if __name__ == "__main__":
    main()
