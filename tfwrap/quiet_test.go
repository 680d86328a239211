//go:build linux && !gotf_noquiet

package tfwrap

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestQuietByDefault runs this test binary as a child: with no
// TF_CPP_MIN_LOG_LEVEL, TensorFlow prints nothing while a session runs;
// with TF_CPP_MIN_LOG_LEVEL=0 its first INFO line (oneDNN's notice,
// logged by its libraries' initializers before Go runs) is back.
func TestQuietByDefault(t *testing.T) {
	if os.Getenv("GOTF_QUIET_CHILD") == "1" {
		g := NewGraph()
		s, err := g.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Eval(g.Add(g.Scalar(1, Float32), g.Scalar(2, Float32)), nil); err != nil {
			t.Fatal(err)
		}
		s.Close()
		return
	}
	run := func(level string) string {
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "TF_CPP_MIN_LOG_LEVEL=") && !strings.HasPrefix(kv, "TF_ENABLE_ONEDNN_OPTS=") {
				env = append(env, kv)
			}
		}
		// oneDNN on: its notice is logged by a library initializer, the
		// line only the .preinit_array code can silence or let through.
		env = append(env, "GOTF_QUIET_CHILD=1", "TF_ENABLE_ONEDNN_OPTS=1")
		if level != "" {
			env = append(env, "TF_CPP_MIN_LOG_LEVEL="+level)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestQuietByDefault$", "-test.v")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child (TF_CPP_MIN_LOG_LEVEL=%q): %v\n%s", level, err, out)
		}
		return string(out)
	}
	if out := run(""); strings.Contains(out, "I0000") || strings.Contains(out, "WARNING: All log messages") {
		t.Errorf("TensorFlow printed with no TF_CPP_MIN_LOG_LEVEL:\n%s", out)
	}
	if out := run("0"); !strings.Contains(out, "oneDNN custom operations are on") {
		t.Errorf("TF_CPP_MIN_LOG_LEVEL=0 did not bring TensorFlow's first INFO line back:\n%s", out)
	}
}
