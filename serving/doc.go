// Package serving is a TF Serving-compatible model server for SavedModels,
// embedded in Go: TF Serving's REST API (model status and metadata,
// :predict, and :classify and :regress on tf.Examples) and gRPC
// PredictionService (Predict, GetModelMetadata, Classify, Regress and
// MultiInference; with grpc.health.v1 and reflection), models in TF
// Serving's layout (BASE/NAME/VERSION/), the newest (or a pinned) version
// of each served, hot reload of new versions, Prometheus metrics and
// health endpoints.
//
// The same models are served over the Open Inference Protocol (KServe v2,
// as Triton and tritonclient speak it), from their serving_default
// signatures: REST GET /v2, /v2/health/live, /v2/health/ready,
// /v2/models/NAME[/versions/V] (metadata), .../ready, and POST
// .../infer, with the binary tensor data extension; gRPC
// inference.GRPCInferenceService (ServerLive, ServerReady, ModelReady,
// ServerMetadata, ModelMetadata, ModelInfer with typed or raw contents;
// the other methods answer UNIMPLEMENTED).
//
// By default (IsolationProcess) every model runs in a worker process of its
// own, supervised by the front end that holds the sockets: a TensorFlow
// abort (a CHECK failure on an input a kernel does not check, or in a
// model's init op) costs that worker, whose requests get 503 while it is
// restarted, and never the server or another model. A new version is first
// loaded and warmed up in a throwaway process, within a deadline. Programs
// that use process isolation must call RunWorkerIfChild first thing in
// main. IsolationNone runs models in the server's own process.
//
// Both transports decode into one request that is checked against the
// signature (names, dtypes, ranks, dimensions, element and byte counts)
// before any element is decoded (for Classify and Regress: the
// signature's method_name and keys, then the examples' count and
// serialized bytes); admission (a bounded number of requests in flight),
// execution within the request's deadline (passed into the TensorFlow
// run, which is cancelled past it) and the mapping of errors to HTTP and
// gRPC codes are shared. A bad request gets a 4xx with a message;
// a model that dies or hangs gets 503 or 504; the server stays up.
//
// A Server is safe for concurrent use; Close (or Serve's return) stops
// its workers and releases every model.
package serving
