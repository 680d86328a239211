#!/usr/bin/env bash
# Local stand-ins for the Dockerfile's two base images, for machines that
# reach Debian's packages and the Go module proxy but no container registry:
#
#   debian:bookworm-slim   debootstrap --variant=minbase bookworm, trimmed as
#                          the official slim image is (no docs, no apt lists)
#   golang:1.26-bookworm   that, plus the official image's build tools (gcc,
#                          g++, make, pkg-config, git, curl, ...) and the
#                          pinned Go toolchain at /usr/local/go, with its
#                          GOPATH, PATH, GOTOOLCHAIN and WORKDIR
#
# Both are tagged with the exact names the Dockerfile uses (docker.io/library/
# ...) in buildah's local storage, so the Dockerfile builds unchanged with
# `buildah build --pull=never`. An image already in storage is kept: a real
# one (pulled earlier) is never replaced, and a stand-in is rebuilt only when
# STANDIN_VERSION or the pins change (its label gotf.standin holds them).
# Root only (debootstrap, and buildah without user namespaces).
#
# Environment:
#   GO_TOOLCHAIN     Go version installed in the golang stand-in (default
#                    1.26.8; must be a release of the Dockerfile's GO_VERSION)
#   DEBIAN_MIRROR    Debian archive for debootstrap (default deb.debian.org)
#   STANDIN_REBUILD  1: rebuild the stand-ins even if they are current
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO_TOOLCHAIN="${GO_TOOLCHAIN:-1.26.8}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# chroot isolation: no runc or crun, and none needed. Storage is buildah's
# default (/etc/containers/storage.conf: overlay, native on this kernel).
export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"

say() { echo "base_images: $*" >&2; }
die() { echo "base_images: error: $*" >&2; exit 1; }

GO_MINOR="$(sed -n 's/^ARG GO_VERSION=//p' "$ROOT/Dockerfile")"
[ -n "$GO_MINOR" ] || die "the Dockerfile has no ARG GO_VERSION"
case "$GO_TOOLCHAIN" in "$GO_MINOR" | "$GO_MINOR".*) ;; *) die "GO_TOOLCHAIN=$GO_TOOLCHAIN is not a Go $GO_MINOR release (Dockerfile's GO_VERSION)" ;; esac
SLIM=docker.io/library/debian:bookworm-slim
GOLANG=docker.io/library/golang:${GO_MINOR}-bookworm
grep -q "^FROM debian:bookworm-slim" "$ROOT/Dockerfile" && grep -q '^FROM golang:${GO_VERSION}-bookworm' "$ROOT/Dockerfile" \
	|| die "the Dockerfile's FROM lines changed; update $0 to match"

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and buildah's storage need it)"

# Tools, installed from Debian's packages when missing.
need=()
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
	command -v apt-get >/dev/null || die "no ${need[*]} and no apt-get to install them"
	say "installing ${need[*]} from Debian's packages"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
		|| die "apt-get install ${need[*]} failed"
fi
command -v go >/dev/null || die "no go on PATH (it fetches the Go toolchain from the module proxy)"

# Bump STANDIN_VERSION when what goes into the stand-ins changes: a new
# stamp makes both again (and so invalidates every cached build layer).
STANDIN_VERSION=1
stamp="v${STANDIN_VERSION}-go${GO_TOOLCHAIN}-$(echo "$DEBIAN_MIRROR" | sha256sum | cut -c1-8)"

# current IMAGE: 0 when IMAGE is in storage and is either not ours or our
# current stand-in; 1 when it must be (re)made.
current() {
	buildah inspect --type image "$1" >/dev/null 2>&1 || return 1
	local have
	have="$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "gotf.standin"}}' "$1" 2>/dev/null || true)"
	[ "${STANDIN_REBUILD:-}" != 1 ] || [ -z "$have" ] || return 1
	[ -z "$have" ] || [ "$have" = "$stamp" ]
}

WORK=""
CTR=""
cleanup() {
	[ -z "$CTR" ] || buildah rm "$CTR" >/dev/null 2>&1 || true
	[ -z "$WORK" ] || rm -rf "$WORK"
}
trap cleanup EXIT

if current "$SLIM"; then
	say "$SLIM: in local storage, reused"
else
	WORK="$(mktemp -d /var/tmp/gotf-base.XXXXXX)"
	say "$SLIM: debootstrap --variant=minbase bookworm (a few minutes)"
	debootstrap --variant=minbase bookworm "$WORK/rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 \
		|| { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
	r="$WORK/rootfs"
	# The official image's apt sources, and its dpkg/apt settings that keep
	# layers small: no docs, man pages or locales, no cached .debs.
	rm -f "$r/etc/apt/sources.list"
	cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${DEBIAN_MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
	cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
	echo 'Acquire::GzipIndexes "true"; Acquire::CompressionTypes::Order:: "gz";' >"$r/etc/apt/apt.conf.d/docker-gzip-indexes"
	find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
	rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/* \
		"$r"/var/log/* "$r"/tmp/* "$r"/dev/* "$r"/proc/* "$r"/sys/* "$r"/run/*
	find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
	: >"$r/etc/hostname"
	: >"$r/etc/resolv.conf"
	CTR="$(buildah from scratch)"
	mnt="$(buildah mount "$CTR")"
	tar -C "$r" -cf - . | tar -C "$mnt" -xpf -
	buildah umount "$CTR" >/dev/null
	buildah config --os linux --arch amd64 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--cmd '["bash"]' --label gotf.standin="$stamp" "$CTR"
	buildah commit -q "$CTR" "$SLIM" >/dev/null
	buildah rm "$CTR" >/dev/null && CTR=""
	rm -rf "$WORK" && WORK=""
	say "$SLIM: stand-in made"
fi

if current "$GOLANG"; then
	say "$GOLANG: in local storage, reused"
else
	WORK="$(mktemp -d /var/tmp/gotf-base.XXXXXX)"
	say "$GOLANG: build tools from Debian and go$GO_TOOLCHAIN from the Go module proxy"
	mod="golang.org/toolchain@v0.0.1-go${GO_TOOLCHAIN}.linux-amd64"
	dir="$(cd "$WORK" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "$mod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[ -n "$dir" ] && [ -f "$dir/VERSION" ] || die "go mod download $mod failed"
	# The module cache keeps files read-only and without exec bits; a GOROOT
	# needs its commands executable (as cmd/go does when it switches toolchains).
	cp -r "$dir" "$WORK/go"
	chmod -R u+w "$WORK/go"
	chmod +x "$WORK"/go/bin/* "$WORK"/go/pkg/tool/*/*
	CTR="$(buildah from --pull=never "$SLIM")"
	buildah run "$CTR" -- sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		ca-certificates curl gnupg netbase wget git openssh-client procps g++ gcc libc6-dev make pkg-config >/dev/null \
		&& rm -rf /var/lib/apt/lists/* && mkdir -p /go/src /go/bin && chmod -R 1777 /go' >&2
	buildah copy -q "$CTR" "$WORK/go" /usr/local/go >/dev/null
	buildah config --env GOLANG_VERSION="$GO_TOOLCHAIN" --env GOTOOLCHAIN=local --env GOPATH=/go \
		--env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--workingdir /go --label gotf.standin="$stamp" "$CTR"
	got="$(buildah run "$CTR" -- go version)"
	case "$got" in *"go$GO_TOOLCHAIN linux/amd64"*) ;; *) die "the stand-in's go version says: $got" ;; esac
	buildah commit -q "$CTR" "$GOLANG" >/dev/null
	buildah rm "$CTR" >/dev/null && CTR=""
	say "$GOLANG: stand-in made ($got)"
fi
