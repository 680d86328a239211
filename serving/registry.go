package serving

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"

	"github.com/tfgo-project/gotf/savedmodels"
)

// Errors that map to HTTP statuses.
var (
	ErrModelNotFound   = errors.New("model not found")
	ErrVersionNotFound = errors.New("version not found")
	ErrNotReady        = errors.New("no version of the model is loaded yet")
)

// version is one loaded model version.
type version struct {
	n        int64
	dir      string
	run      runner
	inflight sync.WaitGroup
	stats    versionStats // KServe's statistics extension

	// defs is the SavedModel's signature_def map, read on the first
	// metadata request.
	defsOnce sync.Once
	defs     map[string]*corepb.SignatureDef
}

// unload closes the version once its requests are done.
func (v *version) unload() error {
	v.inflight.Wait()
	return v.run.close()
}

// signature returns the version's signature key.
func (v *version) signature(key string) (*savedmodels.Signature, error) {
	var keys []string
	for _, s := range v.run.signatures() {
		if s.Key == key {
			return s, nil
		}
		keys = append(keys, s.Key)
	}
	return nil, fmt.Errorf("%w: %q (the model has %q)", savedmodels.ErrSignatureNotFound, key, keys)
}

// failure remembers a version that did not load, until its files change.
type failure struct {
	err error
	fp  string // fingerprint of the folder's files
}

// fingerprint sums up a version folder's files (names, sizes, times), so
// a version that failed is tried again once anything in it changes, such
// as a variables file copied in after the folder was made.
func fingerprint(dir string) string {
	var b strings.Builder
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || n > 10000 {
			return filepath.SkipDir
		}
		n++
		if info, err := d.Info(); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}

// servable is one model name and its versions.
type servable struct {
	name  string
	base  string
	group string
	// scanning serialises this model's scans: a load that hangs until its
	// deadline delays this model's next scan, not the other models'.
	scanning sync.Mutex

	mu       sync.RWMutex
	policy   VersionPolicy    // which versions to serve
	labels   map[string]int64 // version labels, as TF Serving's version_labels
	versions map[int64]*version
	failed   map[int64]failure
	removed  bool // taken out of the configuration: serve nothing more
	// scanned: a scan of the model's folder has finished since it was
	// configured, so a model without a version now is one that could not
	// load (or has none), not one still loading.
	scanned bool
}

// ModelConfig names a model and the folder holding its versions.
type ModelConfig struct {
	Name     string
	BasePath string
	// Version pins the served version (0: as Policy says); the same as
	// Policy{Specific: []int64{Version}}.
	Version int64
	// Policy says which versions are served (zero value: the newest).
	Policy VersionPolicy
	// Labels names versions ("stable": 42), as TF Serving's
	// version_labels: a request may ask for a label instead of a number.
	// A label must name a version that is loaded when the configuration
	// is applied.
	Labels map[string]int64
	// Group names the worker process the model runs in under process
	// isolation; models of one group share a process (default: the
	// model's own name, one process per model).
	Group string
}

// registry holds every model.
type registry struct {
	log  *slog.Logger
	m    *metrics
	load loader
	opts loadOptions // dir is set per version
	// scanned, if set, is called after each model's scan (health).
	scanned func()
	// loads bounds the loads running at once (as many as cores).
	loads chan struct{}
	// started: every model's first load is over and the labels applied.
	started atomic.Bool

	mu     sync.RWMutex // guards models and pending; a reload swaps entries
	models map[string]*servable
	// pending holds a served model's replacement while it loads from a
	// new base path: the old one serves until the new one does.
	pending map[string]*servable
	// reloading serialises reloads (the config file's poll and gRPC's
	// HandleReloadConfigRequest).
	reloading sync.Mutex
}

func newRegistry(cfgs []ModelConfig, log *slog.Logger, m *metrics, ld loader, opts loadOptions) (*registry, error) {
	r := &registry{log: log, models: map[string]*servable{}, pending: map[string]*servable{}, m: m, load: ld, opts: opts,
		loads: make(chan struct{}, max(1, runtime.NumCPU()))}
	if err := checkConfigs(cfgs); err != nil {
		return nil, err
	}
	for _, c := range cfgs {
		r.models[c.Name] = newServable(c)
	}
	return r, nil
}

func newServable(c ModelConfig) *servable {
	group := c.Group
	if group == "" {
		group = c.Name
	}
	return &servable{name: c.Name, base: c.BasePath, group: group, policy: c.policy(),
		versions: map[int64]*version{}, failed: map[int64]failure{}}
}

// get returns the model called name.
func (r *registry) get(name string) (*servable, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.models[name]
	return s, ok
}

// all returns every model.
func (r *registry) all() []*servable {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*servable, 0, len(r.models))
	for _, s := range r.models {
		out = append(out, s)
	}
	return out
}

// ValidModelName reports whether n is safe as a model name in URLs,
// metrics, logs and file paths (the profiles' DIR/MODEL): letters, digits
// and . _ - only, and not "." or "..", which a path or URL resolves to
// another folder.
func ValidModelName(n string) bool {
	if n == "" || len(n) > 256 || n == "." || n == ".." {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// scan loads the version each model should serve and unloads the others,
// every model at once, each load with its own deadline, and returns when
// done. A model whose scan is still running (a slow load) is waited for
// and scanned again.
func (r *registry) scan() { r.scanAll(true) }

// scanWait is scan, for a reload: it must see its new models loaded.
func (r *registry) scanWait() { r.scanAll(true) }

// poll starts a scan of every model not being scanned already and
// returns at once: a load that hangs until its deadline holds up neither
// the watcher nor the other models' new versions (issue 23: one hung init
// delayed every other model's loads by its 2-minute deadline).
func (r *registry) poll() { r.scanAll(false) }

func (r *registry) scanAll(wait bool) {
	// Loads start processes and restore variables: as many at once as
	// there are cores.
	r.mu.RLock()
	pending := make([]*servable, 0, len(r.pending))
	for _, s := range r.pending {
		pending = append(pending, s)
	}
	r.mu.RUnlock()
	var wg sync.WaitGroup
	for _, s := range append(r.all(), pending...) {
		if !wait && !s.scanning.TryLock() {
			continue // its previous scan is still loading
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if wait {
				s.scanning.Lock()
			}
			defer s.scanning.Unlock()
			r.loads <- struct{}{}
			defer func() { <-r.loads }()
			s.scan(r)
			r.promote(s)
			if r.scanned != nil {
				r.scanned()
			}
		}()
	}
	if wait {
		wg.Wait()
	}
}

// promote makes a pending replacement the served model once it serves a
// version, and unloads the one it replaces after its requests.
func (r *registry) promote(s *servable) {
	s.mu.RLock()
	n := len(s.versions)
	s.mu.RUnlock()
	if n == 0 {
		return
	}
	r.mu.Lock()
	if r.pending[s.name] != s {
		r.mu.Unlock()
		return
	}
	delete(r.pending, s.name)
	old := r.models[s.name]
	r.models[s.name] = s
	r.mu.Unlock()
	r.log.Info("model now served from its new base path", "model", s.name, "path", s.base)
	if old != nil {
		old.retire(r.log)
	}
}

// retire stops serving s and unloads its versions after their requests.
func (s *servable) retire(log *slog.Logger) {
	s.mu.Lock()
	s.removed = true
	var vs []*version
	for _, v := range s.versions {
		vs = append(vs, v)
	}
	s.versions = map[int64]*version{}
	s.labels = nil
	s.mu.Unlock()
	s.unloadAll(log, vs)
}

// available lists the numeric version folders, newest first.
func (s *servable) available() ([]int64, error) {
	entries, err := os.ReadDir(s.base)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] > out[j] })
	return out, nil
}

func (s *servable) scan(r *registry) {
	defer func() {
		s.mu.Lock()
		s.scanned = true
		s.mu.Unlock()
	}()
	log, m := r.log, r.m
	avail, err := s.available()
	if err != nil {
		log.Error("scan model folder", "model", s.name, "path", s.base, "err", err)
		return
	}
	s.mu.RLock()
	first := !s.scanned
	s.mu.RUnlock()
	if first && len(avail) == 0 {
		log.Warn("model has no version folders yet; serving the other models", "model", s.name, "path", s.base)
	}
	// Failures of versions whose folders are gone are forgotten.
	present := map[int64]bool{}
	for _, n := range avail {
		present[n] = true
	}
	s.mu.Lock()
	for n := range s.failed {
		if !present[n] {
			delete(s.failed, n)
		}
	}
	// Versions whose worker died are dropped, to load again below.
	var lost []*version
	for n, v := range s.versions {
		if errors.Is(v.run.down(), errLost) {
			lost = append(lost, v)
			delete(s.versions, n)
		}
	}
	s.mu.Unlock()
	for _, v := range lost {
		go v.unload()
	}
	// The versions to serve: as the policy says, each loaded or tried.
	s.mu.RLock()
	policy, gone := s.policy, s.removed
	s.mu.RUnlock()
	if gone {
		return
	}
	want := map[int64]bool{}
	for _, n := range policy.candidates(avail) {
		if policy.enough(len(want)) {
			break
		}
		s.mu.RLock()
		_, loaded := s.versions[n]
		f, failed := s.failed[n]
		s.mu.RUnlock()
		if loaded {
			want[n] = true
			continue
		}
		dir := filepath.Join(s.base, strconv.FormatInt(n, 10))
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		fp := fingerprint(dir)
		if failed && fp == f.fp {
			continue // still the files that failed; try an older version
		}
		start := time.Now()
		o := r.opts
		o.dir = dir
		run, err := r.load.load(s.group, o, s.name)
		if errors.Is(err, ErrNotReady) {
			// The model's worker is restarting: try again at the next scan.
			log.Warn("load version postponed", "model", s.name, "version", n, "err", err)
			continue
		}
		if err != nil {
			log.Error("load version", "model", s.name, "version", n, "err", err)
			s.mu.Lock()
			s.failed[n] = failure{err: err, fp: fp}
			s.mu.Unlock()
			m.loadFailures.WithLabelValues(s.name).Inc()
			continue
		}
		log.Info("loaded version", "model", s.name, "version", n, "seconds", time.Since(start).Seconds())
		v := &version{n: n, dir: dir, run: run}
		s.mu.Lock()
		if s.removed { // taken out of the configuration while loading
			s.mu.Unlock()
			go v.unload()
			return
		}
		s.versions[n] = v
		delete(s.failed, n)
		s.mu.Unlock()
		want[n] = true
	}
	if len(want) == 0 {
		return // nothing new to serve: keep serving what is loaded
	}
	// Unload every other version once its requests are done.
	s.mu.Lock()
	var old []*version
	for n, v := range s.versions {
		if !want[n] {
			old = append(old, v)
			delete(s.versions, n)
		}
	}
	s.mu.Unlock()
	s.unloadAll(log, old)
}

// unloadAll unloads versions, each once its requests are done.
func (s *servable) unloadAll(log *slog.Logger, old []*version) {
	for _, v := range old {
		go func(v *version) {
			if err := v.unload(); err != nil {
				log.Error("unload version", "model", s.name, "version", v.n, "err", err)
				return
			}
			log.Info("unloaded version", "model", s.name, "version", v.n)
		}(v)
	}
}

// label is the metrics label for a model name: the name if configured,
// else unknownModel.
func (r *registry) label(name string) string {
	if _, ok := r.get(name); ok {
		return name
	}
	return unknownModel
}

// acquire returns a loaded version (the served one when n is 0) and a
// function to call when the request is done with it.
func (r *registry) acquire(name string, n int64) (*version, func(), error) {
	s, ok := r.get(name)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %q", ErrModelNotFound, name)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var v *version
	if n > 0 {
		if v = s.versions[n]; v == nil {
			return nil, nil, fmt.Errorf("%w: model %q has no loaded version %d", ErrVersionNotFound, name, n)
		}
	} else {
		for _, cand := range s.versions {
			if v == nil || cand.n > v.n {
				v = cand
			}
		}
		if v == nil {
			return nil, nil, fmt.Errorf("%w: %q", ErrNotReady, name)
		}
	}
	v.inflight.Add(1)
	return v, v.inflight.Done, nil
}

// versionStatus is one version's state for GET /v1/models/NAME.
type versionStatus struct {
	n     int64
	state string // AVAILABLE or END (failed to load)
	err   error
}

func (r *registry) status(name string) ([]versionStatus, error) {
	s, ok := r.get(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrModelNotFound, name)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []versionStatus
	for n, v := range s.versions {
		if err := v.run.down(); err != nil {
			out = append(out, versionStatus{n: n, state: "LOADING", err: err})
			continue
		}
		out = append(out, versionStatus{n: n, state: "AVAILABLE"})
	}
	for n, f := range s.failed {
		out = append(out, versionStatus{n: n, state: "END", err: f.err})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n > out[j].n })
	return out, nil
}

// ready says why the models make the server unready, or "". Every model
// must have been scanned (tried) once. Then, with strict, every model must
// serve a version; without, at least one must (when any is configured): a
// model that cannot load (no version, every version failing) is reported
// by its status, the logs and the load_failures metric, and does not take
// the models that can serve out of a load balancer's rotation.
func (r *registry) ready(strict bool) string {
	if !r.started.Load() {
		return "the server is loading its models"
	}
	all := r.all()
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	serving := 0
	var unavailable string
	for _, s := range all {
		s.mu.RLock()
		n, scanned := len(s.versions), s.scanned
		s.mu.RUnlock()
		switch {
		case !scanned:
			return fmt.Sprintf("model %q is still loading", s.name)
		case n > 0:
			serving++
		case unavailable == "":
			unavailable = s.name
		}
	}
	switch {
	case strict && unavailable != "":
		return fmt.Sprintf("model %q has no loaded version (strict readiness)", unavailable)
	case len(all) > 0 && serving == 0:
		return "no model has a loaded version"
	}
	return ""
}

// close unloads everything after the requests in flight.
func (r *registry) close() {
	r.mu.Lock()
	pending := r.pending
	r.pending = map[string]*servable{}
	r.mu.Unlock()
	for _, p := range pending {
		p.retire(r.log)
	}
	for _, s := range r.all() {
		s.mu.Lock()
		vs := s.versions
		s.versions = map[int64]*version{}
		s.mu.Unlock()
		for _, v := range vs {
			v.unload()
		}
	}
	r.load.close()
}
