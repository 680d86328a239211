# Two commands from a fresh clone:
#   make demo   set up, then run the demo
#   make test   set up, then go vet, every Go test and the Python checks
# Every target that builds Go code first runs scripts/setup.sh (silent and
# quick when nothing changed) and takes cgo's flags from .tf/env.sh.

SHELL := /bin/bash
ENV := source .tf/env.sh &&
GO_PKGS := ./...

.PHONY: platforms all setup demo gan test vet gotest gotest-kernels pytest fmt bench reference transfer loadtest stress race hostile check gradients clean image image-test

all: test

setup:
	@scripts/setup.sh

check: setup
	@$(ENV) go run ./cmd/tfcheck

# Where Tape finds each float op's gradient: C++, Go or nowhere.
gradients: setup
	@$(ENV) go run ./cmd/tfgrads

demo: setup
	@$(ENV) go run ./cmd/tfcheck
	@$(ENV) go run ./cmd/perceptron
	@$(ENV) go run ./cmd/train --model cnn --out out
	@$(MAKE) --no-print-directory transfer TRANSFER_FLAGS=--quick

# A GAN on MNIST: two models and two optimizers in a training step of its
# own (course.GAN); loss curves and generated digits in out/gan.
gan: setup
	@$(ENV) go run ./cmd/gan --out out/gan

# Transfer learning with few labels: scratch vs frozen backbone (three
# depths) vs fine-tuned, 1-50 labels per class, 5 seeds, on a near target
# (MNIST 0-4 -> 5-9) and a far one (scikit-learn's 8x8 digits). Python TF
# pretrains each backbone once into .cache (again when its script changes);
# every transfer run is Go. TRANSFER_FLAGS=--quick: one label count, one seed.
TRANSFER_FLAGS ?=
transfer: setup
	@[ .cache/backbone/backbone.json -nt scripts/pretrain_backbone.py ] || (echo "pretraining the backbone on digits 0-4 (once)"; \
		$(ENV) .venv/bin/python scripts/pretrain_backbone.py --source 0-4)
	@[ .cache/backbone-all/backbone.json -nt scripts/pretrain_backbone.py ] || (echo "pretraining the backbone on all ten digits (once)"; \
		$(ENV) .venv/bin/python scripts/pretrain_backbone.py --source all)
	@[ .cache/sklearn-digits/test.bin -nt scripts/sklearn_digits.py ] || \
		$(ENV) .venv/bin/python scripts/sklearn_digits.py
	@$(ENV) go run ./cmd/transferstudy $(TRANSFER_FLAGS)

# Training and inference speed against Keras, same machine, one run.
bench: setup
	@$(ENV) go run ./cmd/bench
	@$(ENV) go run ./cmd/bench --cases dist_mlp_b128 --epochs 2

# The REST server under a bounded load on loopback, then a soak of 100,000
# mixed malformed and good requests (a benchmark, not a pass/fail test).
loadtest: setup
	@$(ENV) go build -o bin/serve ./cmd/serve
	@test -f out/loadtest/models/mnist/1/saved_model.pb || \
		($(ENV) go run ./cmd/train --model cnn --quiet --out out/loadtest --export out/loadtest/models/mnist/1)
	@$(ENV) go run ./cmd/loadtest --soak 100000
	@$(ENV) go run ./cmd/loadtest --batch_rows 32 --counts 8:20000,64:40000 --python ''

# The same architectures trained by Keras on the same split (slow: minutes).
reference: setup
	@$(ENV) .venv/bin/python scripts/keras_reference.py

# The wheels pinned for the platforms not tested here (linux/arm64,
# darwin/arm64): each is downloaded, its SHA-256 checked, and its C library
# checked to export every C API symbol the server built here imports.
platforms: setup
	@$(ENV) go build -o bin/serve ./cmd/serve
	@for p in linux/arm64 darwin/arm64; do $(ENV) go run ./cmd/gotf verify -platform $$p -against bin/serve || exit 1; done

# The Docker image: docker build where an engine answers, else buildah, after
# scripts/base_images.sh has made local stand-ins of the base images from
# Debian's packages and the Go module proxy (root; see README, Docker).
image:
	@scripts/image.sh

# Builds the image, serves the MNIST CNN from it and checks a real digit's
# prediction, the model status, the health check, the user and a clean stop.
image-test: setup
	@scripts/image_test.sh

vet: setup
	@$(ENV) go vet $(GO_PKGS)
	@$(ENV) cd examples/service && go vet .
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.venv/*')); \
		if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

gotest: setup
	@$(ENV) go test -count=1 $(GO_PKGS)

# The tests whose outcome can depend on which kernels TensorFlow runs, once
# with its oneDNN kernels off and once on, whatever this CPU's default
# (on for Intel CPUs with AMX, off elsewhere): a developer on either kind
# of machine sees what CI on the other would. gotest above ran them with
# the default already (or with the TF_ENABLE_ONEDNN_OPTS set around
# make), so the setting gotest ran with, as tfcheck reports it, is not run
# twice; when it cannot be read, both run.
KERNEL_PKGS := ./models ./models/course ./models/layers ./models/optimizers ./models/kerasfile ./serving ./savedmodels ./tfwrap/... ./data/...
KERNEL_TESTS := Grappler|Profile|Placement|NaN|MatchesKeras|KerasParity|MatchesPython|ReadByPython|PythonSavedModel|ForcedGC|OneDNN|BFloat16|PrecisionErrors|Softmax
KERNEL_PYTESTS := scripts/tests/test_keras_profile.py
gotest-kernels: setup
	@def=$$($(ENV) go run ./cmd/tfcheck 2>/dev/null | grep -o 'oneDNN o[nf]*' | sed 's/oneDNN on/1/;s/oneDNN off/0/'); \
	for v in 0 1; do \
		if [ "$$v" = "$$def" ]; then echo "TF_ENABLE_ONEDNN_OPTS=$$v is this CPU's default, which gotest ran: skipped"; continue; fi; \
		echo "TF_ENABLE_ONEDNN_OPTS=$$v: $(KERNEL_TESTS)"; \
		$(ENV) TF_ENABLE_ONEDNN_OPTS=$$v go test -count=1 -run '$(KERNEL_TESTS)' $(KERNEL_PKGS) || exit 1; \
		$(ENV) TF_ENABLE_ONEDNN_OPTS=$$v .venv/bin/python -m pytest -q $(KERNEL_PYTESTS) || exit 1; done

pytest: setup
	@$(ENV) .venv/bin/python -m pytest -q scripts/tests

test: vet gotest gotest-kernels pytest

# Concurrent Predict checked against Python under a forced GC, 10 million
# calls (about 30 minutes on 2 cores), then 5 minutes of 64 goroutines at
# the default GOGC with RSS held within +15% of its value after a 10 s
# warm-up. make test runs a 30 s version (internal/stress).
STRESS_CALLS ?= 10000000
stress: setup
	@$(ENV) go build -o bin/stress ./cmd/stress
	@$(ENV) bin/stress --goroutines 64 --force_gc --calls $(STRESS_CALLS) --sample 60s
	@$(ENV) bin/stress --goroutines 64 --duration 5m --warmup 10s --sample 30s --max_growth 0.15

# The concurrent paths (Run, Predict, Fit) under the race detector, then
# under AddressSanitizer (Go's -asan; libtensorflow itself is not
# instrumented, so it checks Go's and cgo's side of the boundary).
RACE_TESTS := ForcedGC|PredictBadInput|OtherGoroutineWhileFitting|MirroredMatches
race: setup
	@$(ENV) GOTF_STRESS_SECONDS=5 go test -race -count=1 -run '$(RACE_TESTS)' ./tfwrap ./internal/stress ./savedmodels ./models
	@$(ENV) GOTF_STRESS_SECONDS=5 go test -asan -count=1 -run '$(RACE_TESTS)' ./tfwrap ./internal/stress ./savedmodels ./models

# The server's attack suites at 10 times the count of each attack that
# crashed it in issue 23 (make test runs them at 1x): wire-format attacks
# on the real binary under an 8 GB address-space cap, each checked for the
# front end's peak RSS within its 512 MiB budget + 10% and the server
# still answering; then the REST and model-file attacks.
HOSTILE_SCALE ?= 10
hostile: setup
	@set -o pipefail; $(ENV) GOTF_HOSTILE_SCALE=$(HOSTILE_SCALE) go test -count=1 -timeout 30m -v -run 'TestHostileWire' ./cmd/serve \
		| grep -E '^\s+hostile_wire_test|^(--- |ok|FAIL|PASS)'
	@$(ENV) go test -count=1 -timeout 30m -run 'TestHostile$$' ./cmd/serve

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf .tf out bin
