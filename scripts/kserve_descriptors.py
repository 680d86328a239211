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

import sys

from google.protobuf import descriptor_pb2
from tritonclient.grpc import service_pb2


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    ordered = []  # dependencies before dependants, each file once
    seen = set()

    def visit(fd):
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            visit(dep)
        ordered.append(fd)

    visit(service_pb2.DESCRIPTOR)
    out = descriptor_pb2.FileDescriptorSet()
    for fd in ordered:
        fd.CopyToProto(out.file.add())
    with open(argv[1], "wb") as f:
        f.write(out.SerializeToString(deterministic=True))
    for fd in ordered:
        print(fd.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
