// Package restjson decodes and encodes the JSON bodies of TF Serving's
// REST API (the row "instances" and columnar "inputs" formats, with
// {"b64": …} for binary strings) into typed, rectangular arrays, checking
// everything a client can get wrong. It needs no TensorFlow, so it is fast
// to test and to fuzz.
package restjson
