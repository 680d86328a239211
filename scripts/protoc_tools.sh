# Sourced by scripts/gen_tfserving_proto.sh and scripts/gen_kserve_proto.sh
# (developer tools): with ROOT and NAME set, it checks the environment and
# sets PY, PROTOC, GEN_GO and GEN_GRPC to the tools that generate this
# module's committed *.pb.go files, at the pinned plugin versions.
#
# Needs, besides `make setup` (the .venv with the pinned wheels):
#   protoc              apt-get install -y protobuf-compiler
#   protoc-gen-go       go install google.golang.org/protobuf/cmd/protoc-gen-go@<go.mod's google.golang.org/protobuf>
#   protoc-gen-go-grpc  go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
# The plugins are looked up on PATH, then in $GOBIN (default $(go env GOPATH)/bin).

MODULE=github.com/tfgo-project/gotf
GRPC_PLUGIN_VERSION=1.6.0

say() { echo "$NAME: $*" >&2; }
die() { echo "$NAME: error: $*" >&2; exit 1; }

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
