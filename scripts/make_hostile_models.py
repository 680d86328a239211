"""Write tiny hostile SavedModels for the Go server's hostile test suite.

Usage: make_hostile_models.py OUT

Each model is written in TF Serving's layout, OUT/NAME/1/saved_model.pb plus
OUT/NAME/1/variables/ (empty: none of the models has variables), by the TF1
graph-mode builder (tf.compat.v1.saved_model.Builder), so that the init op is
exactly the graph's `main_op` and nothing else. Every model has the tag
"serve" and one signature, "serving_default", with method name
"tensorflow/serving/predict"; load it with TF_LoadSessionFromSavedModel or
tf.compat.v1.saved_model.loader.load and feed/fetch the signature's tensor
names. Output is deterministic (byte-identical across runs) and each model is
a few KB. Models and their contracts (a shape -1 is unknown, "?" is unknown
rank):

  good           x float32 [-1,4] -> y float32 [-1,4] = 2*x. No init op.
  abort_init     signature like good; its init op (main_op) is
                 tf.raw_ops.Abort, so loading kills the process with SIGABRT.
  abort_request  x float32 ? -> y float32 ? = 2*x for rank >= 1. A scalar x
                 kills the process with SIGABRT through a genuine TensorFlow
                 CHECK failure, not an Abort op: y = 2*x + min(|q|, 0) with
                 q = FakeQuantWithMinMaxVarsPerChannel(x), whose CPU
                 kernel calls dim_size(dims()-1) without checking the rank
                 ("Check failed: d >= 0 (-1 vs. 0)" in tensor_shape.cc,
                 TF 2.21.0; tensorflow/tensorflow#117842, #117852). Its min/max
                 are shaped like x's last dimension, so any rank >= 1 works.
                 Should a later TF validate the rank, a scalar would give
                 InvalidArgument instead (the test would say so).
  hang_init      signature like good; the init op is a while loop that never
                 ends (int64 i from 0 while i >= 0: i += 1). Loading never
                 returns and keeps one core busy.
  oom_init       signature like good; the init op sums a float32 fill of 2^31
                 elements (8 GiB) and feeds the sum to a stateful Assert, so
                 Grappler neither drops it nor constant-folds the fill (its
                 value is a seeded RandomUniform). Under an address-space cap
                 (prlimit --as=6000000000) the load fails with
                 ResourceExhausted ("OOM when allocating tensor with
                 shape[2147483648]"); uncapped it really allocates 8 GiB.
  runaway        n int64 [] -> y int64 []: a while loop (i from 0 while
                 i >= 0: i += 1, then y = i + n) that never ends whatever n
                 is; only the session's run timeout
                 (ConfigProto.operation_timeout_in_ms) ends it, with
                 DeadlineExceeded; the loop then stops using CPU and the
                 session stays usable.
  strlen         s string [-1] -> n int32 [-1] = the byte length of each s:
                 a model with a string input (broadcast string_val, batching).
  big_output     n int32 [1] -> y float32 [-1] = zeros([n[0]]): a tiny request
                 can ask for a huge response (n=[2**31-1] is 8 GiB).
  slow           x float32 [-1,4] -> y float32 [-1,4] = 2*x, computed after a
                 while loop of 400 dependent 256x256 float32 matmuls (0.25 to
                 0.4 s per run on the 2-core machine this was tuned on, with
                 TF's default threads or one; it scales with CPU speed);
                 y = 2*x + min(|m[0,0]|, 0) where m is the loop's result,
                 which starts from x so nothing is constant-folded.

scripts/tests/test_hostile_models.py builds and checks all of them.
"""
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")  # build_tensor_info's deprecation notice

v1 = tf.compat.v1

SLOW_ITERATIONS = 400
SLOW_SIZE = 256


def _xy_good():
    x = v1.placeholder(tf.float32, [None, 4], name="x")
    y = tf.multiply(x, 2.0, name="y")
    return {"x": x}, {"y": y}


def good():
    inputs, outputs = _xy_good()
    return inputs, outputs, None


def abort_init():
    inputs, outputs = _xy_good()
    init = tf.raw_ops.Abort(error_msg="abort_init: init op aborts on purpose",
                            exit_without_error=False, name="abort_init")
    return inputs, outputs, init


def abort_request():
    x = v1.placeholder(tf.float32, None, name="x")
    # Shape [last dim of x]; for a scalar x, tf.shape(x) is empty and the
    # slice clamps to an empty shape, so min/max are scalars and the kernel,
    # not an earlier shape op, sees the scalar input.
    channels = tf.shape(x)[-1:]
    lo = tf.fill(channels, -1.0)
    hi = tf.fill(channels, 1.0)
    check = tf.quantization.fake_quant_with_min_max_vars_per_channel(
        x, lo, hi, name="check_fails_on_scalar")
    y = tf.add(tf.multiply(x, 2.0), _zero_from(check), name="y")
    return {"x": x}, {"y": y}, None


def _must_run(t, name):
    """An init op that really computes t.

    Grappler's dependency optimizer turns a stateless node whose outputs are
    only consumed through control edges (as by tf.group) into a NoOp, so a
    group of a big reduce_sum would never allocate anything. Assert is
    stateful, so it stays, and t is its data input.
    """
    return tf.raw_ops.Assert(condition=tf.constant(True), data=[t], name=name)


def _zero_from(t):
    """Zeros shaped like t (broadcastable) that Grappler cannot see are zero.

    min(|t|, 0) is 0 for every finite (or infinite) t, and only a data edge
    keeps the op computing t in the graph (see _must_run): a control
    dependency on a stateless op is dropped.
    """
    return tf.minimum(tf.abs(t), 0.0)


def _endless(start):
    # i >= 0 stays true for 2^63 increments: centuries.
    (i,) = tf.while_loop(lambda i: i >= 0, lambda i: (i + 1,), (start,),
                         name="endless")
    return i


def hang_init():
    inputs, outputs = _xy_good()
    done = _endless(tf.constant(0, tf.int64))
    return inputs, outputs, _must_run(done, "hang_init")


def oom_init():
    inputs, outputs = _xy_good()
    # A constant fill value would let Grappler's constant folding try to
    # materialise the 8 GiB tensor as a Const itself; a (seeded) random value
    # is stateful, so the Fill kernel allocates at run time.
    one = tf.raw_ops.RandomUniform(shape=tf.constant([], tf.int32), dtype=tf.float32,
                                   seed=1, seed2=2) + 1.0
    big = tf.fill(tf.constant([2**31], tf.int64), one)  # float32, 8 GiB
    total = tf.reduce_sum(big)
    return inputs, outputs, _must_run(total, "oom_init")


def runaway():
    n = v1.placeholder(tf.int64, [], name="n")
    i = _endless(tf.zeros_like(n))
    y = tf.add(i, n, name="y")
    return {"n": n}, {"y": y}, None


def big_output():
    n = v1.placeholder(tf.int32, [1], name="n")
    y = tf.zeros(n, tf.float32, name="y")
    return {"n": n}, {"y": y}, None


def slow():
    x = v1.placeholder(tf.float32, [None, 4], name="x")
    # Start from a matrix that depends on x (so nothing is folded) but stays
    # finite whatever x holds; tanh keeps every iterate in [-1, 1].
    seed = tf.tanh(tf.reduce_sum(tf.where(tf.math.is_finite(x), x, 0.0)))
    m0 = tf.fill([SLOW_SIZE, SLOW_SIZE], seed)
    w = tf.fill([SLOW_SIZE, SLOW_SIZE], 1.0 / SLOW_SIZE)

    def body(k, m):
        return k + 1, tf.tanh(tf.matmul(m, w))

    _, m = tf.while_loop(lambda k, m: k < SLOW_ITERATIONS, body,
                         [tf.constant(0), m0], name="busy")
    y = tf.add(tf.multiply(x, 2.0), _zero_from(m[0, 0]), name="y")
    return {"x": x}, {"y": y}, None


def strlen():
    s = v1.placeholder(tf.string, [None], name="s")
    n = tf.strings.length(s, name="n")
    return {"s": s}, {"n": n}, None


MODELS = {
    "good": good,
    "strlen": strlen,
    "abort_init": abort_init,
    "abort_request": abort_request,
    "hang_init": hang_init,
    "oom_init": oom_init,
    "runaway": runaway,
    "big_output": big_output,
    "slow": slow,
}


def write_model(out, name, build):
    export = os.path.join(out, name, "1")
    if os.path.exists(export):
        shutil.rmtree(export)
    graph = tf.Graph()
    with graph.as_default():
        inputs, outputs, init = build()
        if init is not None and isinstance(init, tf.Tensor):
            init = init.op
        sig = v1.saved_model.signature_def_utils.build_signature_def(
            inputs={k: v1.saved_model.utils.build_tensor_info(t) for k, t in inputs.items()},
            outputs={k: v1.saved_model.utils.build_tensor_info(t) for k, t in outputs.items()},
            method_name="tensorflow/serving/predict")
        with v1.Session(graph=graph) as sess:
            builder = v1.saved_model.Builder(export)
            builder.add_meta_graph_and_variables(
                sess, ["serve"], signature_def_map={"serving_default": sig},
                main_op=init, strip_default_attrs=True)
            builder.save()
    os.makedirs(os.path.join(export, "variables"), exist_ok=True)
    return export


def main(argv):
    if len(argv) != 2:
        sys.exit(f"usage: {argv[0]} OUT")
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    for name, build in MODELS.items():
        export = write_model(out, name, build)
        size = sum(os.path.getsize(os.path.join(d, f))
                   for d, _, fs in os.walk(export) for f in fs)
        print(f"{name}: {export} ({size} bytes)")


if __name__ == "__main__":
    main(sys.argv)
