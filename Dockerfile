# Multi-stage image of the TF Serving-compatible server with the MNIST CNN.
#   docker build -t gotf-serve .
#   docker run -p 8501:8501 -p 8500:8500 gotf-serve   # REST on 8501, gRPC on 8500
#   curl -d '{"instances": [...28x28x1...]}' localhost:8501/v1/models/mnist:predict
# The build stage runs the same scripts/setup.sh and pins as CI; the runtime
# stage holds only TensorFlow's two shared libraries, the binary and a model.

ARG GO_VERSION=1.26
ARG PY_VERSION=3.11

FROM golang:${GO_VERSION}-bookworm AS build
ARG PY_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip nodejs npm binutils ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum Makefile ./
COPY scripts/ scripts/
COPY tfwrap/ tfwrap/
COPY models/ models/
COPY savedmodels/ savedmodels/
COPY serving/ serving/
COPY data/ data/
COPY internal/ internal/
COPY cmd/ cmd/
RUN scripts/setup.sh
RUN . .tf/env.sh \
 && go build -o /out/serve ./cmd/serve \
 && go run ./cmd/train --model cnn --quiet --out /tmp/train --export /models/mnist/1
RUN mkdir -p /out/lib \
 && cp .venv/lib/python${PY_VERSION}/site-packages/tensorflow/libtensorflow_cc.so.2 \
       .venv/lib/python${PY_VERSION}/site-packages/tensorflow/libtensorflow_framework.so.2 /out/lib/

FROM debian:bookworm-slim
COPY --from=build /out/lib/ /usr/local/lib/
RUN ldconfig
COPY --from=build /out/serve /usr/local/bin/serve
COPY --from=build /models /models
EXPOSE 8500 8501
ENTRYPOINT ["serve", "--models_dir=/models", "--rest_api_port=8501", "--port=8500"]
