# Multi-stage image of the TF Serving-compatible server with the MNIST CNN.
#   make image        docker build where an engine runs, else buildah (scripts/image.sh)
#   make image-test   builds it, serves from it, predicts a real digit (scripts/image_test.sh)
#   docker build -t gotf-serve .
#   docker run -p 8501:8501 -p 8500:8500 gotf-serve   # REST on 8501, gRPC on 8500
#   curl -d '{"instances": [...28x28x1...]}' localhost:8501/v1/models/mnist:predict
# The build stage runs the same scripts/setup.sh and pins as CI; the runtime
# base holds only TensorFlow's two shared libraries (stripped) and the CA
# certificates, and the server image adds the binary and a model on top; both
# run as an unprivileged user.

ARG GO_VERSION=1.26
ARG PY_VERSION=3.11

FROM golang:${GO_VERSION}-bookworm AS build
ARG PY_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip nodejs npm binutils ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The set-up first (the TensorFlow wheel, MNIST, Go modules), from only the
# files it reads: the pins and setup.sh's own scripts, not every edit of the
# sources or of other scripts, invalidate this slow layer (~6 min).
COPY go.mod go.sum ./
COPY scripts/setup.sh scripts/requirements.txt scripts/requirements-nodeps.txt scripts/constraints.txt scripts/mnist_convert.py scripts/
# libtensorflow comes from gotf setup, as for any user of the module.
COPY cmd/gotf/main.go cmd/gotf/
COPY internal/libtf internal/libtf
ENV GOTF_CACHE=/opt/gotf
RUN scripts/setup.sh
# Then the sources in one layer (.dockerignore keeps out .git, .venv, ...).
COPY . .
# train is built with serve's flags so that the two share compiled packages.
RUN . .tf/env.sh \
 && go build -trimpath -o /out/serve ./cmd/serve \
 && go build -trimpath -o /tmp/train ./cmd/train \
 && /tmp/train --model cnn --quiet --out /tmp/train-out --export /out/models/mnist/1 \
 && rm -rf /tmp/train /tmp/train-out \
 && mkdir -p /out/lib \
 && cp /opt/gotf/tensorflow-*/lib/libtensorflow_cc.so.2 /opt/gotf/tensorflow-*/lib/libtensorflow_framework.so.2 /out/lib/ \
 && strip --strip-unneeded /out/lib/*.so.2

# The runtime base (make image tags it gotf-runtime:TF_VERSION): Debian
# slim, TensorFlow's two libraries (stripped) in /usr/local/lib, the CA
# bundle and an unprivileged user; no Go, no Python. A service built with
# `gotf bundle` runs on it with one COPY of its binary into /usr/local/bin
# (its run path, $ORIGIN/../lib, is /usr/local/lib): see
# examples/service/Dockerfile.
FROM debian:bookworm-slim AS runtime
COPY --from=build /out/lib/ /usr/local/lib/
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN ldconfig \
 && groupadd --gid 10001 serve \
 && useradd --uid 10001 --gid serve --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin serve
USER 10001:10001

# The server on top of it.
FROM runtime
COPY --from=build /out/serve /usr/local/bin/serve
COPY --from=build /out/models /models
USER 10001:10001
EXPOSE 8500 8501
# serve --health_check asks 127.0.0.1:8501/healthz (no curl in the image).
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 CMD ["serve", "--health_check"]
ENTRYPOINT ["serve", "--models_dir=/models", "--rest_api_port=8501", "--port=8500"]
