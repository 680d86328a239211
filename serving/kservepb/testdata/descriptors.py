"""Prints, as JSON {path: base64}, the serialized FileDescriptorProtos of
the KServe v2 gRPC API that the pinned tritonclient wheel ships: what
kservepb was generated from. Run by kservepb_test.go.
"""
import base64
import json
import sys

from tritonclient.grpc import model_config_pb2, service_pb2

json.dump({m.DESCRIPTOR.name: base64.b64encode(m.DESCRIPTOR.serialized_pb).decode()
           for m in (service_pb2, model_config_pb2)}, sys.stdout)
