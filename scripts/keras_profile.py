"""Traces Keras's own training steps the way cmd/bench traces Go's.

profile_fit(model, x, y, batch, steps) runs model.fit over `steps` batches
under tf.profiler and reads the XSpace it writes: the steps are the
`multi_step_on_iterator` events of the Python thread; the kernels are the
op events ("node:Type") of TensorFlow's executor threads inside them. As
tfwrap/profile counts Go's: kernel time is the ops' summed durations, busy
time the union of their intervals (ops that run at once on two cores count
once). Returns per step, in microseconds: wall (traced), busy, kernel, and
the kernel time of each op type.
"""
import collections
import glob
import os
import tempfile

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

STEP_EVENT = "multi_step_on_iterator"



def canonical(op):
    """The op type a kernel stands for on every CPU: oneDNN's
    _MklNativeFusedMatMul is _FusedMatMul, _MklMatMul is MatMul. The same
    rule as Go's tfwrap/profile.Canonical (its tests list the cases)."""
    for prefix in ("_MklNative", "_Mkl"):
        if op.startswith(prefix):
            rest = op[len(prefix):]
            ordinary = (rest.startswith("FusedBatchNorm") and not rest.startswith("FusedBatchNormEx")) \
                or rest in ("FusedPadConv2D", "FusedResizeAndPadConv2D")
            return "_" + rest if rest.startswith("Fused") and not ordinary else rest
    return op

def profile_fit(model, x, y, batch, steps):
    with tempfile.TemporaryDirectory() as logdir:
        n = batch * steps
        tf.profiler.experimental.start(logdir)
        try:
            model.fit(x[:n], y[:n], epochs=1, batch_size=batch, verbose=0)
        finally:
            tf.profiler.experimental.stop()
        files = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
        if not files:
            raise RuntimeError("tf.profiler wrote no xplane.pb")
        space = xplane_pb2.XSpace()
        with open(files[0], "rb") as f:
            space.ParseFromString(f.read())
    return summarize(space)


def summarize(space):
    host = next(p for p in space.planes if p.name == "/host:CPU")
    md = host.event_metadata

    def events(line):
        base = line.timestamp_ns * 1000
        for e in line.events:
            yield md[e.metadata_id].name, base + e.offset_ps, base + e.offset_ps + e.duration_ps

    step_windows = sorted((s, t) for line in host.lines for name, s, t in events(line) if name == STEP_EVENT)
    if not step_windows:
        raise RuntimeError("no %s events: is this Keras 3's TensorFlow backend?" % STEP_EVENT)
    ops = []  # (start, end, type)
    for line in host.lines:
        if not line.name.startswith("tf_Compute"):
            continue
        for name, s, t in events(line):
            node, sep, typ = name.rpartition(":")
            if sep and node.startswith("StatefulPartitionedCall"):
                ops.append((s, t, typ))
    kernel = busy = wall = 0
    by_type = collections.Counter()
    for s0, t0 in step_windows:
        wall += t0 - s0
        inside = sorted((s, t, typ) for s, t, typ in ops if s >= s0 and t <= t0)
        end = None
        for s, t, typ in inside:
            kernel += t - s
            by_type[typ] += t - s
            if end is None or s >= end:
                busy += t - s
                end = t
            elif t > end:
                busy += t - end
                end = t
    n = len(step_windows) * 1e6  # ps -> µs per step
    return {"steps": len(step_windows), "wall_us": wall / n, "busy_us": busy / n, "kernel_us": kernel / n,
            "ops": {k: v / n for k, v in by_type.items()}}
