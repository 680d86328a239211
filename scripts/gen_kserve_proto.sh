#!/usr/bin/env bash
# Regenerates serving/kservepb (the KServe v2 / Open Inference Protocol
# messages and the inference.GRPCInferenceService stubs) from the
# descriptors that the pinned tritonclient wheel in .venv ships
# (tritonclient/grpc/service_pb2.py and model_config_pb2.py). A developer's
# tool: the output is committed, and nothing runs this at build or test
# time. Idempotent: a second run changes no file.
#
# Needs protoc and the pinned Go plugins: see scripts/protoc_tools.sh.
#
# The wheel's files have no go_package and sit at the root of the proto
# path (grpc_service.proto, model_config.proto); both are mapped onto
# serving/kservepb, package kservepb.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME=gen_kserve_proto
# shellcheck source=scripts/protoc_tools.sh
source "$ROOT/scripts/protoc_tools.sh"
OUT_DIR=serving/kservepb
OUT_PKG="$MODULE/$OUT_DIR"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# 1. The descriptors the wheel was built from, dependencies first.
"$PY" "$ROOT/scripts/kserve_descriptors.py" "$TMP/kserve.pb" >"$TMP/files.txt"

# 2. Every file into the one package.
MOPTS=()
GEN_FILES=()
while IFS= read -r f; do
	MOPTS+=("M$f=$OUT_PKG;${OUT_PKG##*/}")
	GEN_FILES+=("$f")
done <"$TMP/files.txt"
GO_OPT="$(IFS=,; echo "module=$MODULE,${MOPTS[*]}")"

# 3. Generate into a scratch tree, then replace the committed *.pb.go files.
mkdir -p "$TMP/out"
"$PROTOC" --descriptor_set_in="$TMP/kserve.pb" \
	--plugin=protoc-gen-go="$GEN_GO" --plugin=protoc-gen-go-grpc="$GEN_GRPC" \
	--go_out="$TMP/out" --go_opt="$GO_OPT" \
	--go-grpc_out="$TMP/out" --go-grpc_opt="$GO_OPT" \
	"${GEN_FILES[@]}"

[[ -d "$TMP/out/$OUT_DIR" ]] || die "protoc wrote nothing into $OUT_DIR"
mkdir -p "$ROOT/$OUT_DIR"
find "$ROOT/$OUT_DIR" -maxdepth 1 -name '*.pb.go' -delete
cp "$TMP/out/$OUT_DIR"/*.pb.go "$ROOT/$OUT_DIR/"
say "$OUT_DIR: $(find "$TMP/out/$OUT_DIR" -maxdepth 1 -name '*.pb.go' | wc -l) files"
