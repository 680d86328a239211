"""Build the hostile SavedModels (scripts/make_hostile_models.py) and check
each one's contract in child Pythons that load it the TF1 way
(tf.compat.v1.saved_model.loader.load in a tf.compat.v1.Session), since
several of them are meant to kill or hang the process that loads them.

The signatures and the well-behaved runs share one child, run alone
because some runs are timed; the four that crash, hang or exhaust memory
then run side by side, so the hang's 10 s wait covers the others. Each
child imports TensorFlow (about 5 s of CPU), so that is most of the time.
"""
import json
import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "make_hostile_models.py"
PY = sys.executable
CAP = "6000000000"  # bytes of address space for oom_init's loader
HANG_WAIT = 10.0    # seconds hang_init's load must go on for

# Name -> (inputs, outputs, has an init op), each tensor as (dtype, shape),
# shape None for an unknown rank.
SIGNATURES = {
    "good": ({"x": ("DT_FLOAT", [-1, 4])}, {"y": ("DT_FLOAT", [-1, 4])}, False),
    "abort_init": ({"x": ("DT_FLOAT", [-1, 4])}, {"y": ("DT_FLOAT", [-1, 4])}, True),
    "abort_request": ({"x": ("DT_FLOAT", None)}, {"y": ("DT_FLOAT", None)}, False),
    "hang_init": ({"x": ("DT_FLOAT", [-1, 4])}, {"y": ("DT_FLOAT", [-1, 4])}, True),
    "oom_init": ({"x": ("DT_FLOAT", [-1, 4])}, {"y": ("DT_FLOAT", [-1, 4])}, True),
    "runaway": ({"n": ("DT_INT64", [])}, {"y": ("DT_INT64", [])}, False),
    "big_output": ({"n": ("DT_INT32", [1])}, {"y": ("DT_FLOAT", [-1])}, False),
    "slow": ({"x": ("DT_FLOAT", [-1, 4])}, {"y": ("DT_FLOAT", [-1, 4])}, False),
    "strlen": ({"s": ("DT_STRING", [-1])}, {"n": ("DT_INT32", [-1])}, False),
}

# The child: `child.py benign|load|scalar MODELS [NAME]`. Prints
# "loading" just before the (possibly fatal) load and a JSON line at the end.
CHILD = r'''
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2
tf.get_logger().setLevel("ERROR")
v1 = tf.compat.v1
mode, root = sys.argv[1], sys.argv[2]


def load(name, timeout_ms=0):
    sess = v1.Session(graph=tf.Graph(),
                      config=v1.ConfigProto(operation_timeout_in_ms=timeout_ms))
    meta = v1.saved_model.loader.load(sess, ["serve"], os.path.join(root, name, "1"))
    sig = meta.signature_def["serving_default"]
    def run(value):
        key = next(iter(sig.inputs))
        return sess.run(sig.outputs["y"].name, {sig.inputs[key].name: value})
    return sess, run


def describe():
    out = {}
    for name in sorted(os.listdir(root)):
        sm = saved_model_pb2.SavedModel()
        with open(os.path.join(root, name, "1", "saved_model.pb"), "rb") as f:
            sm.ParseFromString(f.read())
        (mg,) = sm.meta_graphs
        sig = mg.signature_def["serving_default"]
        def spec(infos):
            return {k: (types_pb2.DataType.Name(i.dtype),
                        None if i.tensor_shape.unknown_rank else
                        [d.size for d in i.tensor_shape.dim])
                    for k, i in infos.items()}
        out[name] = {"tags": list(mg.meta_info_def.tags),
                     "signatures": sorted(mg.signature_def),
                     "method": sig.method_name,
                     "inputs": spec(sig.inputs), "outputs": spec(sig.outputs),
                     "init_op": "saved_model_main_op" in mg.collection_def}
    return out


def benign():
    res = {"describe": describe()}
    x = np.arange(12, dtype=np.float32).reshape(3, 4) - 5
    _, run = load("good")
    res["good"] = run(x).tolist()
    _, run = load("abort_request")
    res["abort_request"] = {str(v.shape): (run(v) == 2 * v).all().item()
                            for v in (x[:1], x[0], x.reshape(3, 1, 4), x[:0])}
    _, run = load("big_output")
    y = run(np.array([5], np.int32))
    res["big_output"] = {"dtype": str(y.dtype), "shape": list(y.shape), "values": y.tolist()}
    _, run = load("slow")
    times = []
    for _ in range(3):
        t = time.monotonic()
        y = run(x)
        times.append(time.monotonic() - t)
    res["slow"] = {"times": times, "ok": (y == 2 * x).all().item()}
    _, run = load("runaway", timeout_ms=500)
    tries = []
    for n in (3, -7):
        t = time.monotonic()
        try:
            run(np.int64(n))
            err = None
        except tf.errors.OpError as e:
            err = type(e).__name__
        elapsed = time.monotonic() - t
        c = time.process_time()
        time.sleep(0.5)
        tries.append({"error": err, "seconds": elapsed,
                      "cpu_after": time.process_time() - c})
    res["runaway"] = tries
    return res


if mode == "benign":
    print(json.dumps(benign()))
elif mode == "load":
    print("loading", flush=True)
    t = time.monotonic()
    try:
        load(sys.argv[3])
    except tf.errors.OpError as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e).splitlines()[0],
                          "seconds": time.monotonic() - t}), flush=True)
        sys.exit(3)
    print(json.dumps({"loaded": time.monotonic() - t}), flush=True)
elif mode == "scalar":
    _, run = load("abort_request")
    print("loading", flush=True)  # here: the fatal step is the run
    print(json.dumps({"returned": run(np.float32(1.5)).tolist()}), flush=True)
'''


def last_json(text):
    lines = [l for l in text.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def describe_exit(rc):
    if rc is None:
        return "still running"
    if rc < 0:
        return f"killed by {signal.Signals(-rc).name} ({rc})"
    return f"exit {rc}"


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    (d / "child.py").write_text(CHILD)
    return d


@pytest.fixture(scope="module")
def models(work):
    """Two builds side by side: the test uses the first, and compares both."""
    t = time.monotonic()
    outs = [work / "models", work / "models_again"]
    procs = [subprocess.Popen([PY, str(SCRIPT), str(o)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for o in outs]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
    print(f"built twice in {time.monotonic() - t:.1f}s")
    return outs


def test_files_deterministic_and_small(models):
    a, b = models
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(SIGNATURES)
    for name in names:
        exp = a / name / "1"
        assert (exp / "saved_model.pb").is_file() and (exp / "variables").is_dir()
        files = sorted(p.relative_to(a) for p in (a / name).rglob("*") if p.is_file())
        again = sorted(p.relative_to(b) for p in (b / name).rglob("*") if p.is_file())
        assert files == again, name
        size = 0
        for f in files:
            assert (a / f).read_bytes() == (b / f).read_bytes(), f"{f} differs between builds"
            size += (a / f).stat().st_size
        assert size < 100_000, (name, size)


def test_signatures(benign):
    got = benign["describe"]
    for name, (inputs, outputs, init) in SIGNATURES.items():
        g = got[name]
        assert g["tags"] == ["serve"], name
        assert g["signatures"] == ["serving_default"], name
        assert g["method"] == "tensorflow/serving/predict", name
        assert g["inputs"] == {k: list(v) for k, v in inputs.items()}, name
        assert g["outputs"] == {k: list(v) for k, v in outputs.items()}, name
        assert g["init_op"] == init, name


@pytest.fixture(scope="module")
def benign(models, work):
    r = subprocess.run([PY, str(work / "child.py"), "benign", str(models[0])],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"{describe_exit(r.returncode)}\n{r.stderr[-3000:]}"
    res = last_json(r.stdout)
    print("benign:", json.dumps({k: v for k, v in res.items() if k != "describe"}))
    return res


def test_good(benign):
    x = [[i - 5.0 for i in range(r * 4, r * 4 + 4)] for r in range(3)]
    assert benign["good"] == [[2 * v for v in row] for row in x]


def test_abort_request_doubles_any_rank_above_zero(benign):
    assert benign["abort_request"] == {"(1, 4)": True, "(4,)": True,
                                       "(3, 1, 4)": True, "(0, 4)": True}


def test_big_output(benign):
    assert benign["big_output"] == {"dtype": "float32", "shape": [5], "values": [0.0] * 5}


def test_slow(benign):
    s = benign["slow"]
    assert s["ok"]
    median = sorted(s["times"])[1]
    # About 300 ms where it was tuned; the bounds only catch a loop that
    # Grappler removed or a machine far too loaded to time anything.
    assert 0.1 < median < 5.0, s["times"]


def test_runaway_ends_at_the_run_timeout(benign):
    for t in benign["runaway"]:
        assert t["error"] == "DeadlineExceededError", t
        assert 0.45 < t["seconds"] < 3.0, t
        assert t["cpu_after"] < 0.25, f"the loop still burns CPU after the timeout: {t}"


def read_line(proc, want, timeout):
    """Waits for a stdout line starting with want; False at EOF or timeout."""
    end = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            return False
        buf += chunk
        if any(l.startswith(want.encode()) for l in buf.split(b"\n")):
            return True
    return False


@pytest.fixture(scope="module")
def hostile(models, work, benign):
    """Runs the four fatal children at once (after the timed benign child);
    returns name -> (exit status or None, stdout tail, stderr tail, note)."""
    root = str(models[0])
    prlimit = shutil.which("prlimit")
    specs = {
        "abort_init": ([], ["load", root, "abort_init"]),
        "abort_request_scalar": ([], ["scalar", root]),
        "hang_init": ([], ["load", root, "hang_init"]),
    }
    if prlimit:
        specs["oom_init"] = ([prlimit, f"--as={CAP}"], ["load", root, "oom_init"])
    procs, logs = {}, {}
    for name, (prefix, args) in specs.items():
        logs[name] = open(work / f"{name}.stderr", "w+")
        procs[name] = subprocess.Popen([*prefix, PY, str(work / "child.py"), args[0], *args[1:]],
                                       stdout=subprocess.PIPE, stderr=logs[name])
    results = {}
    try:
        hang = procs["hang_init"]
        started = read_line(hang, "loading", timeout=90)
        t = time.monotonic()
        if started:
            try:
                hang.wait(timeout=HANG_WAIT)
            except subprocess.TimeoutExpired:
                pass
        note = f"load ran {time.monotonic() - t:.1f}s" if started else "never reached the load"
        results["hang_init"] = (hang.poll(), "", "", note)
        for name, p in procs.items():
            if name == "hang_init":
                continue
            t = time.monotonic()
            try:
                out, _ = p.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            logs[name].seek(0)
            err = logs[name].read()
            results[name] = (p.returncode, out.decode(errors="replace")[-2000:],
                             err[-2000:], "")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stdout:
                p.stdout.close()
        for f in logs.values():
            f.close()
    print("hostile:", {k: (describe_exit(v[0]), v[3]) for k, v in results.items()})
    return results


def test_abort_init_dies_by_sigabrt(hostile):
    rc, out, err, _ = hostile["abort_init"]
    assert rc == -signal.SIGABRT, f"{describe_exit(rc)}\n{out}\n{err}"
    assert "loading" in out and "loaded" not in out
    assert "Abort_op intentional failure" in err


def test_abort_request_scalar_dies_by_a_check_failure(hostile):
    rc, out, err, _ = hostile["abort_request_scalar"]
    assert rc == -signal.SIGABRT, f"{describe_exit(rc)}\n{out}\n{err}"
    assert "returned" not in out
    assert "Check failed" in err, err


def test_hang_init_never_returns(hostile):
    rc, _, _, note = hostile["hang_init"]
    assert rc is None, f"hang_init's loader ended: {describe_exit(rc)} ({note})"
    assert note.startswith("load ran"), note


def test_oom_init_fails_under_an_address_space_cap(hostile):
    if "oom_init" not in hostile:
        pytest.skip("prlimit is not installed")
    rc, out, err, _ = hostile["oom_init"]
    assert rc != 0, f"oom_init loaded under a {CAP}-byte cap:\n{out}"
    res = last_json(out)
    if res is not None:  # an error, not a death
        assert "loaded" not in res
        assert res["error"] == "ResourceExhaustedError", res
