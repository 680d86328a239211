"""Static checks of the Dockerfile against the repo, quick enough for every
`make test`: every path it copies exists, its Go and Python versions are the
project's, it runs the same set-up script, the commands it builds exist and
the runtime stage is small, unprivileged and health-checked. `make
image-test` (scripts/image_test.sh) builds and runs the image itself."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_copied_paths_exist():
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), f"Dockerfile copies {src}, which is not in the repo"


def test_versions_match_the_pins():
    go_mod = (ROOT / "go.mod").read_text()
    go_version = re.search(r"^go (\d+\.\d+)", go_mod, re.M).group(1)
    assert f"ARG GO_VERSION={go_version}" in DOCKERFILE
    py = re.search(r"ARG PY_VERSION=(\S+)", DOCKERFILE).group(1)
    assert py == f"{sys.version_info.major}.{sys.version_info.minor}", "the image's Python is not the one CI tests with"
    assert "RUN scripts/setup.sh" in DOCKERFILE
    reqs = (ROOT / "scripts" / "requirements.txt").read_text()
    assert re.search(r"^tensorflow-cpu==2\.21\.0$", reqs, re.M)


def test_built_commands_exist():
    for cmd in re.findall(r"\./cmd/(\w+)", DOCKERFILE):
        assert (ROOT / "cmd" / cmd / "main.go").exists(), cmd
    assert 'ENTRYPOINT ["serve", "--models_dir=/models", "--rest_api_port=8501", "--port=8500"]' in DOCKERFILE
    assert "EXPOSE 8500 8501" in DOCKERFILE


def test_runtime_stage_is_small():
    runtime = DOCKERFILE.split("FROM debian:bookworm-slim", 1)[1]
    copies = [l for l in runtime.splitlines() if l.startswith("COPY")]
    assert all("--from=build" in l for l in copies)
    assert "libtensorflow_cc.so.2" in DOCKERFILE and "libtensorflow_framework.so.2" in DOCKERFILE
    assert "apt-get" not in runtime and "python" not in runtime


def test_runtime_is_unprivileged_and_health_checked():
    runtime = DOCKERFILE.split("FROM debian:bookworm-slim", 1)[1]
    user = re.search(r"^USER (\S+)", runtime, re.M).group(1)
    assert user.split(":")[0] not in ("0", "root"), user
    assert runtime.index("USER") < runtime.index("ENTRYPOINT")
    assert 'CMD ["serve", "--health_check"]' in runtime
    serve = (ROOT / "cmd" / "serve" / "main.go").read_text()
    assert 'flag.Bool("health_check"' in serve and "127.0.0.1:%d/healthz" in serve
    assert "ca-certificates.crt" in runtime


def test_build_context_leaves_out_local_state():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in (".git", ".venv", ".tf", ".cache", "out", "bin"):
        assert path in ignored, path
