package tfwrap

import (
	"os"
	"testing"
)

// TestOneDNN: TF_ENABLE_ONEDNN_OPTS decides when set (make test runs this
// with 0 and 1); unset, TensorFlow's default for the CPU is reported.
func TestOneDNN(t *testing.T) {
	on, err := OneDNN()
	if err != nil {
		t.Fatal(err)
	}
	v, set := os.LookupEnv("TF_ENABLE_ONEDNN_OPTS")
	t.Logf("oneDNN on: %v (TF_ENABLE_ONEDNN_OPTS=%q, set %v)", on, v, set)
	switch {
	case set && v == "0" && on:
		t.Error("oneDNN reported on with TF_ENABLE_ONEDNN_OPTS=0")
	case set && v == "1" && !on:
		t.Error("oneDNN reported off with TF_ENABLE_ONEDNN_OPTS=1")
	}
}

// TestOneDNNAsked: what tensorflow::IsMKLEnabled says is what a graph
// gets (the probe looks at the kernel TensorFlow chose for a MatMul).
func TestOneDNNAsked(t *testing.T) {
	asked, known := mklEnabled()
	if !known {
		t.Skip("this libtensorflow does not export tensorflow::IsMKLEnabled; OneDNN probes a graph")
	}
	ran, err := probeOneDNN()
	if err != nil {
		t.Fatal(err)
	}
	if asked != ran {
		t.Fatalf("IsMKLEnabled says %v, the MatMul ran oneDNN: %v", asked, ran)
	}
}
