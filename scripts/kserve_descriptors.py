"""Write the FileDescriptorSet of the KServe v2 (Open Inference Protocol) gRPC API, as the pinned tritonclient wheel ships it.

Usage: python scripts/kserve_descriptors.py OUT.pb

The tritonclient wheel carries no .proto files, only *_pb2.py modules whose
serialized FileDescriptorProtos are exactly what protoc saw: grpc_service.proto
(package inference: GRPCInferenceService and its messages) and
model_config.proto, which it imports. This writes both, dependencies first,
as one FileDescriptorSet for `protoc --descriptor_set_in=OUT.pb`, and prints
the file names it wrote, one a line, to stdout.

Used by scripts/gen_kserve_proto.sh; nothing runs it at build or test time.
"""

import os
import sys

from tritonclient.grpc import service_pb2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import descriptor_set  # noqa: E402


def main(argv):
    return descriptor_set.main(argv, __doc__, lambda: [service_pb2.DESCRIPTOR])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
