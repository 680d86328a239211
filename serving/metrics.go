package serving

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors, in their own registry.
type metrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	inflight       prometheus.Gauge
	loadFailures   *prometheus.CounterVec
	workerExits    *prometheus.CounterVec
	batches        *prometheus.CounterVec
	batchRows      *prometheus.HistogramVec
	answersDropped prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gotf_serving_requests_total", Help: "Requests by model, API and HTTP status code.",
		}, []string{"model", "api", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gotf_serving_request_duration_seconds", Help: "Predict latency by model.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"model"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gotf_serving_requests_in_flight", Help: "Predict requests being served.",
		}),
		loadFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gotf_serving_model_load_failures_total", Help: "Model versions that failed to load.",
		}, []string{"model"}),
		workerExits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gotf_serving_worker_exits_total", Help: "Worker processes that ended unasked, by model group.",
		}, []string{"group"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gotf_serving_batches_total", Help: "Session runs made by the batcher.",
		}, []string{"model"}),
		batchRows: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gotf_serving_batch_requests", Help: "Requests merged into one run.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 8),
		}, []string{"model"}),
		answersDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gotf_serving_unread_answers_dropped_total", Help: "gRPC connections closed because their client read none of its answer for the write timeout.",
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.inflight, m.loadFailures, m.workerExits, m.batches, m.batchRows, m.answersDropped,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// unknownModel is the label of every request for a model name the server
// does not serve: labels come only from the configuration, so clients
// cannot grow the metrics by inventing names.
const unknownModel = "_unknown"

// declare creates the series of the configured models up front.
func (m *metrics) declare(models []ModelConfig) {
	for _, c := range models {
		m.loadFailures.WithLabelValues(c.Name)
		group := c.Group
		if group == "" {
			group = c.Name
		}
		m.workerExits.WithLabelValues(group)
	}
}
