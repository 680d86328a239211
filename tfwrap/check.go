package tfwrap

import (
	"fmt"
	"strconv"
	"strings"

	tf "github.com/galeone/tensorflow/tensorflow/go"
)

// MinVersion is the oldest libtensorflow whose C API this package is tested
// against (the wheels from 2.16 on ship libtensorflow_cc.so.2 with it).
const MinVersion = "2.16"

// SetupHint is what every library error tells the user to run.
const SetupHint = "run `make setup` (scripts/setup.sh) to install libtensorflow from the pinned tensorflow-cpu wheel"

// Version returns libtensorflow's version, as TF_Version reports it.
func Version() string { return tf.Version() }

// Info is what Check found out about the TensorFlow runtime.
type Info struct {
	Version string
	Devices []Device
}

// Check verifies that libtensorflow is recent enough and can run a kernel,
// and lists the devices it sees. Commands call it at start-up.
func Check() (*Info, error) {
	v := Version()
	if !atLeast(v, MinVersion) {
		return nil, fmt.Errorf("tfwrap: libtensorflow %q is older than %s; %s", v, MinVersion, SetupHint)
	}
	g := NewGraph()
	sum := g.Add(g.Scalar(2, Int32), g.Scalar(3, Int32))
	s, err := g.NewSession()
	if err != nil {
		return nil, fmt.Errorf("tfwrap: self-check: %w; %s", err, SetupHint)
	}
	defer s.Close()
	t, err := s.Eval(sum, nil)
	if err != nil {
		return nil, fmt.Errorf("tfwrap: self-check: %w; %s", err, SetupHint)
	}
	if got, err := t.Int32s(); err != nil || len(got) != 1 || got[0] != 5 {
		return nil, fmt.Errorf("tfwrap: self-check: 2+3 gave %v (%v); %s", got, err, SetupHint)
	}
	devs, err := s.Devices()
	if err != nil {
		return nil, err
	}
	return &Info{Version: v, Devices: devs}, nil
}

// atLeast compares dotted versions numerically ("2.21.0" >= "2.16").
func atLeast(v, min string) bool {
	a, b := strings.Split(v, "."), strings.Split(min, ".")
	for i := range b {
		if i >= len(a) {
			return false
		}
		x, err1 := strconv.Atoi(strings.TrimFunc(a[i], func(r rune) bool { return r < '0' || r > '9' }))
		y, err2 := strconv.Atoi(b[i])
		if err1 != nil || err2 != nil {
			return false
		}
		if x != y {
			return x > y
		}
	}
	return true
}
