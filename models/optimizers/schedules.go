package optimizers

import (
	"fmt"
	"math"

	"github.com/tfgo-project/gotf/tfwrap"
)

// Schedule is a learning rate that changes with the step, computed in the
// graph from the optimizer's iteration count, as Keras's
// LearningRateSchedule. Pass one with WithSchedule.
type Schedule interface {
	// Initial is the rate at step 0.
	Initial() float64
	// rate builds the rate at step (float32, the iterations done before
	// this update).
	rate(g *tfwrap.Graph, step tfwrap.Output) tfwrap.Output
	check() error
}

type exponentialDecay struct {
	initial, rate0 float64
	steps          int64
	staircase      bool
}

// ExponentialDecay is initial·rate^(step/steps), the exponent floored when
// staircase is set (Keras's ExponentialDecay).
func ExponentialDecay(initial float64, steps int64, rate float64, staircase bool) Schedule {
	return &exponentialDecay{initial: initial, steps: steps, rate0: rate, staircase: staircase}
}

func (s *exponentialDecay) Initial() float64 { return s.initial }

func (s *exponentialDecay) check() error {
	if !(s.initial > 0) || s.steps <= 0 || !(s.rate0 > 0) {
		return fmt.Errorf("ExponentialDecay(%v, %d, %v): the initial rate, steps and decay rate must be positive", s.initial, s.steps, s.rate0)
	}
	return nil
}

func (s *exponentialDecay) rate(g *tfwrap.Graph, step tfwrap.Output) tfwrap.Output {
	p := g.Div(step, f32(g, float64(s.steps)))
	if s.staircase {
		p = g.Apply("Floor", nil, p)
	}
	return g.Mul(f32(g, s.initial), g.Pow(f32(g, s.rate0), p))
}

type piecewise struct {
	boundaries []int64
	values     []float64
}

// PiecewiseConstantDecay is values[0] up to and including step
// boundaries[0], values[1] up to boundaries[1], ..., and the last value
// after the last boundary (Keras's PiecewiseConstantDecay).
func PiecewiseConstantDecay(boundaries []int64, values []float64) Schedule {
	return &piecewise{boundaries: append([]int64(nil), boundaries...), values: append([]float64(nil), values...)}
}

func (s *piecewise) Initial() float64 {
	if len(s.values) == 0 {
		return 0
	}
	return s.values[0]
}

func (s *piecewise) check() error {
	if len(s.boundaries) == 0 || len(s.values) != len(s.boundaries)+1 {
		return fmt.Errorf("PiecewiseConstantDecay: %d boundaries need %d values, got %d", len(s.boundaries), len(s.boundaries)+1, len(s.values))
	}
	for i := 1; i < len(s.boundaries); i++ {
		if s.boundaries[i] <= s.boundaries[i-1] {
			return fmt.Errorf("PiecewiseConstantDecay: boundaries %v must increase", s.boundaries)
		}
	}
	for _, v := range s.values {
		if !(v > 0) {
			return fmt.Errorf("PiecewiseConstantDecay: values %v must be positive", s.values)
		}
	}
	return nil
}

func (s *piecewise) rate(g *tfwrap.Graph, step tfwrap.Output) tfwrap.Output {
	in := func(lowOK bool, low float64, high float64) tfwrap.Output {
		c := g.Apply("LessEqual", nil, step, f32(g, high))
		if lowOK {
			c = g.Apply("LogicalAnd", nil, g.Apply("Greater", nil, step, f32(g, low)), c)
		}
		return g.Cast(c, tfwrap.Float32)
	}
	b := s.boundaries
	r := g.Mul(in(false, 0, float64(b[0])), f32(g, s.values[0]))
	last := g.Cast(g.Apply("Greater", nil, step, f32(g, float64(b[len(b)-1]))), tfwrap.Float32)
	r = g.Add(r, g.Mul(last, f32(g, s.values[len(s.values)-1])))
	for i := 1; i < len(b); i++ {
		r = g.Add(r, g.Mul(in(true, float64(b[i-1]), float64(b[i])), f32(g, s.values[i])))
	}
	return r
}

type cosineDecay struct {
	initial, alpha, target float64
	steps, warmup          int64
	hasTarget              bool
}

// CosineDecay decays initial to initial·alpha along half a cosine over
// steps, then stays there (Keras's CosineDecay without warm-up).
func CosineDecay(initial float64, steps int64, alpha float64) Schedule {
	return &cosineDecay{initial: initial, steps: steps, alpha: alpha}
}

// CosineDecayWarmup first rises linearly from initial to target over
// warmup steps, then decays target along half a cosine over steps (Keras's
// CosineDecay with warmup_target and warmup_steps).
func CosineDecayWarmup(initial float64, steps int64, alpha, target float64, warmup int64) Schedule {
	return &cosineDecay{initial: initial, steps: steps, alpha: alpha, target: target, warmup: warmup, hasTarget: true}
}

func (s *cosineDecay) Initial() float64 { return s.initial }

func (s *cosineDecay) check() error {
	if s.initial < 0 || s.steps <= 0 || s.alpha < 0 || s.alpha > 1 || s.warmup < 0 || (s.hasTarget && !(s.target > 0)) {
		return fmt.Errorf("CosineDecay: need initial ≥ 0, steps > 0, alpha in [0, 1], warmup ≥ 0 and a positive target; got %+v", *s)
	}
	if !s.hasTarget && !(s.initial > 0) {
		return fmt.Errorf("CosineDecay: the initial rate must be positive, got %v", s.initial)
	}
	return nil
}

func (s *cosineDecay) decay(g *tfwrap.Graph, step, from tfwrap.Output) tfwrap.Output {
	frac := g.Div(step, f32(g, float64(s.steps)))
	cos := g.Mul(f32(g, 0.5), g.Add(f32(g, 1), g.Apply("Cos", nil, g.Mul(f32(g, math.Pi), frac))))
	return g.Mul(from, g.Add(g.Mul(f32(g, 1-s.alpha), cos), f32(g, s.alpha)))
}

func (s *cosineDecay) rate(g *tfwrap.Graph, step tfwrap.Output) tfwrap.Output {
	if !s.hasTarget {
		return s.decay(g, g.Apply("Minimum", nil, step, f32(g, float64(s.steps))), f32(g, s.initial))
	}
	w := f32(g, float64(s.warmup))
	step = g.Apply("Minimum", nil, step, f32(g, float64(s.steps+s.warmup)))
	decayed := s.decay(g, g.Sub(step, w), f32(g, s.target))
	if s.warmup == 0 {
		return decayed
	}
	warm := g.Add(g.Mul(f32(g, s.target-s.initial), g.Div(step, w)), f32(g, s.initial))
	return g.Apply("SelectV2", nil, g.Apply("Less", nil, step, w), warm, decayed)
}
