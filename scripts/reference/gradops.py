"""Reference: gradients of the expressions in tfwrap's gradfuncs_test.go.

Reads {"cases": [{"name", "vars", "inputs": [[...]], "dims": [[...]]}]} and
prints {name: {"value": float, "grads": [[...], ...]}}. Each case's target
is reduce_sum(sin(out)), taken in float64 with tf.GradientTape; inputs are
watched constants, or tf.Variables when "vars" is set. A gradient that
TensorFlow leaves unconnected (None) is reported as zeros.
"""
import json
import sys

import tensorflow as tf

raw = tf.raw_ops


def i32(v, shape=None):
    return tf.constant(v, dtype=tf.int32, shape=shape)


def dense(x, w, b):
    return tf.nn.bias_add(tf.matmul(x, w), b)


def identity_n(x):
    a, b = raw.IdentityN(input=[x[0], x[1]])
    return a * tf.exp(b)


def dense_sparse_xent(x):
    h = tf.tanh(dense(x[0], x[1], x[2]))
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=i32([1, 4, 0]), logits=h * tf.sigmoid(h))


def layernorm_erfc(x):
    m = tf.reduce_mean(x[0], axis=1, keepdims=True)
    v = tf.reduce_mean(tf.math.squared_difference(x[0], m), axis=1, keepdims=True)
    return tf.math.erfc((x[0] - m) * tf.math.rsqrt(v + 1e-3))


def conv1d_xlogy(x):
    c = tf.nn.conv2d(tf.expand_dims(x[0], 1), x[1], strides=1, padding="SAME")
    return tf.math.xlogy(tf.squeeze(c, axis=1), tf.nn.softplus(x[0]))


def cpp_only_activations(x):
    a = tf.nn.elu(x[0]) + tf.nn.selu(x[0])
    return (a + tf.math.erf(x[0])) * tf.nn.softsign(x[0])


SEG = dict(indices=i32([0, 2, 2, 4]), segment_ids=i32([0, 0, 1, 2]))

EXPRS = {
    "sparse_xent": lambda x: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=i32([0, 3, 4, 3]), logits=x[0]),
    "resource_gather": lambda x: tf.gather(x[0], i32([1, 4, 1, 0, 5, 1], [2, 3])),
    "ensure_shape": lambda x: tf.ensure_shape(x[0], [2, 3]) * x[0],
    "placeholder_with_default": lambda x: tf.square(raw.PlaceholderWithDefault(input=x[0], shape=[2, 2])),
    "identity_n": identity_n,
    "erfc": lambda x: tf.math.erfc(x[0]),
    "relu": lambda x: tf.nn.relu(x[0]) * x[0],
    "relu6": lambda x: tf.nn.relu6(x[0]) * x[0],
    "xlogy": lambda x: tf.math.xlogy(x[0], x[1]),
    "xdivy": lambda x: tf.math.xdivy(x[1], x[0] + 0.0),
    "xlog1py": lambda x: tf.math.xlog1py(x[0], x[1]),
    "floormod": lambda x: tf.math.floormod(x[0], x[1]),
    "cumprod": lambda x: tf.math.cumprod(x[0], axis=1, exclusive=True),
    "cumprod_reverse": lambda x: tf.math.cumprod(x[0], axis=0, reverse=True),
    "tensor_scatter_add": lambda x: tf.tensor_scatter_nd_add(x[0], i32([[3], [1]]), x[1]),
    "tensor_scatter_sub": lambda x: tf.tensor_scatter_nd_sub(x[0], i32([[0], [2]]), x[1]),
    "tensor_scatter_update": lambda x: tf.tensor_scatter_nd_update(x[0], i32([[2], [1]]), x[1]),
    "sparse_segment_sum": lambda x: tf.sparse.segment_sum(x[0], **SEG),
    "sparse_segment_mean": lambda x: tf.sparse.segment_mean(x[0], **SEG),
    "sparse_segment_sqrt_n": lambda x: tf.sparse.segment_sqrt_n(x[0], **SEG),
    "round_rint_ceil": lambda x: x[0] * (tf.round(x[0]) + tf.math.rint(x[0]) + tf.math.ceil(x[0])),
    "floordiv_oneslike": lambda x: (x[0] + tf.ones_like(x[0])) * tf.math.floordiv(x[0], x[1]),
    "dense_sparse_xent": dense_sparse_xent,
    "embedding_dense": lambda x: tf.matmul(tf.gather(x[0], i32([6, 2, 2, 0])), x[1]) + tf.reduce_sum(x[0]),
    "layernorm_erfc": layernorm_erfc,
    "conv1d_xlogy": conv1d_xlogy,
    "cpp_only_activations": cpp_only_activations,
}


def main():
    cfg = json.load(sys.stdin)
    out = {}
    for c in cfg["cases"]:
        vals = [tf.constant(v, dtype=tf.float64, shape=d) for v, d in zip(c["inputs"], c["dims"])]
        if c["vars"]:
            xs = [tf.Variable(v) for v in vals]
        else:
            xs = vals
        with tf.GradientTape() as tape:
            for x in xs:
                tape.watch(x)
            y = tf.reduce_sum(tf.sin(EXPRS[c["name"]](xs)))
        grads = tape.gradient(y, xs, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        out[c["name"]] = {
            "value": float(y),
            "grads": [tf.reshape(tf.convert_to_tensor(g), [-1]).numpy().tolist() for g in grads],
        }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
