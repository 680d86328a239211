"""Write the FileDescriptorSet of TF Serving's APIs, as the pinned wheel ships them.

Usage: python scripts/tfserving_descriptors.py OUT.pb

The tensorflow-serving-api wheel carries no .proto files, only *_pb2.py
modules whose serialized FileDescriptorProtos are exactly what protoc saw.
This imports every module under tensorflow_serving.apis, walks their
imports transitively (tensorflow_serving/config, TensorFlow's own protos,
google/protobuf), and writes one
FileDescriptorSet holding each reachable file once, dependencies first, so
`protoc --descriptor_set_in=OUT.pb` can generate code from it. It prints the
file names it wrote, one a line, to stdout.

Used by scripts/gen_tfserving_proto.sh; nothing runs it at build or test time.
"""

import importlib
import os
import pkgutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import descriptor_set  # noqa: E402

PACKAGE = "tensorflow_serving.apis"


def serving_modules():
    """Yields every *_pb2 module of tensorflow_serving.apis, imported."""
    pkg = importlib.import_module(PACKAGE)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.endswith("_pb2"):
            yield importlib.import_module(f"{PACKAGE}.{info.name}")


def main(argv):
    return descriptor_set.main(argv, __doc__, lambda: [m.DESCRIPTOR for m in serving_modules()])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
