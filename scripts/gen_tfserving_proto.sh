#!/usr/bin/env bash
# Regenerates serving/tfspb (TF Serving's messages and gRPC stubs) and
# serving/tfspb/examplepb (tensorflow.Example, which the TF bindings lack)
# from the descriptors that the pinned tensorflow-serving-api wheel in .venv
# ships. A developer's tool: the output is committed, and nothing runs this
# at build or test time. Idempotent: a second run changes no file.
#
# Needs protoc and the pinned Go plugins: see scripts/protoc_tools.sh.
#
# TensorFlow's own protos (tensor.proto, meta_graph.proto, ...) are not
# regenerated: each is mapped onto the Go package that the TF bindings in
# go.mod (github.com/galeone/tensorflow/tensorflow/go) register it in, read
# from the `// source:` line of the bindings' *.pb.go files. Protos the 2.21
# wheel has moved since the bindings were generated are mapped by ALIASES.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME=gen_tfserving_proto
# shellcheck source=scripts/protoc_tools.sh
source "$ROOT/scripts/protoc_tools.sh"
OUT_PKG="$MODULE/serving/tfspb"
EXAMPLE_PKG="$MODULE/serving/tfspb/examplepb"

# Protos that live at another path in the bindings' (older) TensorFlow: the
# 2.21 wheel moved them, or split them into a forwarding file (`import public`).
ALIASES=(
	"xla/tsl/protobuf/error_codes.proto=tensorflow/core/protobuf/error_codes.proto"
	"xla/tsl/protobuf/coordination_config.proto=tensorflow/core/protobuf/coordination_config.proto"
	"xla/tsl/protobuf/rpc_options.proto=tensorflow/core/protobuf/config.proto"
	"tensorflow/core/protobuf/rpc_options.proto=tensorflow/core/protobuf/config.proto"
	"tensorflow/core/framework/graph_debug_info.proto=tensorflow/core/protobuf/graph_debug_info.proto"
)

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# 1. The descriptors the wheel was built from, dependencies first.
"$PY" "$ROOT/scripts/tfserving_descriptors.py" "$TMP/tfserving.pb" >"$TMP/files.txt"

# 2. Which Go package registers each TensorFlow .proto in the bindings.
TF_DIR="$(go list -m -f '{{.Dir}}' github.com/galeone/tensorflow/tensorflow/go)"
[[ -n "$TF_DIR" && -d "$TF_DIR" ]] || die "the TF bindings module is not downloaded; run \`go mod download\`"
TF_MOD="$(go list -m -f '{{.Path}}' github.com/galeone/tensorflow/tensorflow/go)"
declare -A BINDINGS=()
while IFS= read -r f; do
	src="$(sed -n 's|^// source: ||p' "$f" | head -1)"
	rel="$(dirname "${f#"$TF_DIR"/}")"
	[[ -n "$src" ]] && BINDINGS["$src"]="$TF_MOD/$rel"
done < <(find "$TF_DIR" -name '*.pb.go' | sort)
for a in "${ALIASES[@]}"; do
	BINDINGS["${a%%=*}"]="${BINDINGS[${a#*=}]:?alias target ${a#*=} has no Go package in the bindings}"
done

# 3. M options for every file in the set; the files to generate.
MOPTS=()
GEN_FILES=()
while IFS= read -r f; do
	case "$f" in
	google/protobuf/*) continue ;; # go_package in the file: google.golang.org/protobuf/types/known/...
	# "path;name": the Go package name, else protoc-gen-go takes it from go_package.
	tensorflow_serving/*) pkg="$OUT_PKG;${OUT_PKG##*/}"; GEN_FILES+=("$f") ;;
	tensorflow/core/example/*) pkg="$EXAMPLE_PKG;${EXAMPLE_PKG##*/}"; GEN_FILES+=("$f") ;;
	*) pkg="${BINDINGS[$f]:-}"
		[[ -n "$pkg" ]] || die "$f has no Go package in $TF_MOD; map it in ALIASES or generate it" ;;
	esac
	MOPTS+=("M$f=$pkg")
done <"$TMP/files.txt"
GO_OPT="$(IFS=,; echo "module=$MODULE,${MOPTS[*]}")"

# 4. Generate into a scratch tree, then replace the committed *.pb.go files.
mkdir -p "$TMP/out"
"$PROTOC" --descriptor_set_in="$TMP/tfserving.pb" \
	--plugin=protoc-gen-go="$GEN_GO" --plugin=protoc-gen-go-grpc="$GEN_GRPC" \
	--go_out="$TMP/out" --go_opt="$GO_OPT" \
	--go-grpc_out="$TMP/out" --go-grpc_opt="$GO_OPT" \
	"${GEN_FILES[@]}"

for dir in serving/tfspb serving/tfspb/examplepb; do
	[[ -d "$TMP/out/$dir" ]] || die "protoc wrote nothing into $dir"
	mkdir -p "$ROOT/$dir"
	find "$ROOT/$dir" -maxdepth 1 -name '*.pb.go' -delete
	cp "$TMP/out/$dir"/*.pb.go "$ROOT/$dir/"
	say "$dir: $(find "$TMP/out/$dir" -maxdepth 1 -name '*.pb.go' | wc -l) files"
done
