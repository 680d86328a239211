package tfwrap

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	tf "github.com/galeone/tensorflow/tensorflow/go"

	"github.com/tfgo-project/gotf/internal/libtf"
)

// BuiltFor is the TensorFlow release this module is built and tested
// against: the library `gotf setup` installs. A library of another
// major.minor release is refused (CheckVersion).
const BuiltFor = libtf.Version

// SetupHint is what every library error tells the user to run.
const SetupHint = "run `" + libtf.SetupCommand + "` (make setup in a clone of gotf) to install it, then rebuild"

// CheckVersion compares the libtensorflow this process loaded with the
// release the module is built for (BuiltFor), on major.minor: the C API
// and the ops' attributes change between releases, and a mismatch shows
// up later as an undefined symbol or an op that will not build. Sessions,
// SavedModel loads and Check call it; GOTF_SKIP_VERSION_CHECK=1 turns it
// off for an experiment with another release.
func CheckVersion() error { return versionErr() }

var versionErr = sync.OnceValue(func() error {
	if os.Getenv("GOTF_SKIP_VERSION_CHECK") == "1" {
		return nil
	}
	err := sameRelease(Version(), BuiltFor)
	if err != nil {
		if from := loadedFrom(); from != "" {
			err = fmt.Errorf("%w (loaded from %s: a binary finds it through its run path, or LD_LIBRARY_PATH when set)", err, from)
		}
	}
	return err
})

// sameRelease is nil when loaded and want share major.minor.
func sameRelease(loaded, want string) error {
	if !atLeast(loaded, release(want)) || atLeast(loaded, nextRelease(want)) {
		return fmt.Errorf("tfwrap: the libtensorflow this program loaded is %q, but gotf is built for %s; %s", loaded, want, SetupHint)
	}
	return nil
}

// release is v's major.minor; nextRelease the one after it.
func release(v string) string {
	p := strings.SplitN(v, ".", 3)
	if len(p) < 2 {
		return v
	}
	return p[0] + "." + p[1]
}

func nextRelease(v string) string {
	p := strings.SplitN(v, ".", 3)
	if len(p) < 2 {
		return v
	}
	minor, _ := strconv.Atoi(p[1])
	return p[0] + "." + strconv.Itoa(minor+1)
}

// Version returns libtensorflow's version, as TF_Version reports it.
func Version() string { return tf.Version() }

// Info is what Check found out about the TensorFlow runtime.
type Info struct {
	Version string
	Devices []Device
}

// Check verifies that libtensorflow is recent enough and can run a kernel,
// and lists the devices it sees. Commands call it at start-up. Its
// session is made with opts: TensorFlow sizes its thread pools for the
// whole process from the first session, so a command that sets them
// (WithThreads) passes the same here.
func Check(opts ...SessionOption) (*Info, error) {
	v := Version()
	if err := CheckVersion(); err != nil {
		return nil, err
	}
	g := NewGraph()
	sum := g.Add(g.Scalar(2, Int32), g.Scalar(3, Int32))
	s, err := g.NewSession(opts...)
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
