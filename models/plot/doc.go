// Package plot draws a model's learning curves (loss and accuracy per
// epoch, training against validation) to a PNG file with gonum/plot.
package plot
