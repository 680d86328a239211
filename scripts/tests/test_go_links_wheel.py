"""Python-side checks that Go runs the TensorFlow release this venv holds:
the C library `gotf setup` unpacked from the same release's wheel."""
import os
import pathlib
import subprocess

import tensorflow as tf

ROOT = pathlib.Path(__file__).resolve().parents[2]


def go_run(*args):
    return subprocess.run(["go", "run", *args], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def test_go_sees_the_same_tensorflow():
    out = go_run("./cmd/tfcheck")
    assert f"libtensorflow {tf.__version__}" in out
    assert "device:CPU:0" in out


def test_go_binary_links_the_wheel_library():
    exe = ROOT / "out" / "tfcheck"
    subprocess.run(["go", "build", "-o", str(exe), "./cmd/tfcheck"], cwd=ROOT, check=True)
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    ldd = subprocess.run(["ldd", str(exe)], capture_output=True, text=True, check=True, env=env).stdout
    version = go_run("./cmd/gotf", "version")
    assert f"tensorflow {tf.__version__}" in version, version
    cache = next(l.split()[1] for l in version.splitlines() if l.startswith("cache "))
    tf_dir = pathlib.Path(tf.__file__).parent
    for lib in ("libtensorflow_cc.so.2", "libtensorflow_framework.so.2"):
        line = next(l for l in ldd.splitlines() if lib in l)
        assert f"{cache}/lib/{lib}" in line, line
        # The venv's copy of the same release: the same library, as shipped.
        assert (tf_dir / lib).exists(), tf_dir / lib
    # ... and runs without LD_LIBRARY_PATH.
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=env, check=True)
    assert tf.__version__ in run.stdout
