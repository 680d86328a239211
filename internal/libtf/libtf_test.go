package libtf

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeWheel writes a small wheel with the given members and registers it
// as platform "test/fake".
func fakeWheel(t *testing.T, members map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake.whl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range members {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, _ := os.ReadFile(path)
	sum := sha256.Sum256(b)
	Wheels["test/fake"] = Wheel{File: "fake.whl", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b)),
		Libs: []string{"tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"}}
	t.Cleanup(func() { delete(Wheels, "test/fake") })
	return path
}

var good = map[string]string{
	"tensorflow/libtensorflow_cc.so.2":        "cc",
	"tensorflow/libtensorflow_framework.so.2": "fw",
	"tensorflow/include/tensorflow/c/c_api.h": "// api",
	"tensorflow/python/ops/array_ops.py":      "not needed",
}

func TestEnsure(t *testing.T) {
	wheel := fakeWheel(t, good)
	dir := filepath.Join(t.TempDir(), "tf")
	in, err := Ensure(dir, "test/fake", Options{WheelFile: wheel})
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"lib/libtensorflow_cc.so.2": "cc", "lib/libtensorflow_framework.so.2": "fw", "include/tensorflow/c/c_api.h": "// api"} {
		if b, err := os.ReadFile(filepath.Join(dir, rel)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v", rel, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "python")); err == nil {
		t.Error("unpacked more than the libraries and headers")
	}
	script, _ := os.ReadFile(filepath.Join(dir, "lib", "libtensorflow.so"))
	if want := `INPUT("` + filepath.Join(dir, "lib", "libtensorflow_cc.so.2") + `" "` + filepath.Join(dir, "lib", "libtensorflow_framework.so.2") + "\")\n"; string(script) != want {
		t.Errorf("link script %q, want %q", script, want)
	}
	env := in.Env(in.LibDir())
	if env[2][0] != "CGO_LDFLAGS" || !strings.Contains(env[2][1], "-L"+in.LibDir()) || !strings.Contains(env[2][1], "-Xlinker -rpath -Xlinker "+in.LibDir()) {
		t.Errorf("cgo flags %v", env)
	}
	for _, v := range env {
		if !strings.HasPrefix(v[1], "-O2 -g ") {
			t.Errorf("%s drops Go's default -O2 -g: %s", v[0], v[1])
		}
	}
	// Idempotent: a second call with no wheel at all finds it complete.
	if _, err := Ensure(dir, "test/fake", Options{WheelFile: "/nonexistent"}); err != nil {
		t.Errorf("second Ensure: %v", err)
	}
	// Nothing left beside it.
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".install-*"))
	if len(left) > 0 {
		t.Errorf("temporary folders left: %v", left)
	}
}

func TestEnsureRefusesBadWheels(t *testing.T) {
	wheel := fakeWheel(t, good)
	b, _ := os.ReadFile(wheel)
	bad := func(name string, content []byte) string {
		p := filepath.Join(t.TempDir(), name)
		os.WriteFile(p, content, 0o644)
		return p
	}
	flipped := append([]byte(nil), b...)
	flipped[len(flipped)/2] ^= 0x10
	for _, c := range []struct {
		name, path string
	}{
		{"bit-flipped", bad("flipped.whl", flipped)},
		{"truncated", bad("cut.whl", b[:len(b)/2])},
		{"empty", bad("empty.whl", nil)},
		{"missing", "/nonexistent/fake.whl"},
	} {
		dir := filepath.Join(t.TempDir(), "tf")
		_, err := Ensure(dir, "test/fake", Options{WheelFile: c.path})
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if c.name != "missing" && !errors.Is(err, ErrDigest) {
			t.Errorf("%s: %v, want ErrDigest", c.name, err)
		}
		if _, serr := os.Stat(dir); serr == nil {
			t.Errorf("%s: left a folder behind", c.name)
		}
	}
	// A wheel with the right digest but no C library, or an unsafe path.
	for name, members := range map[string]map[string]string{
		"no library":  {"tensorflow/include/x.h": "x"},
		"unsafe path": {"tensorflow/libtensorflow_cc.so.2": "cc", "tensorflow/libtensorflow_framework.so.2": "fw", "tensorflow/include/../../evil": "x"},
	} {
		w := fakeWheel(t, members)
		dir := filepath.Join(t.TempDir(), "tf")
		if _, err := Ensure(dir, "test/fake", Options{WheelFile: w}); err == nil {
			t.Errorf("%s: accepted", name)
		} else if Installed(dir, Wheels["test/fake"]) {
			t.Errorf("%s: marked complete", name)
		}
	}
	if _, err := WheelFor("plan9/mips"); err == nil || !strings.Contains(err.Error(), "linux/amd64") {
		t.Errorf("an unknown platform: %v", err)
	}
}

// TestPinnedWheels: every pinned wheel names this Version, a digest and
// the C libraries.
func TestPinnedWheels(t *testing.T) {
	for p, w := range Wheels {
		if !strings.Contains(w.File, "-"+Version+"-") || !strings.HasSuffix(w.URL, "/"+w.File) || len(w.SHA256) != 64 || len(w.Libs) != 2 {
			t.Errorf("%s: %+v", p, w)
		}
	}
}

// TestMissingSymbols reads a real shared library's exports out of a wheel
// and names what it lacks.
func TestMissingSymbols(t *testing.T) {
	libm, err := os.ReadFile("/lib/x86_64-linux-gnu/libm.so.6")
	if err != nil {
		t.Skip("no x86_64 libm to read:", err)
	}
	wheel := fakeWheel(t, map[string]string{"tensorflow/libtensorflow_cc.so.2": string(libm), "tensorflow/libtensorflow_framework.so.2": string(libm)})
	missing, err := MissingSymbols(wheel, Wheels["test/fake"], []string{"sin", "cos", "TF_NewSession"})
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0] != "TF_NewSession" {
		t.Errorf("missing %v, want [TF_NewSession]", missing)
	}
	notELF := fakeWheel(t, good)
	if _, err := MissingSymbols(notELF, Wheels["test/fake"], []string{"sin"}); err == nil {
		t.Error("libraries that are neither ELF nor Mach-O were read")
	}
}

// TestEnsureConcurrent: set-ups racing on one cache all succeed and leave
// one complete install.
func TestEnsureConcurrent(t *testing.T) {
	wheel := fakeWheel(t, good)
	dir := filepath.Join(t.TempDir(), "tf")
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			_, err := Ensure(dir, "test/fake", Options{WheelFile: wheel})
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if !Installed(dir, Wheels["test/fake"]) {
		t.Error("not installed")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "lib", "libtensorflow_cc.so.2")); err != nil || string(b) != "cc" {
		t.Errorf("library %q, %v", b, err)
	}
}

// TestEnsureDownloads: the wheel comes over HTTP from a mirror of PyPI's
// file host, is checked and installed; a mirror serving other bytes, or
// nothing, is refused with nothing installed; what an interrupted set-up
// left is removed.
func TestEnsureDownloads(t *testing.T) {
	wheel := fakeWheel(t, good)
	body, _ := os.ReadFile(wheel)
	w := Wheels["test/fake"]
	w.URL = "https://files.pythonhosted.org/packages/ab/fake.whl"
	Wheels["test/fake"] = w
	serve := func(b []byte, code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/packages/ab/fake.whl" {
				http.NotFound(rw, r)
				return
			}
			rw.WriteHeader(code)
			rw.Write(b)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	root := t.TempDir()
	dir := filepath.Join(root, "tf")
	stale := filepath.Join(root, ".install-tf-123")
	os.MkdirAll(stale, 0o755)
	flipped := append([]byte(nil), body...)
	flipped[len(flipped)/3] ^= 1
	for _, c := range []struct {
		name string
		b    []byte
		code int
	}{{"corrupt", flipped, 200}, {"missing", nil, 404}, {"cut", body[:len(body)/2], 200}} {
		t.Setenv("GOTF_PYPI_FILES", serve(c.b, c.code))
		if _, err := Ensure(dir, "test/fake", Options{}); err == nil || !strings.Contains(err.Error(), "-wheel") {
			t.Errorf("%s: %v", c.name, err)
		}
		if Installed(dir, w) {
			t.Errorf("%s: installed", c.name)
		}
	}
	t.Setenv("GOTF_PYPI_FILES", serve(body, 200)+"/")
	if _, err := Ensure(dir, "test/fake", Options{}); err != nil {
		t.Fatal(err)
	}
	if !Installed(dir, w) {
		t.Error("not installed")
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("an interrupted set-up's folder was left")
	}
}

// TestDir: the folder is absolute whatever GOTF_CACHE says, and names the
// wheel it holds.
func TestDir(t *testing.T) {
	t.Setenv("GOTF_CACHE", "rel/cache")
	d, err := Dir("linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(d) || !strings.HasSuffix(d, "tensorflow-"+Version+"-linux_amd64-"+Wheels["linux/amd64"].SHA256[:8]) {
		t.Errorf("Dir = %s", d)
	}
	in := Install{Dir: "/a b/c", Wheel: Wheels["linux/amd64"]}
	if got := in.Env("$ORIGIN/../lib")[0][1]; got != "-O2 -g '-I/a b/c/include'" {
		t.Errorf("a folder with a space: %s", got)
	}
}
