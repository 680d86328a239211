"""Shared by scripts/tfserving_descriptors.py and scripts/kserve_descriptors.py:
write the FileDescriptorSet reachable from some files' descriptors.

A wheel that ships generated *_pb2.py modules but no .proto files still
carries, in each module, the serialized FileDescriptorProto protoc saw.
write_set walks the roots' imports transitively and writes one
FileDescriptorSet holding each reachable file once, dependencies first, so
`protoc --descriptor_set_in=OUT.pb` can generate code from it; it prints
the file names it wrote, one a line, to stdout.
"""

import sys

from google.protobuf import descriptor_pb2


def write_set(roots, path):
    ordered = []  # dependencies before dependants, each file once
    seen = set()

    def visit(fd):
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            visit(dep)
        ordered.append(fd)

    for fd in sorted(roots, key=lambda f: f.name):
        visit(fd)
    out = descriptor_pb2.FileDescriptorSet()
    for fd in ordered:
        fd.CopyToProto(out.file.add())
    with open(path, "wb") as f:
        f.write(out.SerializeToString(deterministic=True))
    for fd in ordered:
        print(fd.name)


def main(argv, doc, roots):
    """Runs a descriptors script: argv is [script, OUT.pb]; roots() gives
    the root descriptors."""
    if len(argv) != 2:
        print(doc.strip().splitlines()[2], file=sys.stderr)
        return 2
    write_set(roots(), argv[1])
    return 0
