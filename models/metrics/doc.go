// Package metrics holds the Keras metrics of models.Sequential. Each yields
// one value per sample, in the graph; the model sums them over an epoch and
// reports the mean, as Keras's stateful metrics do.
package metrics
