package serving

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/serving/tfspb"
)

// modelService is TF Serving's tensorflow.serving.ModelService:
// GetModelStatus, and HandleReloadConfigRequest when the server allows it
// (Config.AllowConfigReload).
type modelService struct {
	tfspb.UnimplementedModelServiceServer
	s *Server
}

// GetModelStatus answers the state of a model's versions, or of the one
// the model_spec names by number or label.
func (m modelService) GetModelStatus(_ context.Context, req *tfspb.GetModelStatusRequest) (*tfspb.GetModelStatusResponse, error) {
	s, sp := m.s, req.GetModelSpec()
	version, err := s.resolveSpec(sp)
	if err != nil {
		return nil, s.grpcStatus(err)
	}
	resp, err := s.statusResponse(sp.GetName(), version)
	if err != nil {
		return nil, s.grpcStatus(err)
	}
	return resp, nil
}

// HandleReloadConfigRequest replaces the served models with the request's
// model_config_list, as Reload does. Anyone who reaches the gRPC port
// could otherwise unload every model, so it is refused (PERMISSION_DENIED)
// unless Config.AllowConfigReload is set.
func (m modelService) HandleReloadConfigRequest(_ context.Context, req *tfspb.ReloadConfigRequest) (*tfspb.ReloadConfigResponse, error) {
	s := m.s
	if !s.cfg.AllowConfigReload {
		return nil, s.grpcStatus(fmt.Errorf("%w: reloading the model config over gRPC is off; start the server with --allow_config_reload", errForbidden))
	}
	if req.GetConfig() == nil {
		return nil, s.grpcStatus(fmt.Errorf("%w: the request has no config", restjson.ErrBadRequest))
	}
	cfgs, err := ModelConfigsFromProto(req.GetConfig())
	if err != nil {
		return nil, s.grpcStatus(fmt.Errorf("%w: %v", restjson.ErrBadRequest, err))
	}
	if len(cfgs) > maxReloadModels {
		return nil, s.grpcStatus(fmt.Errorf("%w: %d models in one reload, at most %d (each may start a worker process)", restjson.ErrBadRequest, len(cfgs), maxReloadModels))
	}
	for _, c := range cfgs {
		if !within(s.reloadRoot, c.BasePath) {
			return nil, s.grpcStatus(fmt.Errorf("%w: model %q: its base path is outside the folder reloads may use (--model_config_reload_root)", errForbidden, c.Name))
		}
	}
	if err := s.Reload(cfgs); err != nil {
		if codeOf(err) == http.StatusInternalServerError {
			err = fmt.Errorf("%w: %v", restjson.ErrBadRequest, err) // a config the server cannot take
		}
		return nil, s.grpcStatus(err)
	}
	return &tfspb.ReloadConfigResponse{Status: &tfspb.StatusProto{}}, nil
}

// states maps the registry's version states to TF Serving's.
var states = map[string]tfspb.ModelVersionStatus_State{
	"LOADING":   tfspb.ModelVersionStatus_LOADING,
	"AVAILABLE": tfspb.ModelVersionStatus_AVAILABLE,
	"END":       tfspb.ModelVersionStatus_END,
}

// statusResponse is GetModelStatus's answer, for gRPC and (as JSON) REST.
func (s *Server) statusResponse(name string, version int64) (*tfspb.GetModelStatusResponse, error) {
	st, err := s.reg.status(name)
	if err != nil {
		return nil, err
	}
	resp := &tfspb.GetModelStatusResponse{}
	for _, v := range st {
		if version > 0 && v.n != version {
			continue
		}
		e := &tfspb.ModelVersionStatus{Version: v.n, State: states[v.state], Status: &tfspb.StatusProto{}}
		if v.err != nil {
			e.Status.ErrorCode = 2 // tensorflow.error.UNKNOWN
			e.Status.ErrorMessage = s.reg.scrub(v.err.Error())
		}
		resp.ModelVersionStatus = append(resp.ModelVersionStatus, e)
	}
	if version > 0 && len(resp.ModelVersionStatus) == 0 {
		return nil, fmt.Errorf("%w: could not find version %d of model %q", ErrVersionNotFound, version, name)
	}
	return resp, nil
}

// jsonOf writes a response as TF Serving's REST API does: the message's
// JSON with the .proto's field names and every field, set or not;
// compacted, since protojson varies its whitespace from run to run.
func jsonOf(m proto.Message) ([]byte, error) {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// maxReloadModels bounds the models one gRPC reload may configure: each
// may start a worker process.
const maxReloadModels = 256

// reloadRoot is the folder reloads are confined to: root if given, else
// the nearest folder that holds every one of the initial base paths;
// absolute, with symbolic links resolved.
func reloadRoot(root string, models []ModelConfig) (string, error) {
	if root == "" {
		for _, m := range models {
			dir := resolve(filepath.Dir(resolve(m.BasePath)))
			switch {
			case root == "":
				root = dir
			default:
				for !within(root, dir) {
					root = filepath.Dir(root)
				}
			}
		}
	}
	if root == "" {
		return "", errors.New("no model to take the folder from; give one")
	}
	root = resolve(root)
	if info, err := os.Stat(root); err != nil || !info.IsDir() {
		return "", fmt.Errorf("%s is not a folder", root)
	}
	return root, nil
}

// resolve makes p absolute and resolves the symbolic links of the part of
// it that exists.
func resolve(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for dir := abs; ; dir = filepath.Dir(dir) {
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(r, rest)
		}
		if filepath.Dir(dir) == dir {
			return abs
		}
		rest = filepath.Join(filepath.Base(dir), rest)
	}
}

// within reports whether path lies inside root (root itself included).
func within(root, path string) bool {
	if root == "" {
		return false
	}
	rel, err := filepath.Rel(root, resolve(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
