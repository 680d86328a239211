package hostile

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/serving/kservepb"
	"github.com/tfgo-project/gotf/serving/tfspb"
)

// Each expanding message is the message its method takes, holding about
// size/2 (size/12 for keys) empty parts.
func TestExpanding(t *testing.T) {
	const size = 20000
	for _, kind := range ExpandingKinds {
		method, b, err := Expanding(kind, "m", size)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < size-100 || len(b) > size+100 {
			t.Errorf("%s: %d bytes, want about %d", kind, len(b), size)
		}
		var n int
		var m proto.Message
		switch kind {
		case "handles", "dims", "keys":
			r := &tfspb.PredictRequest{}
			m = r
			if err := proto.Unmarshal(b, r); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			switch kind {
			case "handles":
				n = len(r.Inputs["x"].GetResourceHandleVal())
			case "dims":
				n = len(r.Inputs["x"].GetTensorShape().GetDim())
			default:
				n = len(r.Inputs) * 6
			}
		case "examples":
			r := &tfspb.ClassificationRequest{}
			m = r
			if err := proto.Unmarshal(b, r); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			n = len(r.GetInput().GetExampleList().GetExamples())
		case "kserve":
			r := &kservepb.ModelInferRequest{}
			m = r
			if err := proto.Unmarshal(b, r); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			n = len(r.Inputs)
		}
		if n < size/2-100 || n > size/2+100 {
			t.Errorf("%s (%s, %T): %d parts, want about %d", kind, method, m, n, size/2)
		}
	}
	if _, _, err := Expanding("nonsense", "m", size); err == nil {
		t.Error("an unknown kind gave no error")
	}
}
