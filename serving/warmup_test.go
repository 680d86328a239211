package serving

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/serving/tfspb"
	"github.com/tfgo-project/gotf/serving/tfspb/examplepb"
	"github.com/tfgo-project/gotf/tfwrap"
)

func f32Tensor(t *testing.T, shape []int64, data []float32) *tfwrap.Tensor {
	t.Helper()
	x, err := tfwrap.NewTensor(data, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestWriteWarmupReadByTensorFlow writes a warm-up file from Go and reads
// it back with TensorFlow's TFRecord reader (which checks the checksums)
// and tensorflow-serving-api's PredictionLog.
func TestWriteWarmupReadByTensorFlow(t *testing.T) {
	base := filepath.Join(t.TempDir(), "m")
	export(t, base, 1, 3)
	dir := filepath.Join(base, "1")
	a := []float32{1, 2, 3, 4}
	b := []float32{0.5, -1, 2, 0, 9, 8, 7, 6}
	if err := WriteWarmup(dir, "serving_default",
		map[string]*tfwrap.Tensor{"inputs": f32Tensor(t, []int64{1, 4}, a)},
		map[string]*tfwrap.Tensor{"inputs": f32Tensor(t, []int64{2, 4}, b)}); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Signature string `json:"signature"`
		Inputs    map[string]struct {
			Shape []int64   `json:"shape"`
			Data  []float64 `json:"data"`
			DType string    `json:"dtype"`
		} `json:"inputs"`
	}
	if err := pyref.Run("warmup_records.py", map[string]any{"op": "read", "path": filepath.Join(dir, WarmupFile)}, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d records", len(got))
	}
	for i, want := range [][]float32{a, b} {
		in := got[i].Inputs["inputs"]
		if got[i].Signature != "serving_default" || in.DType != "float32" || len(in.Data) != len(want) || in.Shape[0] != int64(i+1) {
			t.Fatalf("record %d: %+v", i, got[i])
		}
		w := make([]float64, len(want))
		for j, v := range want {
			w[j] = float64(v)
		}
		same(t, fmt.Sprint("record ", i), in.Data, w)
	}
	for _, c := range []struct {
		dir  string
		want string
	}{{base, "no saved_model.pb"}, {t.TempDir(), "no saved_model.pb"}} {
		if err := WriteWarmup(c.dir, "", map[string]*tfwrap.Tensor{"inputs": f32Tensor(t, []int64{1, 4}, a)}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("WriteWarmup(%s): %v", c.dir, err)
		}
	}
	if err := WriteWarmup(dir, ""); err == nil {
		t.Fatal("no samples: no error")
	}
}

// TestWarmupReplay serves versions whose warm-up files are good (written
// by TensorFlow's tools as TF Serving's guide says, and by WriteWarmup),
// ask for a bad request, or are damaged: a version whose warm-up fails is
// not served, with the reason in its status, as in TF Serving.
func TestWarmupReplay(t *testing.T) {
	base := filepath.Join(t.TempDir(), "m")
	for v := 1; v <= 4; v++ {
		export(t, base, v, uint64(v))
	}
	file := func(v int, requests ...map[string]any) map[string]any {
		return map[string]any{"path": filepath.Join(base, fmt.Sprint(v), WarmupFile), "signature": "serving_default", "requests": requests}
	}
	row := map[string]any{"shape": []int{1, 4}, "data": []float32{1, 2, 3, 4}}
	files := []map[string]any{
		file(1, map[string]any{"inputs": row}, map[string]any{"inputs": map[string]any{"shape": []int{3, 4}, "data": make([]float32, 12)}}),
		file(2, map[string]any{"inputs": row}, map[string]any{"pixels": row}),                               // no such input
		file(3, map[string]any{"inputs": map[string]any{"shape": []int{1, 5}, "data": make([]float32, 5)}}), // wrong shape
	}
	var ok map[string]any
	if err := pyref.Run("warmup_records.py", map[string]any{"op": "write", "files": files}, &ok); err != nil {
		t.Fatal(err)
	}
	good := func(v int) string {
		dir := filepath.Join(base, fmt.Sprint(v))
		if err := WriteWarmup(dir, "", map[string]*tfwrap.Tensor{"inputs": f32Tensor(t, []int64{1, 4}, []float32{1, 2, 3, 4})}); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, WarmupFile)
	}
	// 4: one bit flipped in the data (more damage: TestReadRecordsDamaged).
	p := good(4)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0x10
	os.WriteFile(p, b, 0o644)

	_, hs := start(t, Config{Models: []ModelConfig{{Name: "m", BasePath: base, Policy: VersionPolicy{All: true}}}})
	code, st := call(t, "GET", hs.URL+"/v1/models/m", "")
	if code != 200 {
		t.Fatalf("status %d %v", code, st)
	}
	want := map[string]struct{ state, msg string }{
		"1": {"AVAILABLE", ""},
		"2": {"END", `record 2`},
		"3": {"END", "record 1"},
		"4": {"END", "checksum"},
	}
	seen := 0
	for _, e := range st["model_version_status"].([]any) {
		e := e.(map[string]any)
		w, ok := want[e["version"].(string)]
		msg := fmt.Sprint(e["status"].(map[string]any)["error_message"])
		if !ok || e["state"] != w.state || !strings.Contains(msg, w.msg) || (w.state == "END" && !strings.Contains(msg, "warm-up")) {
			t.Errorf("version %v: %v %q, want %s %q", e["version"], e["state"], msg, w.state, w.msg)
		}
		seen++
	}
	if seen != len(want) {
		t.Fatalf("status %v", st)
	}
}

// TestWarmupCount replays in process and counts the runs.
func TestWarmupCount(t *testing.T) {
	base := filepath.Join(t.TempDir(), "m")
	export(t, base, 1, 3)
	dir := filepath.Join(base, "1")
	x := f32Tensor(t, []int64{1, 4}, []float32{1, 2, 3, 4})
	samples := []map[string]*tfwrap.Tensor{{"inputs": x}, {"inputs": x}, {"inputs": x}}
	if err := WriteWarmup(dir, "serving_default", samples...); err != nil {
		t.Fatal(err)
	}
	l, err := loadLocal(loadOptions{dir: dir, timeout: 30 * time.Second}, "m", newMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	n, had, err := l.replayWarmup(dir)
	if n != 3 || !had || err != nil {
		t.Fatalf("replayed %d (file: %v), %v", n, had, err)
	}
}

// TestReadRecordsDamaged reads TFRecord files damaged every way a copy or
// a disk can: each is an error naming the record, none allocates what a
// corrupt length declares.
func TestReadRecordsDamaged(t *testing.T) {
	good := appendRecord(appendRecord(nil, []byte("first record")), []byte("second"))
	huge := appendRecord(nil, []byte("x"))
	huge[5] = 1 // the length's sixth byte: 2^40 bytes, its checksum right
	binary.LittleEndian.PutUint32(huge[8:12], maskedCRC(huge[:8]))
	flip := func(i int) []byte {
		b := append([]byte{}, good...)
		b[i] ^= 0x01
		return b
	}
	for _, c := range []struct {
		name string
		file []byte
		want string // "" for no error
		n    int
	}{
		{"good", good, "", 2},
		{"empty", nil, "", 0},
		{"length bit", flip(2), "record 1: the length's checksum", 0},
		{"data bit", flip(14), "record 1: the data's checksum", 0},
		{"second data bit", flip(len(good) - 6), "record 2: the data's checksum", 1},
		{"cut in the header", good[:5], "record 1: truncated header", 0},
		{"cut in the data", good[:20], "record 1: truncated", 0},
		{"cut in the second", good[:len(good)-1], "record 2: truncated", 1},
		{"huge length", huge, "more than", 0},
	} {
		p := filepath.Join(t.TempDir(), "rec")
		os.WriteFile(p, c.file, 0o644)
		n := 0
		err := readRecords(p, func(int, []byte) error { n++; return nil })
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) || n != c.n {
			t.Errorf("%s: %d records, %v; want %d, %q", c.name, n, err, c.n, c.want)
		}
	}
}

// TestWarmupClassifyRegress replays classify, regress and multi-inference
// logs (written with tensorflow-serving-api's messages) against an
// Estimator-style SavedModel: good logs let the version serve, a log that
// asks classify of a regress signature keeps it out, as in TF Serving.
func TestWarmupClassifyRegress(t *testing.T) {
	base := filepath.Join(t.TempDir(), "est")
	var ref map[string]any
	if err := pyref.Run("estimator_savedmodel.py", map[string]any{"dir": filepath.Join(base, "1"), "cases": map[string]any{}}, &ref); err != nil {
		t.Fatal(err)
	}
	copyTree(t, filepath.Join(base, "1"), filepath.Join(base, "2"))
	ex := []map[string]any{{"x": map[string]any{"float": []float32{1, 2}}, "tag": map[string]any{"bytes": []string{"hi"}}}, {"x": map[string]any{"float": []float32{0, -1}}}}
	files := []map[string]any{
		{"path": filepath.Join(base, "1", WarmupFile), "signature": "", "requests": []map[string]any{
			{"kind": "classify", "signature": "serving_default", "examples": ex},
			{"kind": "classify", "signature": "classify_scores", "examples": ex},
			{"kind": "regress", "signature": "regress", "examples": ex},
			{"kind": "multi", "tasks": [][]string{{"classify", "classify"}, {"regress", "regress"}}, "examples": ex},
		}},
		{"path": filepath.Join(base, "2", WarmupFile), "signature": "", "requests": []map[string]any{
			{"kind": "classify", "signature": "serving_default", "examples": ex},
			{"kind": "classify", "signature": "regress", "examples": ex},
		}},
	}
	var ok map[string]any
	if err := pyref.Run("warmup_records.py", map[string]any{"op": "write", "files": files}, &ok); err != nil {
		t.Fatal(err)
	}
	l, err := loadLocal(loadOptions{dir: filepath.Join(base, "1"), timeout: 30 * time.Second}, "est", newMetrics())
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := l.replayWarmup(filepath.Join(base, "1"))
	l.close()
	if n != 4 || err != nil {
		t.Fatalf("replayed %d records: %v", n, err)
	}
	_, err = loadLocal(loadOptions{dir: filepath.Join(base, "2"), timeout: 30 * time.Second, warmup: true}, "est", newMetrics())
	if err == nil || !strings.Contains(err.Error(), "record 2") || !strings.Contains(err.Error(), "Expected classification signature method_name") {
		t.Fatalf("classify on a regress signature: %v", err)
	}
}

// TestWarmupExamplesBounded: a warm-up record is at most 64 MiB, but a
// classify log's context is copied into every example, and a
// multi-inference log's examples were serialized once per task, so a
// small record could ask for terabytes (a 32 MiB context and a million
// empty examples: 32 TiB) and kill the process that loads the version
// (the server itself under IsolationNone). Either is refused.
func TestWarmupExamplesBounded(t *testing.T) {
	ctx := &examplepb.Example{Features: &examplepb.Features{Feature: map[string]*examplepb.Feature{
		"pad": {Kind: &examplepb.Feature_BytesList{BytesList: &examplepb.BytesList{Value: [][]byte{make([]byte, 1<<20)}}}}}}}
	exs := make([]*examplepb.Example, 100) // 100 x 1 MiB once the context is prefixed
	for i := range exs {
		exs[i] = &examplepb.Example{}
	}
	withCtx := &tfspb.Input{Kind: &tfspb.Input_ExampleListWithContext{ExampleListWithContext: &tfspb.ExampleListWithContext{Examples: exs, Context: ctx}}}
	small := &tfspb.Input{Kind: &tfspb.Input_ExampleList{ExampleList: &tfspb.ExampleList{Examples: []*examplepb.Example{ctx}}}}
	var tasks []*tfspb.InferenceTask
	for range 100 { // 100 tasks x 1 MiB of examples
		tasks = append(tasks, &tfspb.InferenceTask{MethodName: classifyMethod})
	}
	for _, c := range []struct {
		name string
		log  *tfspb.PredictionLog
	}{
		{"context", &tfspb.PredictionLog{LogType: &tfspb.PredictionLog_ClassifyLog{ClassifyLog: &tfspb.ClassifyLog{
			Request: &tfspb.ClassificationRequest{Input: withCtx}}}}},
		{"tasks", &tfspb.PredictionLog{LogType: &tfspb.PredictionLog_MultiInferenceLog{MultiInferenceLog: &tfspb.MultiInferenceLog{
			Request: &tfspb.MultiInferenceRequest{Input: small, Tasks: tasks}}}}},
	} {
		if n := proto.Size(c.log); n > 2<<20 {
			t.Fatalf("%s: the record takes %d bytes", c.name, n)
		}
		reqs, err := warmupRequests(c.log)
		var total int64
		for _, r := range reqs {
			for _, s := range r.inputs[examplesInput].Strings {
				total += int64(len(s))
			}
		}
		switch c.name {
		case "context":
			if err == nil || !strings.Contains(err.Error(), "more than") {
				t.Errorf("%s: %d requests, %d bytes, %v; want refused", c.name, len(reqs), total, err)
			}
		case "tasks":
			// Refused, or the examples shared among the tasks: either way the
			// record may not cost 100 copies. Sharing is checked by the
			// strings' backing memory.
			if err == nil && len(reqs) > 1 && unsafeStringData(reqs[0].inputs[examplesInput].Strings[0]) != unsafeStringData(reqs[1].inputs[examplesInput].Strings[0]) {
				t.Errorf("%s: %d requests, each with its own copy of the examples (%d bytes)", c.name, len(reqs), total)
			}
		}
	}
}

func unsafeStringData(s string) *byte { return unsafe.StringData(s) }
