package serving

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/prototext"

	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/serving/tfspb"
)

// VersionPolicy says which versions of a model are served, as TF
// Serving's model_version_policy. At most one of its fields is set; the
// zero value serves the newest version.
type VersionPolicy struct {
	// Latest serves the newest Latest versions (TF Serving's latest
	// {num_versions}). A version that fails to load is skipped for the
	// next older one, so a broken new version does not take the model
	// down; TF Serving would report it and serve one fewer.
	Latest int
	// All serves every version in the folder.
	All bool
	// Specific serves these versions, those of them present.
	Specific []int64
}

func (p VersionPolicy) String() string {
	switch {
	case p.All:
		return "all"
	case len(p.Specific) > 0:
		return fmt.Sprintf("specific %v", p.Specific)
	}
	return fmt.Sprintf("latest %d", max(p.Latest, 1))
}

func (p VersionPolicy) check() error {
	set := 0
	if p.Latest != 0 {
		set++
	}
	if p.All {
		set++
	}
	if p.Specific != nil {
		set++
	}
	if set > 1 {
		return fmt.Errorf("give one of latest, all and specific, not %d", set)
	}
	if p.Latest < 0 {
		return fmt.Errorf("latest %d: want a positive number of versions", p.Latest)
	}
	if p.Specific != nil && len(p.Specific) == 0 {
		return errors.New("specific lists no versions")
	}
	for _, v := range p.Specific {
		if v <= 0 {
			return fmt.Errorf("specific version %d: versions are positive numbers", v)
		}
	}
	return nil
}

// candidates lists the versions to try, newest first, of those present.
func (p VersionPolicy) candidates(avail []int64) []int64 {
	if len(p.Specific) == 0 {
		return avail
	}
	var out []int64
	for _, n := range avail {
		if slices.Contains(p.Specific, n) {
			out = append(out, n)
		}
	}
	return out
}

// enough reports whether n loaded versions satisfy the policy.
func (p VersionPolicy) enough(n int) bool {
	if p.All || len(p.Specific) > 0 {
		return false
	}
	return n >= max(p.Latest, 1)
}

// policy returns the configuration's policy, its Version pin folded in.
func (c ModelConfig) policy() VersionPolicy {
	if c.Version > 0 {
		return VersionPolicy{Specific: []int64{c.Version}}
	}
	return c.Policy
}

// validLabel reports whether l can name a version: letters, digits, _ and -.
func validLabel(l string) bool {
	return ValidModelName(l) && !strings.Contains(l, ".")
}

// checkConfigs checks a whole configuration before any of it is applied.
func checkConfigs(cfgs []ModelConfig) error {
	seen := map[string]bool{}
	for _, c := range cfgs {
		if c.Name == "" || c.BasePath == "" {
			return fmt.Errorf("serving: a model needs a name and a base path, got %+v", c)
		}
		if !ValidModelName(c.Name) {
			return fmt.Errorf("serving: model name %q: use letters, digits and . _ - only, not \".\" or \"..\"", c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("serving: model %q is configured twice", c.Name)
		}
		seen[c.Name] = true
		if st, err := os.Stat(c.BasePath); err != nil || !st.IsDir() {
			return fmt.Errorf("serving: model %q: base path %q is not a folder", c.Name, c.BasePath)
		}
		if c.Version < 0 {
			return fmt.Errorf("serving: model %q: version %d: versions are positive numbers", c.Name, c.Version)
		}
		if c.Version > 0 && !isZeroPolicy(c.Policy) {
			return fmt.Errorf("serving: model %q: give Version or Policy, not both", c.Name)
		}
		if err := c.Policy.check(); err != nil {
			return fmt.Errorf("serving: model %q: model_version_policy: %w", c.Name, err)
		}
		for l, v := range c.Labels {
			if !validLabel(l) {
				return fmt.Errorf("serving: model %q: version label %q: use letters, digits, _ and - only", c.Name, l)
			}
			if v <= 0 {
				return fmt.Errorf("serving: model %q: version label %q names version %d; versions are positive numbers", c.Name, l, v)
			}
		}
	}
	return nil
}

func isZeroPolicy(p VersionPolicy) bool {
	return p.Latest == 0 && !p.All && p.Specific == nil
}

// resolve returns the version a label names.
func (r *registry) resolve(name, label string) (int64, error) {
	s, ok := r.get(name)
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrModelNotFound, name)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.labels[label]
	if !ok {
		// TF Serving's words and code (INVALID_ARGUMENT, 400).
		return 0, fmt.Errorf("%w: Unrecognized servable version label: %s", restjson.ErrBadRequest, label)
	}
	return n, nil
}

// reconfigure makes the configured models those of cfgs: new models are
// added, models gone from the list are unloaded once their requests
// finish, and the others take their new version policy. Labels are set
// afterwards, by applyLabels, once the versions they name have loaded.
func (r *registry) reconfigure(cfgs []ModelConfig) (added []ModelConfig, err error) {
	if err := checkConfigs(cfgs); err != nil {
		return nil, err
	}
	next := map[string]ModelConfig{}
	for _, c := range cfgs {
		next[c.Name] = c
	}
	r.mu.Lock()
	var gone []*servable
	for name, p := range r.pending { // a replacement no longer wanted
		if c, keep := next[name]; !keep || c.BasePath != p.base {
			delete(r.pending, name)
			defer p.retire(r.log)
		}
	}
	for name, s := range r.models {
		c, keep := next[name]
		if keep && c.BasePath == s.base {
			s.mu.Lock()
			s.policy = c.policy()
			s.mu.Unlock()
			continue
		}
		s.mu.RLock()
		serving := len(s.versions) > 0
		s.mu.RUnlock()
		if keep && serving {
			// A new base path: load it beside the old one, which serves
			// until the new one does (promote).
			if p := r.pending[name]; p == nil || p.base != c.BasePath {
				r.pending[name] = newServable(c)
			}
			continue
		}
		gone = append(gone, s)
		delete(r.models, name)
		delete(r.pending, name)
	}
	for _, c := range cfgs {
		if _, ok := r.models[c.Name]; !ok {
			r.models[c.Name] = newServable(c)
			added = append(added, c)
		}
	}
	r.mu.Unlock()
	for _, s := range gone {
		r.log.Info("model removed from the configuration", "model", s.name)
		s.retire(r.log)
	}
	return added, nil
}

// applyLabels sets every model's version labels, all or none: each label
// must name a loaded version (as TF Serving, which refuses to point a
// label at a version that cannot answer).
func (r *registry) applyLabels(cfgs []ModelConfig) error {
	for _, c := range cfgs {
		s, ok := r.get(c.Name)
		if !ok {
			continue
		}
		s.mu.RLock()
		for _, l := range sortedKeys(c.Labels) {
			v := c.Labels[l]
			if _, loaded := s.versions[v]; !loaded {
				s.mu.RUnlock()
				return fmt.Errorf("%w: request to assign label %q to version %d of model %q, which is not currently available for inference", errPrecondition, l, v, c.Name)
			}
		}
		s.mu.RUnlock()
	}
	for _, c := range cfgs {
		if s, ok := r.get(c.Name); ok {
			s.mu.Lock()
			s.labels = copyLabels(c.Labels)
			s.mu.Unlock()
		}
	}
	return nil
}

func copyLabels(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// errPrecondition: a configuration that cannot be applied in the server's
// present state (FAILED_PRECONDITION).
var errPrecondition = errors.New("failed precondition")

// Reload replaces the served models with cfgs, as TF Serving's
// HandleReloadConfigRequest: models not in cfgs are unloaded once their
// requests finish, new ones are loaded, and labels are applied once the
// versions load. It returns after the loads; an error leaves the model
// list applied but the labels as they were.
func (s *Server) Reload(cfgs []ModelConfig) error {
	s.reg.reloading.Lock()
	defer s.reg.reloading.Unlock()
	for i := range cfgs {
		if cfgs[i].Group == "" {
			cfgs[i].Group = s.groups[cfgs[i].Name]
		}
	}
	added, err := s.reg.reconfigure(cfgs)
	if err != nil {
		return err
	}
	s.m.declare(added)
	s.reg.scanWait()
	defer s.updateHealth()
	return s.reg.applyLabels(cfgs)
}

// maxConfigBytes bounds a model config file: a few thousand models' worth.
const maxConfigBytes = 16 << 20

// ReadModelConfigFile reads and parses a model config file (see
// ParseModelConfig), refusing one over 16 MiB unread.
func ReadModelConfigFile(path string) ([]ModelConfig, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("serving: model config file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("serving: model config file: %w", err)
	}
	if len(b) > maxConfigBytes {
		return nil, nil, fmt.Errorf("serving: model config file %s is larger than %d bytes", path, maxConfigBytes)
	}
	cfgs, err := ParseModelConfig(b)
	if err != nil {
		return nil, b, fmt.Errorf("%w (in %s)", err, path)
	}
	return cfgs, b, nil
}

// ParseModelConfig reads TF Serving's model config file: a
// ModelServerConfig in protobuf text format holding a model_config_list.
// Each config's name, base_path, model_version_policy and version_labels
// are used; model_platform must be "tensorflow" or empty.
func ParseModelConfig(text []byte) ([]ModelConfig, error) {
	var pb tfspb.ModelServerConfig
	if err := prototext.Unmarshal(text, &pb); err != nil {
		return nil, fmt.Errorf("serving: model config: %w", err)
	}
	return ModelConfigsFromProto(&pb)
}

// ModelConfigsFromProto converts a ModelServerConfig's model_config_list.
func ModelConfigsFromProto(pb *tfspb.ModelServerConfig) ([]ModelConfig, error) {
	if pb.GetCustomModelConfig() != nil {
		return nil, errors.New("serving: model config: custom_model_config is not supported; use model_config_list")
	}
	list := pb.GetModelConfigList()
	if list == nil {
		return nil, errors.New("serving: model config: no model_config_list")
	}
	var out []ModelConfig
	for i, c := range list.GetConfig() {
		if p := c.GetModelPlatform(); p != "" && p != "tensorflow" {
			return nil, fmt.Errorf("serving: model config %d (%q): model_platform %q: only tensorflow SavedModels are served", i+1, c.GetName(), p)
		}
		mc := ModelConfig{Name: c.GetName(), BasePath: c.GetBasePath()}
		if vp := c.GetModelVersionPolicy(); vp != nil {
			switch {
			case vp.GetLatest() != nil:
				n := vp.GetLatest().GetNumVersions()
				if n == 0 {
					n = 1 // TF Serving's default for an empty latest {}
				}
				if n > 1<<16 {
					return nil, fmt.Errorf("serving: model config %q: latest num_versions %d is too many", mc.Name, n)
				}
				mc.Policy.Latest = int(n)
			case vp.GetAll() != nil:
				mc.Policy.All = true
			case vp.GetSpecific() != nil:
				mc.Policy.Specific = append([]int64{}, vp.GetSpecific().GetVersions()...)
				if len(mc.Policy.Specific) == 0 {
					mc.Policy.Specific = []int64{}
				}
			}
		}
		if len(c.GetVersionLabels()) > 0 {
			mc.Labels = copyLabels(c.GetVersionLabels())
		}
		out = append(out, mc)
	}
	return out, nil
}
