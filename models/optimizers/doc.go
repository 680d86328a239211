// Package optimizers holds the optimizers of models.Sequential. Their
// updates run in TensorFlow's own training kernels (ResourceApply*), with
// Keras 3's formulas and defaults.
//
// An optimizer value is built into one model's graph: give each model its
// own. Its learning rate lives in a TF variable, so it can be lowered
// between fits without rebuilding (fine-tuning).
package optimizers
