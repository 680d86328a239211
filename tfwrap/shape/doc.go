// Package shape holds the shape arithmetic that tfwrap checks in Go before
// TensorFlow sees a tensor: element counts without overflow, broadcasting,
// matrix-product shapes and compatibility with partly known shapes.
//
// It needs no libtensorflow, so its tests run in milliseconds. A dimension of
// -1 means "unknown" (TensorFlow's convention). All functions are pure and
// safe for concurrent use.
package shape
