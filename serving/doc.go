// Package serving is a TF Serving-compatible REST server for SavedModels,
// embedded in Go: models in TF Serving's layout (BASE/NAME/VERSION/), the
// newest (or a pinned) version of each served, hot reload of new versions,
// one session per version shared by all requests, a bound on requests in
// flight, per-request deadlines, Prometheus metrics and health endpoints.
//
// Every request is checked against its signature before TensorFlow runs; a
// bad request gets a 4xx with a message, never a crash.
package serving
