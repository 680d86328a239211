package metrics

import (
	"fmt"

	"github.com/tfgo-project/gotf/tfwrap"
)

// Metric is something reported per epoch besides the loss.
type Metric interface {
	// Name is the key in logs and history, e.g. "accuracy".
	Name() string
	// Check reports whether the metric fits the labels' dtype and the
	// per-sample output shape.
	Check(labels tfwrap.DType, out []int64) error
	// Build returns one float32 value per sample of the batch.
	Build(g *tfwrap.Graph, labels, pred tfwrap.Output) tfwrap.Output
}

// SparseCategoricalAccuracy is the fraction of samples whose highest score
// is at the integer label.
type SparseCategoricalAccuracy struct{}

// Name implements Metric.
func (SparseCategoricalAccuracy) Name() string { return "accuracy" }

// Check implements Metric.
func (SparseCategoricalAccuracy) Check(labels tfwrap.DType, out []int64) error {
	if labels != tfwrap.Int32 || len(out) != 1 {
		return fmt.Errorf("sparse categorical accuracy needs int32 labels and class scores, got %v labels and outputs %v", labels, out)
	}
	return nil
}

// Build implements Metric.
func (SparseCategoricalAccuracy) Build(g *tfwrap.Graph, labels, pred tfwrap.Output) tfwrap.Output {
	ids := g.Cast(g.Reshape(labels, -1), tfwrap.Int64)
	return g.Cast(g.Equal(g.ArgMax(pred, -1), ids), tfwrap.Float32)
}

// CategoricalAccuracy is the fraction of samples whose highest score is
// where the one-hot label's is.
type CategoricalAccuracy struct{}

// Name implements Metric.
func (CategoricalAccuracy) Name() string { return "accuracy" }

// Check implements Metric.
func (CategoricalAccuracy) Check(labels tfwrap.DType, out []int64) error {
	if labels != tfwrap.Float32 || len(out) != 1 {
		return fmt.Errorf("categorical accuracy needs float32 one-hot labels and class scores, got %v labels and outputs %v", labels, out)
	}
	return nil
}

// Build implements Metric.
func (CategoricalAccuracy) Build(g *tfwrap.Graph, labels, pred tfwrap.Output) tfwrap.Output {
	return g.Cast(g.Equal(g.ArgMax(pred, -1), g.ArgMax(labels, -1)), tfwrap.Float32)
}

// BinaryAccuracy is the fraction of outputs on the label's side of
// Threshold (0.5 when zero), averaged over the last axis.
type BinaryAccuracy struct{ Threshold float64 }

// Name implements Metric.
func (BinaryAccuracy) Name() string { return "accuracy" }

// Check implements Metric.
func (BinaryAccuracy) Check(labels tfwrap.DType, out []int64) error {
	if labels != tfwrap.Float32 || len(out) < 1 {
		return fmt.Errorf("binary accuracy needs float32 labels, got %v", labels)
	}
	return nil
}

// Build implements Metric.
func (m BinaryAccuracy) Build(g *tfwrap.Graph, labels, pred tfwrap.Output) tfwrap.Output {
	t := m.Threshold
	if t == 0 {
		t = 0.5
	}
	above := g.Cast(g.Greater(pred, g.Scalar(t, tfwrap.Float32)), tfwrap.Float32)
	return g.Mean(g.Cast(g.Equal(above, labels), tfwrap.Float32), -1)
}

// MeanAbsoluteError is mean(|labels - pred|) over the last axis.
type MeanAbsoluteError struct{}

// Name implements Metric.
func (MeanAbsoluteError) Name() string { return "mae" }

// Check implements Metric.
func (MeanAbsoluteError) Check(labels tfwrap.DType, out []int64) error {
	if labels != tfwrap.Float32 || len(out) < 1 {
		return fmt.Errorf("mean absolute error needs float32 labels shaped like the outputs, got %v", labels)
	}
	return nil
}

// Build implements Metric.
func (MeanAbsoluteError) Build(g *tfwrap.Graph, labels, pred tfwrap.Output) tfwrap.Output {
	return g.Mean(g.Abs(g.Sub(labels, pred)), -1)
}
