package savedmodels

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tfgo-project/gotf/internal/suggest"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// ErrSignatureNotFound is returned for a signature key the model lacks.
var ErrSignatureNotFound = errors.New("savedmodels: signature not found")

// ErrBadInput wraps every error about the caller's inputs (as opposed to
// the model or TensorFlow), so servers can answer 400.
var ErrBadInput = errors.New("savedmodels: bad input")

// TensorInfo describes one input or output of a signature.
type TensorInfo struct {
	Name string // the signature's key for it
	// Tensor is the graph tensor the SignatureDef names
	// ("serving_default_x:0"), as TF Serving's metadata shows it.
	Tensor string
	DType  tfwrap.DType // 0 when the dtype is not one tfwrap converts
	Shape  []int64      // -1 for a dimension of any size; nil for any rank
	out    tfwrap.Output
}

// Output returns the graph tensor the signature names, for building on a
// loaded model's graph; invalid for a TensorInfo not read from a model.
func (t TensorInfo) Output() tfwrap.Output { return t.out }

// Signature is one entry point of a SavedModel.
type Signature struct {
	Key     string
	Method  string
	Inputs  []TensorInfo // sorted by name
	Outputs []TensorInfo // sorted by name
}

// Input returns the input called name.
func (s *Signature) Input(name string) (TensorInfo, bool) {
	for _, in := range s.Inputs {
		if in.Name == name {
			return in, true
		}
	}
	return TensorInfo{}, false
}

// Spec is the dtype and shape of a value a caller offers for an input.
type Spec struct {
	DType tfwrap.DType
	Shape []int64
}

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadInput}, args...)...)
}

// Check reports, naming the input and what was expected, the first of:
// a missing input, an unknown (misspelt or extra) one, a wrong dtype, a
// wrong rank, a fixed dimension of another size, or a dimension of size
// zero or less. It needs no TensorFlow.
func (s *Signature) Check(got map[string]Spec) error {
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := s.Input(n); !ok {
			msg := fmt.Sprintf("signature %q has no input %q", s.Key, n)
			if near := s.closest(n); near != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", near)
			}
			return badInput("%s; its inputs are %s", msg, s.inputNames())
		}
	}
	for _, in := range s.Inputs {
		g, ok := got[in.Name]
		if !ok {
			return badInput("signature %q needs input %q (%v%s), which is missing", s.Key, in.Name, in.DType, shapeText(in.Shape))
		}
		if err := s.checkOne(in, g); err != nil {
			return err
		}
	}
	return nil
}

// CheckInput checks one input as Check does, ignoring the others: an
// unknown name, a wrong dtype or rank, a fixed dimension of another size,
// or a dimension of size zero or less. Servers call it for each input's
// declared dtype and shape before decoding the input's values.
func (s *Signature) CheckInput(name string, got Spec) error {
	in, ok := s.Input(name)
	if !ok {
		return s.Check(map[string]Spec{name: got})
	}
	return s.checkOne(in, got)
}

func (s *Signature) checkOne(in TensorInfo, g Spec) error {
	if g.DType != in.DType {
		return badInput("input %q is %v, signature %q wants %v", in.Name, g.DType, s.Key, in.DType)
	}
	for i, d := range g.Shape {
		if d <= 0 {
			return badInput("input %q has shape %s: dimension %d is %d, want at least 1", in.Name, shape.String(g.Shape), i, d)
		}
	}
	if in.Shape == nil {
		return nil
	}
	if len(g.Shape) != len(in.Shape) {
		return badInput("input %q has rank %d (shape %s), signature %q wants rank %d %s",
			in.Name, len(g.Shape), shape.String(g.Shape), s.Key, len(in.Shape), shape.String(in.Shape))
	}
	for i, d := range in.Shape {
		if d >= 0 && g.Shape[i] != d {
			return badInput("input %q has shape %s: dimension %d is %d, signature %q wants %d (shape %s)",
				in.Name, shape.String(g.Shape), i, g.Shape[i], s.Key, d, shape.String(in.Shape))
		}
	}
	return nil
}

func shapeText(s []int64) string {
	if s == nil {
		return " of any shape"
	}
	return shape.String(s)
}

func (s *Signature) inputNames() string {
	var n []string
	for _, in := range s.Inputs {
		n = append(n, fmt.Sprintf("%q", in.Name))
	}
	return strings.Join(n, ", ")
}

// closest returns the input whose name is nearest to n, or "".
func (s *Signature) closest(n string) string {
	names := make([]string, len(s.Inputs))
	for i, in := range s.Inputs {
		names[i] = in.Name
	}
	return suggest.Closest(n, names)
}
