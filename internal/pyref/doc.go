// Package pyref runs the Python TensorFlow reference scripts under
// scripts/reference from Go tests: JSON in on stdin, JSON out on stdout,
// with the interpreter of the project's .venv (GOTF_PYTHON overrides it).
// Tests compare what Go computes with what Python TensorFlow computes.
package pyref
