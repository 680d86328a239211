package serving

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/serving/tfspb"
	"github.com/tfgo-project/gotf/serving/tfspb/examplepb"
	"github.com/tfgo-project/gotf/tfwrap"
)

// TF Serving's Classify, Regress and MultiInference: a batch of
// tf.Examples, serialized into a 1-D string tensor, fed to the one input
// ("inputs") of a signature whose method_name says what it computes, and
// its outputs turned into per-example results. They go through predict
// like any other request (admission, budget, deadline, error codes); what
// is theirs is the signature checks, the examples' conversion and the
// results' validation, each after TF Serving's classifier.cc, regressor.cc,
// multi_inference.cc and util.cc (InputToSerializedExampleTensor).

// The method names and keys of classify and regress signatures
// (tensorflow/cc/saved_model/signature_constants.h).
const (
	classifyMethod = "tensorflow/serving/classify"
	regressMethod  = "tensorflow/serving/regress"
	examplesInput  = "inputs"
	classesOutput  = "classes"
	scoresOutput   = "scores"
	regressOutput  = "outputs"
)

// codedError is an error whose gRPC code (TF Serving's) is not the one its
// HTTP status maps to: FAILED_PRECONDITION for a signature that lacks the
// keys of its method, UNIMPLEMENTED for an unknown MultiInference method.
// Over REST it is a 400.
type codedError struct {
	code codes.Code
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// invalid is INVALID_ARGUMENT (400), with TF Serving's message.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{restjson.ErrBadRequest}, args...)...)
}

func precondition(format string, args ...any) error {
	return &codedError{codes.FailedPrecondition, invalid(format, args...)}
}

// rpcStatus is grpcStatus for errors that may carry a code of their own.
func (s *Server) rpcStatus(err error) error {
	var ce *codedError
	if errors.As(err, &ce) {
		return status.Error(ce.code, s.reg.scrub(err.Error()))
	}
	return s.grpcStatus(err)
}

// describe names a signature's inputs and outputs for messages (TF
// Serving prints the SignatureDef).
func describe(sig *savedmodels.Signature) string {
	names := func(ts []savedmodels.TensorInfo) string {
		var n []string
		for _, t := range ts {
			n = append(n, fmt.Sprintf("%q", t.Name))
		}
		return "[" + strings.Join(n, " ") + "]"
	}
	return fmt.Sprintf("%q (method_name %q, inputs %s, outputs %s)", sig.Key, sig.Method, names(sig.Inputs), names(sig.Outputs))
}

func hasOutput(sig *savedmodels.Signature, name string) bool {
	for _, o := range sig.Outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

// checkMethod checks a signature as TF Serving's PreProcessClassification
// or PreProcessRegression does and returns the outputs to fetch (nil: all
// of them).
func checkMethod(sig *savedmodels.Signature, method string) ([]string, error) {
	switch method {
	case classifyMethod:
		if sig.Method != classifyMethod {
			return nil, invalid("Expected classification signature method_name to be %s. Was: %s", classifyMethod, sig.Method)
		}
		if len(sig.Inputs) != 1 {
			return nil, invalid("Expected one input Tensor.")
		}
		if n := len(sig.Outputs); n != 1 && n != 2 {
			return nil, invalid("Expected one or two output Tensors, found %d", n)
		}
		if _, ok := sig.Input(examplesInput); !ok {
			return nil, precondition("No classification inputs found in SignatureDef: %s", describe(sig))
		}
		var fetch []string
		for _, o := range []string{classesOutput, scoresOutput} {
			if hasOutput(sig, o) {
				fetch = append(fetch, o)
			}
		}
		if len(fetch) == 0 {
			return nil, precondition("Expected classification signature outputs to contain at least one of %q or %q. Signature was: %s",
				classesOutput, scoresOutput, describe(sig))
		}
		if len(fetch) == len(sig.Outputs) {
			fetch = nil // all of them
		}
		return fetch, nil
	case regressMethod:
		if sig.Method != regressMethod {
			return nil, invalid("Expected regression signature method_name to be %s. Was: %s", regressMethod, sig.Method)
		}
		if len(sig.Inputs) != 1 {
			return nil, invalid("Expected one input Tensor.")
		}
		if len(sig.Outputs) != 1 {
			return nil, invalid("Expected one output Tensor.")
		}
		if _, ok := sig.Input(examplesInput); !ok {
			return nil, precondition("No regression inputs found in SignatureDef: %s", describe(sig))
		}
		if !hasOutput(sig, regressOutput) {
			return nil, precondition("No regression outputs found in SignatureDef: %s", describe(sig))
		}
		return nil, nil
	}
	return nil, &codedError{codes.Unimplemented, invalid("Unsupported signature method_name: %s", method)}
}

// exampleBatch is a request's examples, counted but not yet serialized
// into a tensor: Example messages (gRPC) or examples already serialized
// (REST).
type exampleBatch struct {
	context  []byte // the serialized context, prefixed to every example
	examples []*examplepb.Example
	wire     [][]byte // serialized examples, instead of examples
	bytes    int64    // of all serialized examples, context included
}

func (b *exampleBatch) count() int64 { return int64(len(b.examples) + len(b.wire)) }

var exampleWire = proto.MarshalOptions{Deterministic: true}

// countExamples reads an Input as TF Serving's
// InputToSerializedExampleTensor does, without serializing the examples:
// how many there are and how many bytes they will take. An Input with
// neither list, or with no examples, is INVALID_ARGUMENT.
func countExamples(in *tfspb.Input) (*exampleBatch, error) {
	b := &exampleBatch{}
	switch k := in.GetKind().(type) {
	case *tfspb.Input_ExampleList:
		b.examples = k.ExampleList.GetExamples()
	case *tfspb.Input_ExampleListWithContext:
		b.examples = k.ExampleListWithContext.GetExamples()
		if c := k.ExampleListWithContext.GetContext(); c != nil && len(b.examples) > 0 {
			var err error
			if b.context, err = exampleWire.Marshal(c); err != nil {
				return nil, invalid("the context does not serialize: %v", err)
			}
		}
	}
	if len(b.examples) == 0 {
		return nil, invalid("Input is empty.")
	}
	for _, ex := range b.examples {
		b.bytes += int64(len(b.context)) + int64(exampleWire.Size(ex))
	}
	return b, nil
}

// tensor serializes the examples: TF Serving's 1-D string tensor, each
// element the context's bytes followed by the example's. Parsing that
// concatenation merges the two, the example's features winning over the
// context's of the same name, which is how TF Serving applies a context.
func (b *exampleBatch) tensor() (Tensor, error) {
	all := make([]byte, 0, b.bytes)
	ends := make([]int, 0, b.count())
	for _, w := range b.wire {
		all = append(append(all, b.context...), w...)
		ends = append(ends, len(all))
	}
	for i, ex := range b.examples {
		all = append(all, b.context...)
		var err error
		if all, err = exampleWire.MarshalAppend(all, ex); err != nil {
			return Tensor{}, invalid("example %d does not serialize: %v", i, err)
		}
		ends = append(ends, len(all))
	}
	one := string(all) // the elements share one copy
	t := Tensor{DType: tfwrap.String, Shape: []int64{int64(len(ends))}, Strings: make([]string, len(ends))}
	start := 0
	for i, e := range ends {
		t.Strings[i], start = one[start:e], e
	}
	return t, nil
}

// decode admits the batch through the request's budget (its count as the
// input's shape, its bytes as the strings' payload) and only then
// serializes it.
func (b *exampleBatch) decode(sig *savedmodels.Signature, bud *budget) (map[string]Tensor, error) {
	if err := bud.admit(sig, examplesInput, tfwrap.String, []int64{b.count()}); err != nil {
		return nil, err
	}
	if err := bud.payload(examplesInput, b.bytes); err != nil {
		return nil, err
	}
	t, err := b.tensor()
	if err != nil {
		return nil, err
	}
	return map[string]Tensor{examplesInput: t}, nil
}

// examplesTensor turns an Input into the tensor TF Serving feeds a
// classify or regress signature: the serialized examples (each merged with
// the context, if any) as a 1-D string tensor. It counts nothing against a
// budget: a request's examples go through runExamples, which does; it is
// for inputs the server itself holds, such as a warm-up log's. An empty
// Input is an error wrapping restjson.ErrBadRequest.
func examplesTensor(in *tfspb.Input) (Tensor, error) {
	b, err := countExamples(in)
	if err != nil {
		return Tensor{}, err
	}
	return b.tensor()
}

// exampleRun is one classify or regress through predict.
type exampleRun struct {
	api       string
	model     string
	version   int64
	signature string
	method    string
	// input reads the request's examples once the signature has passed;
	// b is the request's budget, for a decoder that allocates.
	input func(b *budget) (*exampleBatch, error)
}

// runExamples runs r: the signature's method and keys are checked, then
// the examples counted and admitted by the budget before they are
// serialized, then the signature run as predict runs any other. It
// returns the outputs and the number of examples.
func (s *Server) runExamples(ctx context.Context, r exampleRun) (*predictResult, int64, error) {
	var n int64
	call := &predictCall{api: r.api, model: r.model, version: r.version, signature: r.signature}
	call.decode = func(sig *savedmodels.Signature, b *budget) (map[string]Tensor, error) {
		fetch, err := checkMethod(sig, r.method)
		if err != nil {
			return nil, err
		}
		call.filter = fetch
		batch, err := r.input(b)
		if err != nil {
			return nil, err
		}
		n = batch.count()
		return batch.decode(sig, b)
	}
	res, err := s.predict(ctx, call)
	return res, n, err
}

// checkOutput checks an output's own consistency: a worker's answer is
// trusted no more than a request.
func checkOutput(name string, t Tensor) error {
	if err := t.check(); err != nil {
		return fmt.Errorf("output %q: %v", name, err)
	}
	return nil
}

func dtypeName(dt tfwrap.DType) string { return dt.Proto().String() }

// debugShape prints a shape as TensorShape::DebugString does: [2,3].
func debugShape(dims []int64) string {
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = strconv.FormatInt(d, 10)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// classifyResult validates and converts a classify signature's outputs as
// TF Serving's PostProcessClassificationResult does: classes (DT_STRING)
// and scores (DT_FLOAT) of shape [batch_size, num_classes], the batch the
// number of examples, num_classes equal when both are present. A class
// has the label without a scores output's score (0) and the score without
// a classes output's label ("").
func classifyResult(n int64, out map[string]Tensor) (*tfspb.ClassificationResult, error) {
	var classes []string
	var scoreVals []float32
	numClasses := int64(-1)
	for _, o := range []struct {
		name, what string
		dt         tfwrap.DType
	}{{classesOutput, "classes", tfwrap.String}, {scoresOutput, "scores", tfwrap.Float32}} {
		t, ok := out[o.name]
		if !ok {
			continue
		}
		if err := checkOutput(o.name, t); err != nil {
			return nil, err
		}
		if len(t.Shape) != 2 {
			return nil, invalid("Expected Tensor shape: [batch_size num_classes] but got %s", debugShape(t.Shape))
		}
		if t.DType != o.dt {
			return nil, invalid("Expected %s Tensor of %s. Got: %s", o.what, dtypeName(o.dt), dtypeName(t.DType))
		}
		if t.Shape[0] != n {
			return nil, invalid("Expected %s output batch size of %d. Got: %d", o.what, n, t.Shape[0])
		}
		if numClasses >= 0 && numClasses != t.Shape[1] {
			return nil, invalid("Tensors class and score should match in dim_size(1). Got %d vs. %d", numClasses, t.Shape[1])
		}
		numClasses = t.Shape[1]
		if o.dt == tfwrap.String {
			classes = t.Strings
		} else {
			v, err := fromLE[float32](t.Data)
			if err != nil {
				return nil, fmt.Errorf("output %q: %v", o.name, err)
			}
			scoreVals = v
		}
	}
	if numClasses < 0 {
		return nil, invalid("the signature returned neither %q nor %q", classesOutput, scoresOutput)
	}
	res := &tfspb.ClassificationResult{Classifications: make([]*tfspb.Classifications, n)}
	for i := range n {
		c := &tfspb.Classifications{Classes: make([]*tfspb.Class, numClasses)}
		for j := range numClasses {
			cl := &tfspb.Class{}
			if classes != nil {
				cl.Label = classes[i*numClasses+j]
			}
			if scoreVals != nil {
				cl.Score = scoreVals[i*numClasses+j]
			}
			c.Classes[j] = cl
		}
		res.Classifications[i] = c
	}
	return res, nil
}

// regressResult validates and converts a regress signature's output as
// TF Serving's PostProcessRegressionResult does: DT_FLOAT of shape
// [batch_size] or [batch_size, 1], the batch the number of examples.
func regressResult(n int64, out map[string]Tensor) (*tfspb.RegressionResult, error) {
	t, ok := out[regressOutput]
	if !ok {
		return nil, invalid("Could not find output tensor '%s'", regressOutput)
	}
	if err := checkOutput(regressOutput, t); err != nil {
		return nil, err
	}
	if !(len(t.Shape) == 1 || (len(t.Shape) == 2 && t.Shape[1] == 1)) {
		return nil, invalid("Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got %s", debugShape(t.Shape))
	}
	if t.Shape[0] != n {
		return nil, invalid("Input batch size did not match output batch size: %d vs. %d", n, t.Shape[0])
	}
	if t.DType != tfwrap.Float32 {
		return nil, invalid("Expected output Tensor of DT_FLOAT.  Got: %s", dtypeName(t.DType))
	}
	v, err := fromLE[float32](t.Data)
	if err != nil {
		return nil, fmt.Errorf("output %q: %v", regressOutput, err)
	}
	if int64(len(v)) != n {
		return nil, invalid("Expected output batch size to be %d.  Got: %d", n, len(v))
	}
	res := &tfspb.RegressionResult{Regressions: make([]*tfspb.Regression, n)}
	for i, x := range v {
		res.Regressions[i] = &tfspb.Regression{Value: x}
	}
	return res, nil
}

// resultSpec is the model_spec of an answer, as TF Serving's MakeModelSpec
// writes it: the signature name defaulted, the version that ran.
func resultSpec(model string, res *predictResult) *tfspb.ModelSpec {
	return &tfspb.ModelSpec{Name: model, SignatureName: res.signature,
		VersionChoice: &tfspb.ModelSpec_Version{Version: wrapperspb.Int64(res.version)}}
}

// grpcExamples is a gRPC request's Input, counted when the signature has
// passed (the message is already in memory: nothing is allocated).
func grpcExamples(in *tfspb.Input) func(*budget) (*exampleBatch, error) {
	return func(*budget) (*exampleBatch, error) { return countExamples(in) }
}

// Classify is TF Serving's Classify: a classify signature
// (serving_default unless the model_spec names another) run on the
// request's examples.
func (p predictionService) Classify(ctx context.Context, req *tfspb.ClassificationRequest) (*tfspb.ClassificationResponse, error) {
	s, sp := p.s, req.GetModelSpec()
	const api = "grpc_classify"
	version, err := s.resolveSpec(sp)
	if err != nil {
		s.count(sp.GetName(), api, time.Now(), &err)
		return nil, s.rpcStatus(err)
	}
	res, n, err := s.runExamples(ctx, exampleRun{api: api, model: sp.GetName(), version: version,
		signature: sp.GetSignatureName(), method: classifyMethod, input: grpcExamples(req.GetInput())})
	if err != nil {
		return nil, s.rpcStatus(err)
	}
	result, err := classifyResult(n, res.outputs)
	if err != nil {
		return nil, s.rpcStatus(err)
	}
	return &tfspb.ClassificationResponse{ModelSpec: resultSpec(sp.GetName(), res), Result: result}, nil
}

// Regress is TF Serving's Regress: a regress signature run on the
// request's examples.
func (p predictionService) Regress(ctx context.Context, req *tfspb.RegressionRequest) (*tfspb.RegressionResponse, error) {
	s, sp := p.s, req.GetModelSpec()
	const api = "grpc_regress"
	version, err := s.resolveSpec(sp)
	if err != nil {
		s.count(sp.GetName(), api, time.Now(), &err)
		return nil, s.rpcStatus(err)
	}
	res, n, err := s.runExamples(ctx, exampleRun{api: api, model: sp.GetName(), version: version,
		signature: sp.GetSignatureName(), method: regressMethod, input: grpcExamples(req.GetInput())})
	if err != nil {
		return nil, s.rpcStatus(err)
	}
	result, err := regressResult(n, res.outputs)
	if err != nil {
		return nil, s.rpcStatus(err)
	}
	return &tfspb.RegressionResponse{ModelSpec: resultSpec(sp.GetName(), res), Result: result}, nil
}

// MultiInference is TF Serving's MultiInference: classify and regress
// tasks on one model, each on a signature of its own, over one Input.
// As TF Serving does, it checks every task before running any (one model
// name, no signature twice, each signature there and of the task's
// method), takes the version from the first task's model_spec, and fails
// as a whole if any task does. TF Serving fetches every task's outputs in
// one session run; here each task is a run of its own on the same
// version, all within one deadline, so the signatures need not share
// their input tensor (TF Serving's "Input tensor must be the same for all
// Signatures" is not checked).
func (p predictionService) MultiInference(ctx context.Context, req *tfspb.MultiInferenceRequest) (resp *tfspb.MultiInferenceResponse, err error) {
	s, tasks := p.s, req.GetTasks()
	const api = "grpc_multi_inference"
	model := ""
	if len(tasks) > 0 {
		model = tasks[0].GetModelSpec().GetName()
	}
	start := time.Now()
	// Failures before the first task runs are counted here; each run is
	// counted by predict.
	ran := false
	defer func() {
		if err != nil && !ran {
			s.count(model, api, start, &err)
		}
		if err != nil {
			err = s.rpcStatus(err)
		}
	}()
	if len(tasks) == 0 {
		return nil, invalid("MultiInferenceRequest has no tasks")
	}
	version, err := s.resolveSpec(tasks[0].GetModelSpec())
	if err != nil {
		return nil, err
	}
	v, release, err := s.reg.acquire(model, version)
	if err != nil {
		return nil, err
	}
	defer release()
	seen := map[string]bool{}
	for _, t := range tasks {
		sp := t.GetModelSpec()
		if sp.GetName() == "" {
			return nil, invalid("Found ModelSpec with an empty model name.")
		}
		if sp.GetName() != model {
			return nil, invalid("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
		}
		key := signatureKey(sp.GetSignatureName())
		if seen[key] {
			return nil, invalid("Duplicate evaluation of signature: %s", key)
		}
		seen[key] = true
		sig, err := v.signature(key)
		if err != nil {
			return nil, invalid("Requested signature not found in model graph: %s", key)
		}
		if _, err := checkMethod(sig, t.GetMethodName()); err != nil {
			return nil, err
		}
	}
	batch, err := countExamples(req.GetInput())
	if err != nil {
		return nil, err
	}
	ran = true
	// One deadline for the request, as TF Serving's one run has.
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	resp = &tfspb.MultiInferenceResponse{Results: make([]*tfspb.InferenceResult, len(tasks))}
	for i, t := range tasks {
		res, n, err := s.runExamples(ctx, exampleRun{api: api, model: model, version: v.n,
			signature: t.GetModelSpec().GetSignatureName(), method: t.GetMethodName(),
			input: func(*budget) (*exampleBatch, error) { return batch, nil }})
		if err != nil {
			return nil, err
		}
		r := &tfspb.InferenceResult{ModelSpec: resultSpec(model, res)}
		if t.GetMethodName() == classifyMethod {
			c, err := classifyResult(n, res.outputs)
			if err != nil {
				return nil, err
			}
			r.Result = &tfspb.InferenceResult_ClassificationResult{ClassificationResult: c}
		} else {
			g, err := regressResult(n, res.outputs)
			if err != nil {
				return nil, err
			}
			r.Result = &tfspb.InferenceResult_RegressionResult{RegressionResult: g}
		}
		resp.Results[i] = r
	}
	return resp, nil
}
