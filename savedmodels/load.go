package savedmodels

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
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/dtype"
)

// loaded is a SavedModel in a Session, with its signatures.
type loaded struct {
	g    *tfwrap.Graph
	sess *tfwrap.Session
	sigs map[string]*Signature
}

// load reads the SavedModel in dir through the bindings and adopts its
// graph and session. A missing folder, a missing or truncated
// saved_model.pb, missing variables or an unknown tag give an error.
func load(dir string, tags []string, opts ...tfwrap.SessionOption) (*loaded, error) {
	if len(tags) == 0 {
		tags = []string{"serve"}
	}
	if err := tfwrap.CheckVersion(); err != nil {
		return nil, err
	}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("load saved model: %q is not a folder", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "saved_model.pb")); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, "saved_model.pbtxt")); err2 != nil {
			return nil, fmt.Errorf("load saved model: %q holds no saved_model.pb", dir)
		}
	}
	cfg, err := tfwrap.SessionConfig(opts...)
	if err != nil {
		return nil, err
	}
	m, err := tf.LoadSavedModel(dir, tags, &tf.SessionOptions{Config: cfg})
	if err != nil {
		return nil, fmt.Errorf("load saved model %q with tags %v: %v", dir, tags, err)
	}
	// TF loads a SavedModel whose variables folder is gone without a word,
	// and only its first Run fails: check here instead.
	if _, err := os.Stat(filepath.Join(dir, "variables", "variables.index")); err != nil {
		for _, op := range m.Graph.Operations() {
			if op.Type() == "VarHandleOp" || op.Type() == "VariableV2" {
				m.Session.Close()
				return nil, fmt.Errorf("load saved model %q: the graph has variables but variables/variables.index is missing", dir)
			}
		}
	}
	g := tfwrap.WrapGraph(m.Graph)
	sess, err := tfwrap.WrapSession(m.Session, g)
	if err != nil {
		m.Session.Close()
		return nil, err
	}
	out := &loaded{g: g, sess: sess, sigs: map[string]*Signature{}}
	for key, sig := range m.Signatures {
		if strings.HasPrefix(key, "__") { // __saved_model_init_op: TF's own, not an entry point
			continue
		}
		s := &Signature{Key: key, Method: sig.MethodName}
		for _, part := range []struct {
			infos map[string]tf.TensorInfo
			dst   *[]TensorInfo
		}{{sig.Inputs, &s.Inputs}, {sig.Outputs, &s.Outputs}} {
			for k, info := range part.infos {
				o, err := outputByName(m.Graph, info.Name)
				if err != nil {
					sess.Close()
					return nil, fmt.Errorf("saved model %q, signature %q, tensor %q: %w", dir, key, k, err)
				}
				ti := TensorInfo{Name: k, Tensor: info.Name, out: g.FromTF(o)}
				ti.DType, _ = dtype.FromProto(typespb.DataType(info.DType))
				if n := info.Shape.NumDimensions(); n >= 0 {
					ti.Shape = make([]int64, n)
					for i := range ti.Shape {
						ti.Shape[i] = info.Shape.Size(i)
					}
				}
				*part.dst = append(*part.dst, ti)
			}
			sort.Slice(*part.dst, func(i, j int) bool { return (*part.dst)[i].Name < (*part.dst)[j].Name })
		}
		out.sigs[key] = s
	}
	if err := g.Err(); err != nil {
		sess.Close()
		return nil, fmt.Errorf("saved model %q: %w", dir, err)
	}
	markUnknownRanks(dir, tags, out.sigs)
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
				specs []TensorInfo
			}{{def.GetInputs(), s.Inputs}, {def.GetOutputs(), s.Outputs}} {
				for i := range part.specs {
					if info := part.infos[part.specs[i].Name]; info != nil && info.GetTensorShape().GetUnknownRank() {
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

// SignatureDefs returns the SignatureDefs of the SavedModel in dir as its
// saved_model.pb holds them, for the meta graph with tags (default
// "serve"): every key, TensorFlow's own (__saved_model_init_op) included,
// with the graph's tensor names. It is what TF Serving's model metadata
// shows; the signatures a Model runs are those of Model.Signatures.
func SignatureDefs(dir string, tags ...string) (map[string]*corepb.SignatureDef, error) {
	if len(tags) == 0 {
		tags = []string{"serve"}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "saved_model.pb"))
	if err != nil {
		return nil, fmt.Errorf("savedmodels: %w", err)
	}
	var sm corepb.SavedModel
	if err := proto.Unmarshal(raw, &sm); err != nil {
		return nil, fmt.Errorf("savedmodels: %s: saved_model.pb: %w", dir, err)
	}
	for _, mg := range sm.GetMetaGraphs() {
		if sameTags(mg.GetMetaInfoDef().GetTags(), tags) {
			return mg.GetSignatureDef(), nil
		}
	}
	return nil, fmt.Errorf("savedmodels: %s has no meta graph tagged %v", dir, tags)
}
