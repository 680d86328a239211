package serving

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	tensorpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/internal/fsync"
	"github.com/tfgo-project/gotf/serving/tfspb"
	"github.com/tfgo-project/gotf/tfwrap"
	"github.com/tfgo-project/gotf/tfwrap/shape"
)

// WarmupFile is where a SavedModel keeps its warm-up requests, relative
// to its folder, as TF Serving reads them: a TFRecord file of
// tensorflow.serving.PredictionLog.
const WarmupFile = "assets.extra/tf_serving_warmup_requests"

// Limits on a warm-up file, which comes with the model and so from
// whoever wrote it: TF Serving's own cap on records, and one on a record's
// size so a corrupt length cannot allocate gigabytes.
const (
	maxWarmupRecords     = 1000
	maxWarmupRecordBytes = 64 << 20
)

// WriteWarmup writes sample requests into the SavedModel in dir (such as
// one models.Export wrote) as TF Serving's warm-up file: each sample is
// one PredictRequest for signature (default serving_default), replayed by
// this server and by TF Serving before the version serves. Write it before
// the version folder is where a server looks (export to a staging folder,
// then rename), so no server loads the version without it. The file is
// written whole or not at all.
func WriteWarmup(dir, signature string, samples ...map[string]*tfwrap.Tensor) error {
	if len(samples) == 0 {
		return errors.New("serving: warm-up: no samples")
	}
	if len(samples) > maxWarmupRecords {
		return fmt.Errorf("serving: warm-up: %d samples; TF Serving reads at most %d", len(samples), maxWarmupRecords)
	}
	if st, err := os.Stat(filepath.Join(dir, "saved_model.pb")); err != nil || st.IsDir() {
		return fmt.Errorf("serving: warm-up: %s holds no saved_model.pb", dir)
	}
	var buf []byte
	for i, sample := range samples {
		req := &tfspb.PredictRequest{ModelSpec: &tfspb.ModelSpec{SignatureName: signature}, Inputs: map[string]*tensorpb.TensorProto{}}
		for name, t := range sample {
			if t == nil {
				return fmt.Errorf("serving: warm-up: sample %d: input %q is nil", i, name)
			}
			g, err := fromTF(t)
			if err != nil {
				return fmt.Errorf("serving: warm-up: sample %d: input %q: %w", i, name, err)
			}
			if req.Inputs[name], err = tensorToProto(g); err != nil {
				return fmt.Errorf("serving: warm-up: sample %d: input %q: %w", i, name, err)
			}
		}
		rec, err := proto.Marshal(&tfspb.PredictionLog{LogType: &tfspb.PredictionLog_PredictLog{
			PredictLog: &tfspb.PredictLog{Request: req}}})
		if err != nil {
			return fmt.Errorf("serving: warm-up: sample %d: %w", i, err)
		}
		buf = appendRecord(buf, rec)
	}
	extra := filepath.Join(dir, filepath.Dir(WarmupFile))
	if err := os.MkdirAll(extra, 0o755); err != nil {
		return fmt.Errorf("serving: warm-up: %w", err)
	}
	tmp, err := os.CreateTemp(extra, ".warmup-*")
	if err != nil {
		return fmt.Errorf("serving: warm-up: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf); err != nil {
		tmp.Close()
		return fmt.Errorf("serving: warm-up: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("serving: warm-up: %w", err)
	}
	if err := fsync.File(tmp.Name()); err != nil {
		return fmt.Errorf("serving: warm-up: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, WarmupFile)); err != nil {
		return fmt.Errorf("serving: warm-up: %w", err)
	}
	return fsync.Dir(extra)
}

// TFRecord framing: length, its masked CRC-32C, data, the data's masked
// CRC-32C.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

func appendRecord(buf, data []byte) []byte {
	var head [8]byte
	binary.LittleEndian.PutUint64(head[:], uint64(len(data)))
	buf = append(buf, head[:]...)
	buf = binary.LittleEndian.AppendUint32(buf, maskedCRC(head[:]))
	buf = append(buf, data...)
	return binary.LittleEndian.AppendUint32(buf, maskedCRC(data))
}

// readRecords calls fn with each record of a TFRecord file, checking both
// checksums and the limits before anything is allocated past 64 MiB.
func readRecords(path string, fn func(i int, rec []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for i := 0; ; i++ {
		var head [12]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("record %d: truncated header", i+1)
		}
		if maskedCRC(head[:8]) != binary.LittleEndian.Uint32(head[8:]) {
			return fmt.Errorf("record %d: the length's checksum does not match (a corrupt file)", i+1)
		}
		n := binary.LittleEndian.Uint64(head[:8])
		if n > maxWarmupRecordBytes {
			return fmt.Errorf("record %d: %d bytes, more than the %d a warm-up record may hold", i+1, n, maxWarmupRecordBytes)
		}
		if i >= maxWarmupRecords {
			return fmt.Errorf("more than %d records (TF Serving's limit)", maxWarmupRecords)
		}
		data := make([]byte, n+4)
		if _, err := io.ReadFull(r, data); err != nil {
			return fmt.Errorf("record %d: truncated: %d bytes declared", i+1, n)
		}
		if maskedCRC(data[:n]) != binary.LittleEndian.Uint32(data[n:]) {
			return fmt.Errorf("record %d: the data's checksum does not match (a corrupt file)", i+1)
		}
		if err := fn(i, data[:n]); err != nil {
			return err
		}
	}
}

// replayWarmup runs the version's warm-up requests, as TF Serving does
// before a version becomes AVAILABLE: a record that cannot be read or a
// request that fails fails the load. It reports how many ran, and false
// when the model has no warm-up file.
func (l *localRunner) replayWarmup(dir string) (int, bool, error) {
	path := filepath.Join(dir, WarmupFile)
	if _, err := os.Stat(path); err != nil {
		return 0, false, nil
	}
	n := 0
	err := readRecords(path, func(i int, rec []byte) error {
		var log tfspb.PredictionLog
		if err := proto.Unmarshal(rec, &log); err != nil {
			return fmt.Errorf("record %d: not a PredictionLog: %v", i+1, err)
		}
		reqs, err := warmupRequests(&log)
		if err != nil {
			return fmt.Errorf("record %d: %w", i+1, err)
		}
		for _, r := range reqs {
			if err := l.warmupRun(r); err != nil {
				return fmt.Errorf("record %d: %w", i+1, err)
			}
		}
		n++
		return nil
	})
	if err != nil {
		return n, true, fmt.Errorf("warm-up (%s): %w", WarmupFile, err)
	}
	return n, true, nil
}

// warmupRequest is one run a warm-up record asks for.
type warmupRequest struct {
	signature string
	inputs    map[string]Tensor
	filter    []string
	// method is classifyMethod or regressMethod for a classify or regress
	// log, whose signature and outputs are checked as those calls check
	// them; "" for predict.
	method string
}

// warmupRun runs one warm-up request within the request timeout.
func (l *localRunner) warmupRun(r warmupRequest) error {
	if r.method != "" {
		sig, err := l.model.Signature(r.signature)
		if err != nil {
			return err
		}
		if r.filter, err = checkMethod(sig, r.method); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(l.warmTimeout, time.Millisecond))
	defer cancel()
	out, err := l.predict(ctx, r.signature, r.inputs, r.filter, 0)
	if err != nil {
		return err
	}
	n := r.inputs[examplesInput].Shape
	switch {
	case r.method == classifyMethod && len(n) == 1:
		_, err = classifyResult(n[0], out)
	case r.method == regressMethod && len(n) == 1:
		_, err = regressResult(n[0], out)
	}
	return err
}

// warmupRequests turns a PredictionLog into the runs it asks for: a
// predict, classify or regress log's request, or each task of a
// multi-inference log's. A session-run log is refused, as this server has
// no session-run API.
func warmupRequests(log *tfspb.PredictionLog) ([]warmupRequest, error) {
	// A context is copied into every example: the tensor is bounded as a
	// predict log's strings are, before it is built.
	tensor := func(in *tfspb.Input) (Tensor, error) {
		b, err := countExamples(in)
		if err != nil {
			return Tensor{}, err
		}
		if b.bytes > maxWarmupRecordBytes {
			return Tensor{}, fmt.Errorf("the examples would take more than %d bytes", maxWarmupRecordBytes)
		}
		return b.tensor()
	}
	examples := func(in *tfspb.Input, sig string, method string) ([]warmupRequest, error) {
		t, err := tensor(in)
		if err != nil {
			return nil, err
		}
		return []warmupRequest{{signature: signatureKey(sig), inputs: map[string]Tensor{examplesInput: t}, method: method}}, nil
	}
	switch {
	case log.GetPredictLog() != nil:
		req := log.GetPredictLog().GetRequest()
		in, err := warmupInputs(req.GetInputs())
		if err != nil {
			return nil, err
		}
		return []warmupRequest{{signature: signatureKey(req.GetModelSpec().GetSignatureName()), inputs: in, filter: req.GetOutputFilter()}}, nil
	case log.GetClassifyLog() != nil:
		req := log.GetClassifyLog().GetRequest()
		return examples(req.GetInput(), req.GetModelSpec().GetSignatureName(), classifyMethod)
	case log.GetRegressLog() != nil:
		req := log.GetRegressLog().GetRequest()
		return examples(req.GetInput(), req.GetModelSpec().GetSignatureName(), regressMethod)
	case log.GetMultiInferenceLog() != nil:
		req := log.GetMultiInferenceLog().GetRequest()
		if len(req.GetTasks()) == 0 {
			return nil, errors.New("a multi-inference log with no tasks")
		}
		// The tasks share one copy of the examples.
		t, err := tensor(req.GetInput())
		if err != nil {
			return nil, err
		}
		var out []warmupRequest
		for _, task := range req.GetTasks() {
			if m := task.GetMethodName(); m != classifyMethod && m != regressMethod {
				return nil, fmt.Errorf("multi-inference task method %q: want %s or %s", m, classifyMethod, regressMethod)
			}
			out = append(out, warmupRequest{signature: signatureKey(task.GetModelSpec().GetSignatureName()),
				inputs: map[string]Tensor{examplesInput: t}, method: task.GetMethodName()})
		}
		return out, nil
	}
	return nil, errors.New("a session-run or empty log: only predict, classify, regress and multi-inference logs are replayed")
}

// warmupInputs decodes a request's tensors within a fixed element bound.
func warmupInputs(in map[string]*tensorpb.TensorProto) (map[string]Tensor, error) {
	out := make(map[string]Tensor, len(in))
	var total int64
	for _, k := range sortedKeys(in) {
		dt, dims, err := tensorHeader(k, in[k])
		if err != nil {
			return nil, err
		}
		n, err := shape.NumElements(dims)
		if err != nil {
			return nil, fmt.Errorf("input %q: %v", k, err)
		}
		if total += n; total > 1<<24 {
			return nil, fmt.Errorf("input %q: the request holds more than %d elements", k, 1<<24)
		}
		if dt == tfwrap.String && stringBytes(in[k].GetStringVal(), dims) > maxWarmupRecordBytes {
			return nil, fmt.Errorf("input %q: its strings would take more than %d bytes", k, maxWarmupRecordBytes)
		}
		if out[k], err = tensorFromProto(k, in[k], dt, dims); err != nil {
			return nil, err
		}
	}
	return out, nil
}
