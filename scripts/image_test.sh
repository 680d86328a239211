#!/usr/bin/env bash
# make image-test: builds the image (scripts/image.sh), serves from it and
# checks it as a client would. Every failed step exits non-zero with a
# message ("image_test: FAIL ...").
#
#   1. the image's config: runs as a non-root user, HEALTHCHECK is
#      `serve --health_check`, the entrypoint serves /models;
#   2. its files: the two TensorFlow libraries, the binary, the model and the
#      CA bundle are there; no Go, Python, compiler or apt lists are;
#   3. it serves: the entrypoint runs in a container (buildah run, host
#      network, REST and gRPC bound to 127.0.0.1 on free ports), becomes
#      ready, its processes run as that user, and the HEALTHCHECK command
#      passes inside the container;
#   4. it answers: /v1/models/mnist reports version 1 AVAILABLE; a predict
#      request of one real MNIST test digit (.cache/mnist) returns 10
#      probabilities whose argmax is the digit's label, and 100 test digits
#      in one request are classified with at least 95% accuracy;
#   5. SIGTERM stops it cleanly (exit 0), and the container is removed;
#   6. a user's service on the runtime base (gotf-runtime:TF_VERSION): the
#      base has the libraries and nothing of Go, Python or the server;
#      examples/service, built with `gotf bundle` on this machine, goes on
#      it with one COPY (examples/service/Dockerfile), runs in a container
#      on the server image's model and classifies a real digit.
#
# Environment: IMAGE (default gotf-serve), IMAGE_TOOL (docker or buildah),
# IMAGE_TEST_NO_BUILD=1 to test the image as it is, without building.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${IMAGE:-gotf-serve}"
RUNTIME="${RUNTIME:-gotf-runtime}"
TF_VERSION="$(sed -n 's/^const Version = "\(.*\)"/\1/p' "$ROOT/internal/libtf/libtf.go")"
SVC_IMAGE="gotf-example-service"
MNIST_TEST="$ROOT/.cache/mnist/test.bin"
# chroot isolation: no runc or crun, and none needed. Storage is buildah's
# default (/etc/containers/storage.conf: overlay, native on this kernel).
export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"
PY="${PYTHON:-python3}"

say() { echo "image_test: $*" >&2; }
fail() { echo "image_test: FAIL: $*" >&2; exit 1; }

[ -f "$MNIST_TEST" ] || fail "$MNIST_TEST is missing: run make setup"
tool="${IMAGE_TOOL:-}"
if [ -z "$tool" ]; then
	if command -v docker >/dev/null && docker info >/dev/null 2>&1; then tool=docker; else tool=buildah; fi
fi
export IMAGE_TOOL="$tool"
start=$(date +%s)
if [ "${IMAGE_TEST_NO_BUILD:-}" != 1 ]; then
	"$ROOT/scripts/image.sh" || fail "the image did not build"
fi
built=$(date +%s)

WORK="$(mktemp -d /tmp/gotf-image-test.XXXXXX)"
CTR=""
RUNPID=""
SVC_CTR=""
SVC_PID=""
cleanup() {
	local rc=$?
	if [ -n "$SVC_PID" ] && kill -0 "$SVC_PID" 2>/dev/null; then
		kill -KILL -- "-$SVC_PID" 2>/dev/null || true
	fi
	if [ -n "$SVC_CTR" ]; then
		if [ "$tool" = docker ]; then docker rm -f "$SVC_CTR" >/dev/null 2>&1 || true; else
			buildah rm "$SVC_CTR" >/dev/null 2>&1 || true
		fi
	fi
	if [ -n "$RUNPID" ] && kill -0 "$RUNPID" 2>/dev/null; then
		kill -TERM -- "-$RUNPID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$RUNPID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL -- "-$RUNPID" 2>/dev/null || true
	fi
	if [ -n "$CTR" ]; then
		if [ "$tool" = docker ]; then docker rm -f "$CTR" >/dev/null 2>&1 || true; else
			buildah umount "$CTR" >/dev/null 2>&1 || true
			buildah rm "$CTR" >/dev/null 2>&1 || true
		fi
	fi
	if [ $rc -ne 0 ] && [ -s "$WORK/serve.log" ]; then
		echo "image_test: the server's last log lines:" >&2
		tail -n 20 "$WORK/serve.log" >&2
	fi
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT

# Two free loopback ports for REST and gRPC (host networking: fixed ports
# could collide with other servers on this machine).
read -r REST GRPC < <("$PY" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
BASE="http://127.0.0.1:$REST"
ARGS=(--rest_api_host=127.0.0.1 --grpc_host=127.0.0.1 "--rest_api_port=$REST" "--port=$GRPC")

# 1 and 2: config and files.
if [ "$tool" = docker ]; then
	cfg="$(docker image inspect --format '{{json .Config}}' "$IMAGE")" || fail "no image $IMAGE"
else
	CTR="$(buildah from --pull=never "localhost/$IMAGE:latest")" || fail "buildah from $IMAGE failed"
	cfg="$(buildah inspect "$CTR" | "$PY" -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["Docker"]["config"]))')" \
		|| fail "buildah inspect failed"
fi
"$PY" - "$cfg" <<'EOF' || fail "the image's config"
import json, sys
c = json.loads(sys.argv[1])
user = c.get("User") or ""
assert user and user.split(":")[0] not in ("0", "root"), f"runs as {user or 'root'}"
hc = (c.get("Healthcheck") or {}).get("Test") or []
assert hc == ["CMD", "serve", "--health_check"], f"HEALTHCHECK is {hc}"
ep = c.get("Entrypoint") or []
assert ep[:2] == ["serve", "--models_dir=/models"], f"entrypoint {ep}"
print(f"image_test: config: user {user}, HEALTHCHECK {' '.join(hc[1:])}, entrypoint {' '.join(ep)}", file=sys.stderr)
EOF
entry="$("$PY" -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])["Entrypoint"]))' "$cfg")"
mapfile -t ENTRY <<<"$entry"

if [ "$tool" = buildah ]; then
	mnt="$(buildah mount "$CTR")"
	for f in usr/local/lib/libtensorflow_cc.so.2 usr/local/lib/libtensorflow_framework.so.2 usr/local/bin/serve \
		models/mnist/1/saved_model.pb etc/ssl/certs/ca-certificates.crt; do
		[ -s "$mnt/$f" ] || fail "the image has no /$f"
	done
	for f in usr/local/go usr/bin/python3 usr/bin/gcc usr/bin/node src root/.cache etc/pip.conf etc/npmrc; do
		[ ! -e "$mnt/$f" ] || fail "the runtime image holds /$f, which serving does not need"
	done
	[ -z "$(ls -A "$mnt/var/lib/apt/lists" 2>/dev/null | grep -v '^lock$\|^partial$')" ] || fail "the image keeps apt lists"
	extra="$(ls "$mnt/usr/local/lib" | grep -v '^libtensorflow_\(cc\|framework\)\.so\.2$' | grep -v '^python3' || true)"
	[ -z "$extra" ] || fail "unexpected files in /usr/local/lib: $extra"
	cp -r "$mnt/models/mnist/1" "$WORK/model" # for the user's service, step 6
	say "files: the two TensorFlow libraries ($(du -shc "$mnt"/usr/local/lib/libtensorflow_* | tail -n1 | cut -f1)), serve, the model, the CA bundle; no Go, Python, gcc, node or apt lists"
	buildah umount "$CTR" >/dev/null
fi

# 3: serve.
if [ "$tool" = docker ]; then
	CTR="$(docker run -d --network host "$IMAGE" "${ARGS[@]}")" || fail "docker run failed"
	docker logs -f "$CTR" >"$WORK/serve.log" 2>&1 &
	alive() { [ "$(docker inspect --format '{{.State.Running}}' "$CTR" 2>/dev/null)" = true ]; }
	incontainer() { docker exec "$CTR" "$@"; }
else
	# Its own session, so that cleanup can signal the whole group.
	setsid buildah run --network host "$CTR" -- "${ENTRY[@]}" "${ARGS[@]}" >"$WORK/serve.log" 2>&1 &
	RUNPID=$!
	alive() { kill -0 "$RUNPID" 2>/dev/null; }
	incontainer() { buildah run --network host "$CTR" -- "$@"; }
fi
say "serving from the image: ${ENTRY[*]} ${ARGS[*]}"
ready=""
for _ in $(seq 600); do
	alive || fail "the server exited before it was ready"
	if [ "$("$PY" -c 'import sys,urllib.request
try: print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except Exception: print(0)' "$BASE/readyz")" = 200 ]; then ready=1; break; fi
	sleep 0.2
done
[ -n "$ready" ] || fail "not ready within 120 s"
say "ready after $(($(date +%s) - built)) s"

if [ "$tool" = buildah ]; then
	# Every process inside the container (root directory not the host's:
	# the server and its model workers) runs as the image's user.
	names=()
	for p in $(ps -o pid= -s "$RUNPID"); do
		[ "$(readlink "/proc/$p/root" 2>/dev/null || echo /)" != / ] || continue
		uid="$(awk '/^Uid:/ {print $2}' "/proc/$p/status")"
		[ "$uid" != 0 ] || fail "$(cat "/proc/$p/comm") (pid $p) runs as root in the container"
		names+=("$(cat "/proc/$p/comm")")
	done
	[ ${#names[@]} -ge 1 ] || fail "found no process inside the container"
	say "user: ${#names[@]} processes in the container (${names[*]}), all uid $uid"
fi
incontainer serve --health_check "--rest_api_port=$REST" || fail "the HEALTHCHECK command failed on a serving server"
say "HEALTHCHECK command (serve --health_check) passes inside the container"

# 4: answers.
"$PY" - "$BASE" "$MNIST_TEST" <<'EOF' || fail "the server's answers"
import json, struct, sys, urllib.request

base, path = sys.argv[1], sys.argv[2]
raw = open(path, "rb").read()
assert raw[:4] == b"MNST", "not an MNST file"
n, rows, cols = struct.unpack("<3I", raw[4:16])
labels, pix = raw[16:16 + n], raw[16 + n:]
size = rows * cols

def image(i):  # 28x28x1 in [0, 1], as data/mnist and cmd/loadtest send it
    p = pix[i * size:(i + 1) * size]
    return [[[round(p[r * cols + c] / 255, 3)] for c in range(cols)] for r in range(rows)]

def call(url, body=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200, f"{url}: {r.status}"
        return json.load(r)

status = call(base + "/v1/models/mnist")
vs = status["model_version_status"]
assert [(v["version"], v["state"], v["status"]["error_code"]) for v in vs] == [("1", "AVAILABLE", "OK")], status
print(f"image_test: /v1/models/mnist: {json.dumps(status)}", file=sys.stderr)
assert urllib.request.urlopen(base + "/healthz", timeout=5).status == 200

pred = call(base + "/v1/models/mnist:predict", {"instances": [image(0)]})["predictions"]
assert len(pred) == 1 and len(pred[0]) == 10, f"predictions {pred}"
assert abs(sum(pred[0]) - 1) < 1e-3, f"probabilities sum to {sum(pred[0])}"
got = max(range(10), key=lambda k: pred[0][k])
assert got == labels[0], f"test digit 0 is a {labels[0]}, the image predicts {got} ({pred[0]})"
print(f"image_test: predict: test digit 0, a {labels[0]}: predicted {got} (p={pred[0][got]:.4f})", file=sys.stderr)

k = 100
pred = call(base + "/v1/models/mnist:predict", {"instances": [image(i) for i in range(k)]})["predictions"]
right = sum(max(range(10), key=lambda c: p[c]) == labels[i] for i, p in enumerate(pred))
assert len(pred) == k and right >= 95, f"{right}/{k} right"
print(f"image_test: predict: {right}/{k} test digits right in one request", file=sys.stderr)
EOF

# 5: stop.
if [ "$tool" = docker ]; then
	docker stop -t 30 "$CTR" >/dev/null || fail "docker stop failed"
	code="$(docker inspect --format '{{.State.ExitCode}}' "$CTR")"
else
	main=""
	for p in $(ps -o pid= -s "$RUNPID"); do
		if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = serve ] && [ "$(ps -o comm= -p "$(ps -o ppid= -p "$p" | tr -d ' ')")" != serve ]; then main=$p; fi
	done
	[ -n "$main" ] || fail "cannot find the server's process"
	kill -TERM "$main"
	code=""
	for _ in $(seq 150); do alive || break; sleep 0.2; done
	alive && fail "the server did not stop within 30 s of SIGTERM"
	wait "$RUNPID" && code=0 || code=$?
	RUNPID=""
fi
[ "$code" = 0 ] || fail "the server exited $code after SIGTERM"
say "SIGTERM: exited 0"
# 6: a user's service on the runtime base.
if [ "$tool" = buildah ]; then
	RT="$(buildah from --pull=never "localhost/$RUNTIME:$TF_VERSION")" || fail "no runtime base $RUNTIME:$TF_VERSION"
	rmnt="$(buildah mount "$RT")"
	for f in usr/local/lib/libtensorflow_cc.so.2 usr/local/lib/libtensorflow_framework.so.2 etc/ssl/certs/ca-certificates.crt; do
		[ -s "$rmnt/$f" ] || { buildah rm "$RT" >/dev/null; fail "the runtime base has no /$f"; }
	done
	for f in usr/local/bin/serve models usr/local/go usr/bin/python3 usr/bin/gcc; do
		[ ! -e "$rmnt/$f" ] || { buildah rm "$RT" >/dev/null; fail "the runtime base holds /$f"; }
	done
	buildah umount "$RT" >/dev/null; buildah rm "$RT" >/dev/null
	rsize="$(buildah images --format '{{.Size}}' "localhost/$RUNTIME:$TF_VERSION" | awk 'NR==1')"
else
	rsize="$(docker image inspect --format '{{.Size}}' "$RUNTIME:$TF_VERSION" | awk '{printf "%.0f MB", $1/1e6}')"
fi
say "runtime base $RUNTIME:$TF_VERSION: the libraries and the CA bundle, no Go, Python or server; size $rsize"
CTX="$WORK/service"
mkdir -p "$CTX"
cp "$ROOT/examples/service/Dockerfile" "$CTX/"
(cd "$ROOT/examples/service" && go run github.com/tfgo-project/gotf/cmd/gotf bundle -o "$CTX/dist" .) >&2 \
	|| fail "gotf bundle of examples/service"
rm -rf "$CTX/dist/lib" # the base has the libraries
read -r SVC_PORT < <("$PY" -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if [ "$tool" = docker ]; then
	docker build --build-arg "RUNTIME=$RUNTIME:$TF_VERSION" -t "$SVC_IMAGE" "$CTX" >&2 || fail "the service image did not build"
	SVC_CTR="$(docker run -d --network host -v "$WORK/model:/model:ro" --entrypoint service "$SVC_IMAGE" \
		--model /model --addr "127.0.0.1:$SVC_PORT")" || fail "docker run of the service failed"
else
	buildah build --layers --pull=never --format docker --build-arg "RUNTIME=localhost/$RUNTIME:$TF_VERSION" \
		-t "$SVC_IMAGE" "$CTX" >&2 || fail "the service image did not build"
	SVC_CTR="$(buildah from --pull=never "localhost/$SVC_IMAGE:latest")" || fail "buildah from $SVC_IMAGE failed"
	setsid buildah run --network host --volume "$WORK/model:/model:ro" "$SVC_CTR" -- \
		service --model /model --addr "127.0.0.1:$SVC_PORT" >"$WORK/service.log" 2>&1 &
	SVC_PID=$!
fi
say "the service's image: FROM $RUNTIME:$TF_VERSION plus one COPY ($(du -h "$CTX/dist/bin/service" | cut -f1) binary)"
"$PY" - "http://127.0.0.1:$SVC_PORT/predict" "$MNIST_TEST" <<'EOF' || { cat "$WORK/service.log" >&2 2>/dev/null; fail "the user's service"; }
import json, struct, sys, time, urllib.request

url, path = sys.argv[1], sys.argv[2]
raw = open(path, "rb").read()
n, rows, cols = struct.unpack("<3I", raw[4:16])
labels, pix = raw[16:16 + n], raw[16 + n:]
row = [round(p / 255, 3) for p in pix[:rows * cols]]
body = json.dumps({"rows": [row]}).encode()
for _ in range(600):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}), timeout=10) as r:
            ans = json.load(r)
        break
    except OSError:
        time.sleep(0.2)
else:
    raise SystemExit("the service did not answer within 120 s")
(out,) = ans["outputs"].values()
got = max(range(10), key=lambda k: out[0][k])
assert got == labels[0], f"test digit 0 is a {labels[0]}, the service predicts {got}"
print(f"image_test: the user's service in its container: test digit 0, a {labels[0]}: predicted {got}", file=sys.stderr)
EOF
if [ -n "$SVC_PID" ]; then # stopped as an orchestrator stops it
	kill -TERM -- "-$SVC_PID" 2>/dev/null || true
	wait "$SVC_PID" 2>/dev/null || true
	SVC_PID=""
fi
if [ -s "$WORK/service.log" ] && grep -q "I0000\|oneDNN" "$WORK/service.log"; then
	fail "the service printed TensorFlow's INFO lines: $(head -n3 "$WORK/service.log")"
fi
say "PASS (build $((built - start)) s, serve and checks $(($(date +%s) - built)) s)"

