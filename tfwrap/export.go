package tfwrap

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	graphpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/graph_go_proto"
	shapepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/internal/fsync"
)

// DefaultSignature is the signature key TF Serving calls by default.
const DefaultSignature = "serving_default"

// SignatureDef names a SavedModel entry point's inputs and outputs.
type SignatureDef struct {
	Inputs  map[string]Output
	Outputs map[string]Output
	// Method defaults to "tensorflow/serving/predict".
	Method string
}

// WriteSavedModel writes the session's graph as a SavedModel in dir (which
// must not exist yet): saved_model.pb with one MetaGraphDef tagged "serve"
// holding the graph, a SaverDef for sv and the signatures, and the values
// of sv's variables in dir/variables. Python's tf.saved_model.load,
// saved_model_cli and TensorFlow Serving read it. It writes into a folder
// beside dir and renames it at the end, so dir is whole or absent.
func (s *Session) WriteSavedModel(sv *Saver, dir string, signatures map[string]SignatureDef) error {
	if !sv.ok() || s == nil || sv.st != s.st {
		return errors.New("tfwrap: write saved model: saver is not valid for this session")
	}
	if len(signatures) == 0 {
		return errors.New("tfwrap: write saved model: no signatures")
	}
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("tfwrap: write saved model: %q already exists", dir)
	}
	sigs := map[string]*corepb.SignatureDef{}
	for key, sd := range signatures {
		if len(sd.Inputs) == 0 || len(sd.Outputs) == 0 {
			return fmt.Errorf("tfwrap: write saved model: signature %q needs inputs and outputs", key)
		}
		def := &corepb.SignatureDef{Inputs: map[string]*corepb.TensorInfo{}, Outputs: map[string]*corepb.TensorInfo{}, MethodName: sd.Method}
		if def.MethodName == "" {
			def.MethodName = "tensorflow/serving/predict"
		}
		for _, part := range []struct {
			from map[string]Output
			to   map[string]*corepb.TensorInfo
		}{{sd.Inputs, def.Inputs}, {sd.Outputs, def.Outputs}} {
			for name, o := range part.from {
				if err := s.checkOutput("signature "+key+" tensor "+name, -1, o); err != nil {
					return err
				}
				part.to[name] = tensorInfo(o)
			}
		}
		sigs[key] = def
	}
	var gbuf bytes.Buffer
	if _, err := s.st.g.WriteTo(&gbuf); err != nil {
		return fmt.Errorf("tfwrap: write saved model: graph: %w", err)
	}
	gd := &graphpb.GraphDef{}
	if err := proto.Unmarshal(gbuf.Bytes(), gd); err != nil {
		return fmt.Errorf("tfwrap: write saved model: graph: %w", err)
	}
	mg := &corepb.MetaGraphDef{
		MetaInfoDef: &corepb.MetaGraphDef_MetaInfoDef{Tags: []string{"serve"}, TensorflowVersion: Version()},
		GraphDef:    gd,
		SaverDef: &corepb.SaverDef{
			FilenameTensorName: sv.prefix.Name(),
			SaveTensorName:     sv.saved.Name(),
			RestoreOpName:      sv.restore.Name(),
			Version:            corepb.SaverDef_V2,
		},
		SignatureDef: sigs,
	}
	pb, err := proto.Marshal(&corepb.SavedModel{SavedModelSchemaVersion: 1, MetaGraphs: []*corepb.MetaGraphDef{mg}})
	if err != nil {
		return fmt.Errorf("tfwrap: write saved model: %w", err)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("tfwrap: write saved model: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".savedmodel-tmp-")
	if err != nil {
		return fmt.Errorf("tfwrap: write saved model: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, "variables"), 0o755); err != nil {
		return err
	}
	if err := s.Save(sv, filepath.Join(tmp, "variables", "variables")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "saved_model.pb"), pb, 0o644); err != nil {
		return fmt.Errorf("tfwrap: write saved model: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	// The folder appears whole (a server watching parent never sees half
	// of it) and survives a crash once this returns.
	for _, err := range []error{fsync.File(filepath.Join(tmp, "saved_model.pb")), fsync.Dir(tmp)} {
		if err != nil {
			return fmt.Errorf("tfwrap: write saved model: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("tfwrap: write saved model: %w", err)
	}
	if err := fsync.Dir(parent); err != nil {
		return fmt.Errorf("tfwrap: write saved model: %w", err)
	}
	return nil
}

func tensorInfo(o Output) *corepb.TensorInfo {
	ti := &corepb.TensorInfo{
		Encoding: &corepb.TensorInfo_Name{Name: o.Name()},
		Dtype:    o.DType().Proto(),
	}
	if s := o.Shape(); s != nil {
		sp := &shapepb.TensorShapeProto{}
		for _, d := range s {
			sp.Dim = append(sp.Dim, &shapepb.TensorShapeProto_Dim{Size: d})
		}
		ti.TensorShape = sp
	} else {
		ti.TensorShape = &shapepb.TensorShapeProto{UnknownRank: true}
	}
	return ti
}
