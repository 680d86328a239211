// Package optimizers holds the optimizers of models.Sequential. Their
// updates run in TensorFlow's own training kernels (ResourceApply*), with
// Keras 3's formulas and defaults.
//
// An optimizer value is built into one model's graph: give each model its
// own. Its learning rate lives in a TF variable, so it can be lowered
// between fits without rebuilding (fine-tuning).
//
// Every constructor takes Keras's common arguments as options: ClipNorm,
// ClipValue, GlobalClipNorm, WeightDecay, and WithSchedule for a learning
// rate that follows the step (ExponentialDecay, PiecewiseConstantDecay,
// CosineDecay, CosineDecayWarmup), computed in the graph:
//
//	opt := optimizers.AdamW(0.001, 0.004, optimizers.GlobalClipNorm(1),
//		optimizers.WithSchedule(optimizers.CosineDecayWarmup(0, 1000, 0, 0.001, 100)))
//
// With a schedule, the learning-rate variable (and so a callback that sets
// it) has no effect.
package optimizers
