#!/usr/bin/env bash
# Builds the Dockerfile into the image $IMAGE:$TAG (default gotf-serve and
# the VERSION file's version, the tag deploy/kubernetes pins), also tagged
# latest for local runs:
#   - with `docker build` where a Docker engine answers (`docker info`);
#   - else with buildah, daemonless (chroot isolation, as root),
#     installed from Debian's packages if missing. Where the base images are
#     not in buildah's storage, scripts/base_images.sh first makes local
#     stand-ins of them from Debian's packages and the Go module proxy, so
#     no container registry is needed. Layers are cached: a rebuild with
#     nothing changed takes seconds.
# Prints the image's size and the build's time.
#
# Environment:
#   IMAGE        image name (default gotf-serve)
#   TAG          image tag (default: the VERSION file)
#   IMAGE_TOOL   docker or buildah, instead of choosing
#   PULL_BASE=1  with buildah, try to pull the real base images first
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${IMAGE:-gotf-serve}"
TAG="${TAG:-$(cat "$ROOT/VERSION")}"
# The runtime base a user's service image starts FROM, tagged with the
# TensorFlow release it carries.
RUNTIME="${RUNTIME:-gotf-runtime}"
TF_VERSION="$(sed -n 's/^const Version = "\(.*\)"/\1/p' "$ROOT/internal/libtf/libtf.go")"
# chroot isolation: no runc or crun, and none needed. Storage is buildah's
# default (/etc/containers/storage.conf: overlay, native on this kernel).
export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"

say() { echo "image: $*" >&2; }
die() { echo "image: error: $*" >&2; exit 1; }

tool="${IMAGE_TOOL:-}"
if [ -z "$tool" ]; then
	if command -v docker >/dev/null && docker info >/dev/null 2>&1; then tool=docker; else tool=buildah; fi
fi
start=$(date +%s)
cd "$ROOT"
case "$tool" in
docker)
	say "docker build -t $IMAGE:$TAG (a Docker engine answers)"
	docker build -t "$IMAGE:$TAG" -t "$IMAGE:latest" .
	docker build --target runtime -t "$RUNTIME:$TF_VERSION" .
	size="$(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
	rsize="$(docker image inspect --format '{{.Size}}' "$RUNTIME:$TF_VERSION" | awk '{printf "%.0f MB", $1/1e6}')"
	;;
buildah)
	[ "$(id -u)" = 0 ] || die "buildah here needs root (chroot isolation, system storage); or run with a Docker engine"
	if ! command -v buildah >/dev/null; then
		command -v apt-get >/dev/null || die "no Docker engine, no buildah and no apt-get to install it"
		say "installing buildah from Debian's packages"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah >/dev/null || die "apt-get install buildah failed"
	fi
	if [ "${PULL_BASE:-}" = 1 ]; then
		go_minor="$(sed -n 's/^ARG GO_VERSION=//p' Dockerfile)"
		buildah pull -q "docker.io/library/golang:${go_minor}-bookworm" >/dev/null 2>&1 || say "could not pull golang:${go_minor}-bookworm"
		buildah pull -q docker.io/library/debian:bookworm-slim >/dev/null 2>&1 || say "could not pull debian:bookworm-slim"
	fi
	scripts/base_images.sh
	say "base images ready in $(($(date +%s) - start)) s"
	# Where this machine reaches the registries only through a TLS-inspecting
	# proxy whose CA it trusts (a CA in /usr/local/share/ca-certificates, as
	# on this project's machines), the build's RUN steps borrow the host's
	# CA bundle, read-only, with pip and npm pointed at it. Mounts are not
	# committed: no layer, and so not the runtime image, keeps them.
	vols=()
	if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null && [ -s /etc/ssl/certs/ca-certificates.crt ]; then
		ca="$(mktemp -d /tmp/gotf-image-ca.XXXXXX)"
		trap 'rm -rf "$ca"' EXIT
		printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$ca/pip.conf"
		printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >"$ca/npmrc"
		vols=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro
			--volume "$ca/pip.conf:/etc/pip.conf:ro" --volume "$ca/npmrc:/etc/npmrc:ro")
		say "the host trusts local CAs (/usr/local/share/ca-certificates): the build's RUN steps use its CA bundle"
	fi
	say "buildah build -t $IMAGE:$TAG (no Docker engine; $BUILDAH_ISOLATION isolation)"
	# --format docker keeps HEALTHCHECK, which the OCI format has no field for.
	common=(--layers --pull=never --format docker --network host)
	if [ ${#vols[@]} -gt 0 ]; then
		# The CA mounts only where the network is used, the build stage: a
		# mount point would be left, empty, in the runtime stage's RUN layer.
		# The full build below then takes the build stage from the cache.
		buildah build "${common[@]}" "${vols[@]}" --target build .
	fi
	buildah build "${common[@]}" -t "$IMAGE:$TAG" -t "$IMAGE:latest" .
	# The runtime stage again: every layer comes from the cache.
	buildah build "${common[@]}" --target runtime -t "$RUNTIME:$TF_VERSION" .
	size="$(buildah images --format '{{.Size}}' "localhost/$IMAGE:latest" | awk 'NR==1')"
	rsize="$(buildah images --format '{{.Size}}' "localhost/$RUNTIME:$TF_VERSION" | awk 'NR==1')"
	;;
*) die "IMAGE_TOOL=$tool: want docker or buildah" ;;
esac
say "$IMAGE:$TAG built with $tool in $(($(date +%s) - start)) s; size $size"
say "$RUNTIME:$TF_VERSION (the runtime base: Debian slim + libtensorflow, no Go, no Python): size $rsize"
