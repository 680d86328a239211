// Package tfwrap is the thin, error-returning layer over TensorFlow's C API
// (through github.com/galeone/tensorflow/tensorflow/go) on which the rest of
// this module stands. TensorFlow's own kernels do all the math.
//
// The pieces are those of TensorFlow 2's basics:
//
//   - Tensor: an immutable value with a dtype and shape, made from a flat Go
//     slice and read back as one (what .numpy() gives in Python). Its
//     elements live in Go memory: a Run copies each feed into a C tensor
//     for the step and copies each result out before it frees the C
//     tensor, so no Go code ever reads C memory that a finalizer may free,
//     and no C memory waits on Go's garbage collector;
//   - Graph: constants, placeholders, math with broadcasting, matmul,
//     reductions and casts, placed on a device with OnDevice;
//   - Variable: a resource variable with Assign, AssignAdd and a read;
//   - Tape: gradients as tf.GradientTape gives them, over TF's graph
//     gradients, with Watch for constants;
//   - Session: runs a graph, holds variable values, lists devices, and must
//     be closed;
//   - the ops the layers above need (Conv2D, pooling, BiasAdd, softmax and
//     its cross-entropy, FusedBatchNorm, OneHot, Gather, RandomUniform,
//     CheckNumerics) and TF's ResourceApply* training kernels;
//   - Saver (TF checkpoints through SaveV2/RestoreV2, each file and the folder fsynced before the rename that publishes it)
//     and SummaryWriter (TensorBoard events through TF's summary ops);
//   - the distributed runtime: Server (TF_NewServer: one task of a
//     cluster.Spec, which package cluster parses, validates and probes) and NewSessionOn (a
//     session through a task's master), with ops placed by OnDevice and
//     variables by WithVariableDevice on /job:J/task:I;
//   - interop with the Go bindings and tfgo (interop.go): WrapGraph,
//     WrapSession and TF() share graphs, operations and sessions both
//     ways; WrapTensor and Tensor.TF copy a tensor across; Scope and AddOp
//     reach every registered op, and Build runs tfgo code on a Graph,
//     turning its panics into Err.
//
// No function panics on bad input. Graph builders record the first error
// and return it from Graph.Err, NewSession and Tape.Gradient; shapes and
// dtypes are checked in Go before TensorFlow sees them, because some kernels
// abort the process on bad shapes.
package tfwrap
