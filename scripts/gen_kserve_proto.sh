#!/usr/bin/env bash
# Regenerates serving/kservepb (the KServe v2 / Open Inference Protocol
# messages and the inference.GRPCInferenceService stubs) from the
# descriptors that the pinned tritonclient wheel in .venv ships
# (tritonclient/grpc/service_pb2.py and model_config_pb2.py). A developer's
# tool: the output is committed, and nothing runs this at build or test
# time. Idempotent: a second run changes no file.
#
# Needs, besides `make setup` (the .venv with the pinned wheels):
#   protoc              apt-get install -y protobuf-compiler
#   protoc-gen-go       go install google.golang.org/protobuf/cmd/protoc-gen-go@<go.mod's google.golang.org/protobuf>
#   protoc-gen-go-grpc  go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
# The plugins are looked up on PATH, then in $GOBIN (default $(go env GOPATH)/bin).
#
# The wheel's files have no go_package and sit at the root of the proto
# path (grpc_service.proto, model_config.proto); both are mapped onto
# serving/kservepb, package kservepb.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE=github.com/tfgo-project/gotf
OUT_DIR=serving/kservepb
OUT_PKG="$MODULE/$OUT_DIR"
GRPC_PLUGIN_VERSION=1.6.0

say() { echo "gen_kserve_proto: $*" >&2; }
die() { echo "gen_kserve_proto: error: $*" >&2; exit 1; }

cd "$ROOT"
[[ -f .tf/env.sh ]] || die "no .tf/env.sh; run \`make setup\` first"
# shellcheck disable=SC1091
source .tf/env.sh
PY="${GOTF_PYTHON:-$ROOT/.venv/bin/python}"
[[ -x "$PY" ]] || die "no Python at $PY; run \`make setup\` first"
command -v go >/dev/null || die "no go on PATH; install Go 1.26"

PROTOBUF_VERSION="$(go list -m -f '{{.Version}}' google.golang.org/protobuf)"
GOBIN_DIR="$(go env GOBIN)"
GOBIN_DIR="${GOBIN_DIR:-$(go env GOPATH)/bin}"

find_tool() { # name install-hint
	local p
	if p="$(command -v "$1")"; then echo "$p"; return; fi
	if [[ -x "$GOBIN_DIR/$1" ]]; then echo "$GOBIN_DIR/$1"; return; fi
	die "no $1 on PATH or in $GOBIN_DIR; install it with: $2"
}
PROTOC="$(find_tool protoc 'apt-get install -y protobuf-compiler')"
GEN_GO="$(find_tool protoc-gen-go "GOBIN=/tmp/protoc-bin go install google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOBUF_VERSION (then put /tmp/protoc-bin on PATH)")"
GEN_GRPC="$(find_tool protoc-gen-go-grpc "GOBIN=/tmp/protoc-bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v$GRPC_PLUGIN_VERSION (then put /tmp/protoc-bin on PATH)")"

# Pinned plugin versions: they are written into every generated file's header.
v="$("$GEN_GO" --version | awk '{print $2}')"
[[ "$v" == "$PROTOBUF_VERSION" ]] || die "$GEN_GO is $v, go.mod has google.golang.org/protobuf $PROTOBUF_VERSION; install: go install google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOBUF_VERSION"
v="$("$GEN_GRPC" --version | awk '{print $2}')"
[[ "$v" == "$GRPC_PLUGIN_VERSION" ]] || die "$GEN_GRPC is $v, want $GRPC_PLUGIN_VERSION; install: go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v$GRPC_PLUGIN_VERSION"
say "$("$PROTOC" --version), protoc-gen-go $PROTOBUF_VERSION, protoc-gen-go-grpc $GRPC_PLUGIN_VERSION"

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
