package serving

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tfgo-project/gotf/serving/kservepb"
)

// versionStats counts one loaded version's requests, as KServe v2's (and
// Triton's) statistics extension reports them. Safe for concurrent use.
type versionStats struct {
	successN, successNs atomic.Uint64
	failN, failNs       atomic.Uint64
	inputN, inputNs     atomic.Uint64 // decoding the request's tensors
	inferN, inferNs     atomic.Uint64 // running the model
	inferences          atomic.Uint64 // rows (the batch dimension) served
	executions          atomic.Uint64 // model runs
	lastMs              atomic.Uint64 // the last inference, ms since the epoch
}

// record adds one finished request that reached the version.
func (st *versionStats) record(start time.Time, rows int64, err error) {
	d := uint64(time.Since(start).Nanoseconds())
	if err != nil {
		st.failN.Add(1)
		st.failNs.Add(d)
		return
	}
	st.successN.Add(1)
	st.successNs.Add(d)
	st.inferences.Add(uint64(max(rows, 1)))
	st.executions.Add(1)
	st.lastMs.Store(uint64(time.Now().UnixMilli()))
}

// rowsOf is the batch dimension of a request's inputs (1 for scalars).
func rowsOf(in map[string]Tensor) int64 {
	for _, t := range in {
		if len(t.Shape) > 0 {
			return t.Shape[0]
		}
	}
	return 1
}

// modelStats answers the statistics of name's loaded versions (of every
// model when name is empty; of one version when ver is given).
func (s *Server) modelStats(name, ver string) ([]*kservepb.ModelStatistics, error) {
	names := []string{name}
	if name == "" {
		names = names[:0]
		for _, m := range s.reg.all() {
			names = append(names, m.name)
		}
		sort.Strings(names)
	}
	var out []*kservepb.ModelStatistics
	for _, n := range names {
		m, ok := s.reg.get(n)
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrModelNotFound, n)
		}
		want, err := kserveVersion(n, ver)
		if err != nil {
			return nil, err
		}
		m.mu.RLock()
		var vs []*version
		for v, x := range m.versions {
			if want == 0 || v == want {
				vs = append(vs, x)
			}
		}
		m.mu.RUnlock()
		if want != 0 && len(vs) == 0 {
			return nil, fmt.Errorf("%w: model %q has no loaded version %d", ErrVersionNotFound, n, want)
		}
		sort.Slice(vs, func(i, j int) bool { return vs[i].n < vs[j].n })
		for _, v := range vs {
			st := &v.stats
			dur := func(n, ns *atomic.Uint64) *kservepb.StatisticDuration {
				return &kservepb.StatisticDuration{Count: n.Load(), Ns: ns.Load()}
			}
			var zero atomic.Uint64
			out = append(out, &kservepb.ModelStatistics{Name: n, Version: strconv.FormatInt(v.n, 10),
				LastInference: st.lastMs.Load(), InferenceCount: st.inferences.Load(), ExecutionCount: st.executions.Load(),
				InferenceStats: &kservepb.InferStatistics{
					Success: dur(&st.successN, &st.successNs), Fail: dur(&st.failN, &st.failNs),
					Queue: dur(&zero, &zero), ComputeInput: dur(&st.inputN, &st.inputNs),
					ComputeInfer: dur(&st.inferN, &st.inferNs), ComputeOutput: dur(&zero, &zero),
					CacheHit: dur(&zero, &zero), CacheMiss: dur(&zero, &zero)}})
		}
	}
	return out, nil
}

// statsJSON is the REST form of the statistics, with Triton's field names
// and numbers as numbers.
func statsJSON(ms []*kservepb.ModelStatistics) ([]byte, error) {
	type dur struct {
		Count uint64 `json:"count"`
		Ns    uint64 `json:"ns"`
	}
	d := func(x *kservepb.StatisticDuration) dur { return dur{x.GetCount(), x.GetNs()} }
	type model struct {
		Name           string         `json:"name"`
		Version        string         `json:"version"`
		LastInference  uint64         `json:"last_inference"`
		InferenceCount uint64         `json:"inference_count"`
		ExecutionCount uint64         `json:"execution_count"`
		InferenceStats map[string]dur `json:"inference_stats"`
		BatchStats     []struct{}     `json:"batch_stats"`
	}
	out := struct {
		ModelStats []model `json:"model_stats"`
	}{ModelStats: []model{}}
	for _, m := range ms {
		is := m.GetInferenceStats()
		out.ModelStats = append(out.ModelStats, model{Name: m.Name, Version: m.Version, LastInference: m.LastInference,
			InferenceCount: m.InferenceCount, ExecutionCount: m.ExecutionCount, BatchStats: []struct{}{},
			InferenceStats: map[string]dur{"success": d(is.GetSuccess()), "fail": d(is.GetFail()), "queue": d(is.GetQueue()),
				"compute_input": d(is.GetComputeInput()), "compute_infer": d(is.GetComputeInfer()), "compute_output": d(is.GetComputeOutput()),
				"cache_hit": d(is.GetCacheHit()), "cache_miss": d(is.GetCacheMiss())}})
	}
	return json.Marshal(out)
}

// kserveStats answers GET /v2/models[/NAME[/versions/V]]/stats.
func (s *Server) kserveStats(w http.ResponseWriter, r *http.Request, name, ver string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here", r.Method))
		return
	}
	ms, err := s.modelStats(name, ver)
	if err != nil {
		s.fail(w, err)
		return
	}
	b, err := statsJSON(ms)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}
