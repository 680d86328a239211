package main

import (
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetupGoEnv: setup writes cgo's flags into go env (a go env file of
// the test's own), keeping Go's -O2 -g and leaving CGO_ENABLED alone; it
// refuses flags another release's install wrote unless forced.
func TestSetupGoEnv(t *testing.T) {
	t.Setenv("GOENV", filepath.Join(t.TempDir(), "goenv"))
	for _, k := range []string{"CGO_CFLAGS", "CGO_CXXFLAGS", "CGO_LDFLAGS", "CGO_ENABLED"} {
		t.Setenv(k, "") // go env reads the file only when the variable is empty
	}
	goenv := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(goBin(), append([]string{"env"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("go env %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	goenv("-w", "CGO_LDFLAGS=-L/x/gotf/tensorflow-2.20.0-linux_amd64-aaaaaaaa/lib")
	if err := setup([]string{"-quiet"}, io.Discard); err == nil || !strings.Contains(err.Error(), "-force") {
		t.Fatalf("another release's flags were replaced without -force: %v", err)
	}
	if got := goenv("CGO_LDFLAGS"); !strings.Contains(got, "2.20.0") {
		t.Fatalf("a refused setup changed go env: %s", got)
	}
	if err := setup([]string{"-quiet", "-force"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"CGO_CFLAGS", "CGO_CXXFLAGS", "CGO_LDFLAGS"} {
		if v := goenv(k); !strings.HasPrefix(v, "-O2 -g ") || !strings.Contains(v, "/tensorflow-2.21.0-") {
			t.Errorf("%s = %q", k, v)
		}
	}
	if strings.Contains(readFile(t, filepath.Join(filepath.Dir(goenv("GOENV")), "goenv")), "CGO_ENABLED") {
		t.Error("setup wrote CGO_ENABLED, which would turn cgo on for cross builds")
	}
	if err := setup([]string{"-quiet"}, io.Discard); err != nil { // again: nothing to refuse
		t.Fatal(err)
	}
}
