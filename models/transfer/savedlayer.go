package transfer

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/tfwrap"
)

// SavedModelLayer is a frozen layer that computes one signature of a
// SavedModel (a keras.applications model exported with model.export or
// scripts/export_keras_app.py, say) inside a Go model: the signature's ops
// and functions are built into the model's graph (savedmodels.ExtractCall,
// tfwrap.Graph.Import), and the variables they read become the model's
// own, not trainable, holding the SavedModel's values. So the model trains
// a head on the backbone's features in one graph, saves checkpoints, and
// exports as one SavedModel, images in and classes out, that Python and
// TF Serving load with the backbone inside.
//
// The layer cannot be fine-tuned: the SavedModel's functions have no
// gradients Go can build, and its layers are not visible. Fine-tuning
// needs the model as a .keras file (kerasfile) or the project's backbone
// format. The signature runs in the mode it was exported in (Keras
// exports inference: BatchNormalization's moving statistics, no dropout).
func SavedModelLayer(dir string, o SavedModelOptions) (layers.Layer, error) {
	call, err := savedmodels.ExtractCall(dir, o.Signature, o.Output)
	if err != nil {
		return nil, fmt.Errorf("transfer: %w", err)
	}
	in, out := call.Input.Shape, call.Output.Shape
	if call.Input.DType != tfwrap.Float32 || len(in) < 2 || in[0] != -1 || slices.Contains(in[1:], -1) {
		return nil, fmt.Errorf("transfer: %s: the signature's input %q is %v %v; a backbone layer takes float32 of a known shape per sample, (None, …)", dir, call.Input.Name, call.Input.DType, in)
	}
	if call.Output.DType != tfwrap.Float32 || len(out) < 2 || slices.Contains(out[1:], -1) {
		return nil, fmt.Errorf("transfer: %s: the signature's output %q is %v %v; a backbone layer gives float32 of a known shape per sample", dir, call.Output.Name, call.Output.DType, out)
	}
	return &savedLayer{name: o.Name, call: call, dir: dir, in: in[1:], out: out[1:]}, nil
}

// SavedModelOptions choose what SavedModelLayer takes of a SavedModel.
type SavedModelOptions struct {
	Signature string // the signature key; "serving_default" when empty
	Output    string // the signature's output; its only one when empty
	Name      string // the layer's name; "" lets the model name it
}

type savedLayer struct {
	name    string
	dir     string
	call    *savedmodels.Call
	in, out []int64
	vars    []*tfwrap.Variable
}

func (l *savedLayer) Name() string        { return l.name }
func (l *savedLayer) Type() string        { return "SavedModel" }
func (l *savedLayer) SetName(name string) { l.name = name }

func (l *savedLayer) OutputShape(in []int64) ([]int64, error) {
	if !slices.Equal(in, l.in) {
		return nil, fmt.Errorf("%s: the SavedModel takes per-sample shape %v, got %v", l.name, l.in, in)
	}
	return slices.Clone(l.out), nil
}

func (l *savedLayer) ParamCount(in []int64) (int64, int64) {
	n := int64(0)
	for _, v := range l.call.Vars {
		k := int64(1)
		for _, d := range v.Value.Shape() {
			k *= d
		}
		n += k
	}
	return 0, n
}

// badVarChars are the characters of a node name that a variable's name
// may not hold; each becomes '_'.
var badVarChars = regexp.MustCompile(`[^A-Za-z0-9_./-]`)

func (l *savedLayer) Forward(ctx *layers.Context, x tfwrap.Output) (tfwrap.Output, error) {
	g := ctx.Graph
	if s := x.Shape(); len(s) < 1 || !slices.Equal(s[1:], l.in) {
		return tfwrap.Output{}, fmt.Errorf("layer %s: input %v, want per-sample shape %v", l.name, x, l.in)
	}
	if l.vars == nil {
		for _, v := range l.call.Vars {
			l.vars = append(l.vars, g.Variable(badVarChars.ReplaceAllString(v.Node, "_"), v.Value, tfwrap.NotTrainable()))
		}
		if err := g.Err(); err != nil {
			return tfwrap.Output{}, fmt.Errorf("layer %s: %w", l.name, err)
		}
	}
	inputs := map[string]tfwrap.Output{l.call.Input.Tensor: x}
	for i, v := range l.call.Vars {
		inputs[v.Node+":0"] = l.vars[i].Handle()
	}
	outs, err := g.Import(l.call.GraphDef, "savedmodel", inputs, l.call.Output.Tensor)
	if err != nil {
		return tfwrap.Output{}, fmt.Errorf("layer %s: %s: %w", l.name, l.dir, err)
	}
	// The call's shape is unknown to TensorFlow's shape inference: give it
	// the signature's, which the layers after it build on, with the
	// input's batch size, so that a signature that does not keep one row
	// per input row is a run's error, not rows of another meaning.
	dims := make([]int32, len(l.out))
	for i, d := range l.out {
		dims[i] = int32(d)
	}
	perSample, err := tfwrap.NewTensor(dims, int64(len(dims)))
	if err != nil {
		return tfwrap.Output{}, err
	}
	i32 := func(v int32) tfwrap.Output { t, _ := tfwrap.NewTensor([]int32{v}, 1); return g.Const(t) }
	batch := g.Slice(g.ShapeOf(x), i32(0), i32(1))
	shape := g.Apply("ConcatV2", nil, tfwrap.OutputList{batch, g.Const(perSample)}, g.Scalar(0, tfwrap.Int32))
	y := g.Apply("Reshape", nil, outs[0], shape)
	if err := g.Err(); err != nil {
		return tfwrap.Output{}, fmt.Errorf("layer %s: %w", l.name, err)
	}
	if s := y.Shape(); len(s) != len(l.out)+1 || !slices.Equal(s[1:], l.out) {
		return tfwrap.Output{}, fmt.Errorf("layer %s: output shape %v, want (None, %v)", l.name, s, l.out)
	}
	return y, nil
}

func (l *savedLayer) Weights() []*tfwrap.Variable { return slices.Clone(l.vars) }

func (l *savedLayer) Config() layers.Config { return layers.Config{Type: "SavedModel", Name: l.name} }

// isSavedModel reports whether dir is a SavedModel folder rather than the
// project's backbone format (backbone.json beside a savedmodel/ folder).
func isSavedModel(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "backbone.json")); err == nil {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "saved_model.pb"))
	return err == nil
}
