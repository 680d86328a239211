package tfwrap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	tf "github.com/galeone/tensorflow/tensorflow/go"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"
)

// TensorSpec describes one input or output of a SavedModel signature.
type TensorSpec struct {
	Key   string  // the signature's name for it, e.g. "inputs"
	DType DType   // 0 when tfwrap does not support the dtype
	Shape []int64 // -1 for unknown dimensions; nil for unknown rank
	out   Output
}

// Output returns the graph tensor the spec stands for.
func (s TensorSpec) Output() Output { return s.out }

// Signature is one of a SavedModel's entry points, e.g. "serving_default".
type Signature struct {
	Key     string
	Method  string
	Inputs  []TensorSpec // sorted by Key
	Outputs []TensorSpec // sorted by Key
}

// SavedModel is a SavedModel loaded into a Session. Close it.
type SavedModel struct {
	Session    *Session
	Signatures map[string]*Signature
}

// LoadSavedModel loads the SavedModel in dir with the given tags ("serve"
// when none are given). A missing folder, a missing or truncated
// saved_model.pb, missing variables or an unknown tag give an error.
func LoadSavedModel(dir string, tags ...string) (*SavedModel, error) {
	return LoadSavedModelWith(dir, tags)
}

// LoadSavedModelWith is LoadSavedModel with session options (a run
// timeout, thread counts) for the model's Session.
func LoadSavedModelWith(dir string, tags []string, opts ...SessionOption) (*SavedModel, error) {
	if len(tags) == 0 {
		tags = []string{"serve"}
	}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("tfwrap: load saved model: %q is not a folder", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "saved_model.pb")); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, "saved_model.pbtxt")); err2 != nil {
			return nil, fmt.Errorf("tfwrap: load saved model: %q holds no saved_model.pb", dir)
		}
	}
	cfg, err := sessionConfig(opts)
	if err != nil {
		return nil, err
	}
	m, err := tf.LoadSavedModel(dir, tags, &tf.SessionOptions{Config: cfg})
	if err != nil {
		return nil, fmt.Errorf("tfwrap: load saved model %q with tags %v: %v", dir, tags, err)
	}
	// TF loads a SavedModel whose variables folder is gone without a word,
	// and only its first Run fails: check here instead.
	if _, err := os.Stat(filepath.Join(dir, "variables", "variables.index")); err != nil {
		for _, op := range m.Graph.Operations() {
			if op.Type() == "VarHandleOp" || op.Type() == "VariableV2" {
				m.Session.Close()
				return nil, fmt.Errorf("tfwrap: load saved model %q: the graph has variables but variables/variables.index is missing", dir)
			}
		}
	}
	gs := &graphState{g: m.Graph, names: map[string]int{}, varRead: map[tf.Output]*Variable{}}
	sess := &Session{s: m.Session, st: gs}
	out := &SavedModel{Session: sess, Signatures: map[string]*Signature{}}
	for key, sig := range m.Signatures {
		if strings.HasPrefix(key, "__") { // __saved_model_init_op: TF's own, not an entry point
			continue
		}
		s := &Signature{Key: key, Method: sig.MethodName}
		for _, part := range []struct {
			infos map[string]tf.TensorInfo
			dst   *[]TensorSpec
		}{{sig.Inputs, &s.Inputs}, {sig.Outputs, &s.Outputs}} {
			for k, info := range part.infos {
				o, err := outputByName(m.Graph, info.Name)
				if err != nil {
					sess.Close()
					return nil, fmt.Errorf("tfwrap: saved model %q, signature %q, tensor %q: %w", dir, key, k, err)
				}
				spec := TensorSpec{Key: k, out: Output{st: gs, out: o}}
				spec.DType, _ = fromTF(info.DType)
				if n := info.Shape.NumDimensions(); n >= 0 {
					spec.Shape = make([]int64, n)
					for i := range spec.Shape {
						spec.Shape[i] = info.Shape.Size(i)
					}
				}
				*part.dst = append(*part.dst, spec)
			}
			sort.Slice(*part.dst, func(i, j int) bool { return (*part.dst)[i].Key < (*part.dst)[j].Key })
		}
		out.Signatures[key] = s
	}
	markUnknownRanks(dir, tags, out.Signatures)
	return out, nil
}

// markUnknownRanks sets Shape to nil for the signature tensors whose rank
// saved_model.pb leaves unknown: the bindings read those as scalars, and a
// caller trusting that would feed a scalar where any rank is allowed.
func markUnknownRanks(dir string, tags []string, sigs map[string]*Signature) {
	raw, err := os.ReadFile(filepath.Join(dir, "saved_model.pb"))
	if err != nil {
		return
	}
	var sm corepb.SavedModel
	if proto.Unmarshal(raw, &sm) != nil {
		return
	}
	for _, mg := range sm.GetMetaGraphs() {
		if !sameTags(mg.GetMetaInfoDef().GetTags(), tags) {
			continue
		}
		for key, def := range mg.GetSignatureDef() {
			s := sigs[key]
			if s == nil {
				continue
			}
			for _, part := range []struct {
				infos map[string]*corepb.TensorInfo
				specs []TensorSpec
			}{{def.GetInputs(), s.Inputs}, {def.GetOutputs(), s.Outputs}} {
				for i := range part.specs {
					if info := part.infos[part.specs[i].Key]; info != nil && info.GetTensorShape().GetUnknownRank() {
						part.specs[i].Shape = nil
					}
				}
			}
		}
	}
}

func sameTags(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, t := range b {
		if !slices.Contains(a, t) {
			return false
		}
	}
	return true
}

// outputByName finds "op:index" (or "op", meaning index 0) in g.
func outputByName(g *tf.Graph, name string) (tf.Output, error) {
	op, idx := name, 0
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		n, err := strconv.Atoi(name[i+1:])
		if err != nil {
			return tf.Output{}, fmt.Errorf("bad tensor name %q", name)
		}
		op, idx = name[:i], n
	}
	o := g.Operation(op)
	if o == nil || idx < 0 || idx >= o.NumOutputs() {
		return tf.Output{}, errors.New("no such tensor in the graph")
	}
	return o.Output(idx), nil
}

// Close releases the session. It is idempotent.
func (m *SavedModel) Close() error {
	if m == nil {
		return nil
	}
	return m.Session.Close()
}
