// Package libtf installs the libtensorflow this module is built for, from
// TensorFlow's own PyPI wheel, into a per-user cache, and says what cgo
// needs to use it. It has no cgo of its own, so it runs before the library
// exists: cmd/gotf's setup and the project's make setup both call it.
package libtf

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Version is the TensorFlow release this module version is built and
// tested against. tfwrap refuses a library of another major.minor.
const Version = "2.21.0"

// SetupCommand is what every error about a missing or wrong library tells
// the user to run, from any module.
const SetupCommand = "go run github.com/tfgo-project/gotf/cmd/gotf setup"

// Wheel is one platform's PyPI wheel and the C libraries it carries.
type Wheel struct {
	File   string // the wheel's file name
	URL    string // where PyPI serves it
	SHA256 string // its digest as PyPI lists it
	Size   int64
	// Libs are the C libraries, as wheel paths; the first exports the C
	// API, the others are what it needs beside it.
	Libs []string
}

// Wheels are the wheels by GOOS/GOARCH. Linux x86_64 takes tensorflow-cpu
// (no CUDA); the others take tensorflow, the only project with wheels for
// them. Any CPython tag carries the same C libraries; these are cp311.
var Wheels = map[string]Wheel{
	"linux/amd64": {
		File:   "tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl",
		URL:    "https://files.pythonhosted.org/packages/59/03/9a99555a762de8cd4a405efbd39a732d926d8e58791441889560b7675b3e/tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl",
		SHA256: "2b847d217b02ee7731ed91431daf3250daa0196c3c94614d23be27232e6e5b6c",
		Size:   273829956,
		Libs:   []string{"tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"},
	},
	"linux/arm64": {
		File:   "tensorflow-2.21.0-cp311-cp311-manylinux_2_27_aarch64.whl",
		URL:    "https://files.pythonhosted.org/packages/9c/7c/57b7ee953b40d5d837136d20af6851b20ea6ca63753fc05699e8bcfab6d5/tensorflow-2.21.0-cp311-cp311-manylinux_2_27_aarch64.whl",
		SHA256: "4b24aca16d527a3cf1c37f720c04c484c3d20f4d0fdfa98632ac8b9f3be6eb5c",
		Size:   281828020,
		Libs:   []string{"tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"},
	},
	"darwin/arm64": {
		File:   "tensorflow-2.21.0-cp311-cp311-macosx_12_0_arm64.whl",
		URL:    "https://files.pythonhosted.org/packages/ec/76/b649b02a243c09f0348199dbd81408c1558cfbec2b6d77d820c428a95254/tensorflow-2.21.0-cp311-cp311-macosx_12_0_arm64.whl",
		SHA256: "51f46f4806139d01fc7920cc72a4c75876f80649bf40ff083ab6212ceb43ca88",
		Size:   223405849,
		Libs:   []string{"tensorflow/libtensorflow_cc.2.dylib", "tensorflow/libtensorflow_framework.2.dylib"},
	},
}

// Platform is this process's GOOS/GOARCH, the key of Wheels.
func Platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// WheelFor is the wheel for platform, or an error naming the platforms
// there are wheels for.
func WheelFor(platform string) (Wheel, error) {
	w, ok := Wheels[platform]
	if !ok {
		return Wheel{}, fmt.Errorf("libtf: TensorFlow %s has no wheel with its C library for %s (there are for linux/amd64, linux/arm64 and darwin/arm64)", Version, platform)
	}
	return w, nil
}

// Root is the cache all installs live in: $GOTF_CACHE if set, else the
// user's cache folder (os.UserCacheDir: $XDG_CACHE_HOME or ~/.cache on
// Linux, ~/Library/Caches on macOS) under gotf/; always absolute, since
// the paths go into cgo's flags and binaries' run paths.
func Root() (string, error) {
	root := os.Getenv("GOTF_CACHE")
	if root == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("libtf: no cache folder (%v): set GOTF_CACHE", err)
		}
		root = filepath.Join(c, "gotf")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("libtf: cache folder %q: %w", root, err)
	}
	return abs, nil
}

// Dir is where the library for platform is installed: one folder per
// version, platform and wheel (the digest's first 8 hex digits), so two
// module versions pinning different wheels of one release never replace
// each other's install.
func Dir(platform string) (string, error) {
	w, err := WheelFor(platform)
	if err != nil {
		return "", err
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "tensorflow-"+Version+"-"+strings.ReplaceAll(platform, "/", "_")+"-"+w.SHA256[:8]), nil
}

// Install is an installed library: its folder, with lib/ and include/.
type Install struct {
	Dir   string
	Wheel Wheel
}

// LibDir holds the C libraries and the libtensorflow.so link script.
func (in Install) LibDir() string { return filepath.Join(in.Dir, "lib") }

// IncludeDir holds the wheel's C and C++ headers.
func (in Install) IncludeDir() string { return filepath.Join(in.Dir, "include") }

// stampName marks a complete install: it holds the wheel's digest.
const stampName = ".complete"

// Installed reports whether dir holds a complete install of w.
func Installed(dir string, w Wheel) bool {
	b, err := os.ReadFile(filepath.Join(dir, stampName))
	return err == nil && strings.TrimSpace(string(b)) == w.SHA256
}

// Options say where the wheel comes from.
type Options struct {
	// WheelFile is a wheel already on disk (its digest is still checked);
	// empty downloads it (wheelURL: PyPI, or $GOTF_PYPI_FILES's mirror).
	WheelFile string
	// Log, when not nil, gets one line per step taken (nothing when the
	// library is already there).
	Log func(format string, args ...any)
}

// Ensure installs the library for platform into dir unless it is already
// complete there: the wheel is downloaded (or read), its SHA-256 checked
// against the pinned digest, the libraries and headers unpacked into a
// temporary folder beside dir, and that folder renamed into place, so an
// interrupted install leaves nothing half made.
func Ensure(dir, platform string, opts Options) (Install, error) {
	w, err := WheelFor(platform)
	if err != nil {
		return Install{}, err
	}
	in := Install{Dir: dir, Wheel: w}
	if Installed(dir, w) {
		return in, nil
	}
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return in, fmt.Errorf("libtf: %w", err)
	}
	unlock, err := lock(dir+".lock", func() { logf("waiting for another set-up of %s", dir) })
	if err != nil {
		return in, err
	}
	defer unlock()
	if Installed(dir, w) { // another set-up finished while this one waited
		return in, nil
	}
	// Under the lock no other set-up of this folder runs: what an earlier,
	// interrupted one left is stale.
	prefix := ".install-" + filepath.Base(dir) + "-"
	if stale, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), prefix+"*")); len(stale) > 0 {
		for _, s := range stale {
			os.RemoveAll(s)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), prefix+"*")
	if err != nil {
		return in, fmt.Errorf("libtf: %w", err)
	}
	defer os.RemoveAll(tmp)
	path := opts.WheelFile
	if path == "" {
		url := wheelURL(w)
		path = filepath.Join(tmp, w.File)
		logf("downloading %s (%d MB)", w.File, w.Size>>20)
		if err := download(url, path); err != nil {
			return in, fmt.Errorf("%w (on a machine without PyPI, download %s elsewhere and pass it with -wheel; GOTF_PYPI_FILES names a mirror of files.pythonhosted.org)", err, w.File)
		}
	}
	if err := checkDigest(path, w.SHA256); err != nil {
		return in, fmt.Errorf("%w: this module pins %s; download that file again (or pass it with -wheel)", err, w.File)
	}
	logf("unpacking the C library and headers into %s", dir)
	stage := filepath.Join(tmp, "stage")
	if err := unpack(path, stage, w); err != nil {
		return in, err
	}
	if err := writeLinkScript(stage, dir, w); err != nil {
		return in, err
	}
	if err := os.WriteFile(filepath.Join(stage, stampName), []byte(w.SHA256+"\n"), 0o644); err != nil {
		return in, fmt.Errorf("libtf: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil { // an incomplete earlier install
		return in, fmt.Errorf("libtf: %w", err)
	}
	if err := os.Rename(stage, dir); err != nil {
		return in, fmt.Errorf("libtf: %w", err)
	}
	return in, nil
}

// wheelURL is where w is downloaded from: PyPI's file host, or the mirror
// $GOTF_PYPI_FILES names in its place (the same paths under another base).
func wheelURL(w Wheel) string {
	const host = "https://files.pythonhosted.org"
	if m := strings.TrimSuffix(os.Getenv("GOTF_PYPI_FILES"), "/"); m != "" && strings.HasPrefix(w.URL, host) {
		return m + strings.TrimPrefix(w.URL, host)
	}
	return w.URL
}

// download fetches url into path. There is no bound on the whole transfer
// (a slow link may take long for 274 MB), only on the server's first
// answer; a stalled connection fails through TCP's keepalive.
func download(url, path string) error {
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: time.Minute}}
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("libtf: download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("libtf: download %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("libtf: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("libtf: download %s: %w", url, err)
	}
	return f.Close()
}

// ErrDigest: a wheel is not the one this module pins.
var ErrDigest = errors.New("libtf: the wheel's SHA-256 is not the pinned one")

func checkDigest(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("libtf: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("libtf: reading %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%w: %s has %s, want %s", ErrDigest, path, got, want)
	}
	return nil
}

// unpack copies the wheel's libraries into stage/lib and its include/
// tree into stage/include.
func unpack(path, stage string, w Wheel) error {
	z, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("libtf: %s is not a wheel: %w", path, err)
	}
	defer z.Close()
	want := map[string]string{}
	for _, l := range w.Libs {
		want[l] = filepath.Join(stage, "lib", filepath.Base(l))
	}
	found := 0
	for _, f := range z.File {
		var dst string
		switch {
		case want[f.Name] != "":
			dst, found = want[f.Name], found+1
		case strings.HasPrefix(f.Name, "tensorflow/include/") && !strings.HasSuffix(f.Name, "/"):
			rel := strings.TrimPrefix(f.Name, "tensorflow/include/")
			if !filepath.IsLocal(rel) {
				return fmt.Errorf("libtf: the wheel holds an unsafe path %q", f.Name)
			}
			dst = filepath.Join(stage, "include", rel)
		default:
			continue
		}
		if err := extract(f, dst); err != nil {
			return err
		}
	}
	if found != len(w.Libs) {
		return fmt.Errorf("libtf: %s lacks %v: not a wheel with TensorFlow's C library", path, w.Libs)
	}
	return nil
}

func extract(f *zip.File, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("libtf: %w", err)
	}
	r, err := f.Open()
	if err != nil {
		return fmt.Errorf("libtf: %s: %w", f.Name, err)
	}
	defer r.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("libtf: %w", err)
	}
	if _, err := io.Copy(out, r); err != nil { // zip checks each member's CRC-32
		out.Close()
		return fmt.Errorf("libtf: %s: %w", f.Name, err)
	}
	return out.Close()
}

// writeLinkScript makes lib/libtensorflow.so, which the bindings' -ltensorflow
// resolves to: the wheel has no libtensorflow.so, and the C API spans both
// libraries, so on Linux it is a GNU ld script naming both (with the final
// paths: ld reads it at link time); on macOS a symlink to the first, whose
// load commands name the second.
func writeLinkScript(stage, dir string, w Wheel) error {
	lib := filepath.Join(stage, "lib")
	if strings.HasSuffix(w.Libs[0], ".dylib") {
		return os.Symlink(filepath.Base(w.Libs[0]), filepath.Join(lib, "libtensorflow.dylib"))
	}
	var paths []string
	for _, l := range w.Libs {
		paths = append(paths, `"`+filepath.Join(dir, "lib", filepath.Base(l))+`"`)
	}
	return os.WriteFile(filepath.Join(lib, "libtensorflow.so"), []byte("INPUT("+strings.Join(paths, " ")+")\n"), 0o644)
}

// Env is what cgo needs to build against in and run what it builds: the
// variables, in the order to set them. rpath is the run path written into
// binaries: in.LibDir() to run where they are built, or "$ORIGIN/../lib"
// for a binary shipped beside its libraries.
//
// The values keep Go's own defaults (-O2 -g), which a CGO_ variable
// replaces, and quote each path, so a folder with spaces works. The run
// path goes through -Xlinker, so a comma in it does too.
func (in Install) Env(rpath string) [][2]string {
	inc := quoteFlag("-I" + in.IncludeDir())
	ld := "-O2 -g " + quoteFlag("-L"+in.LibDir()) + " -Xlinker -rpath -Xlinker " + quoteFlag(rpath)
	if strings.HasSuffix(in.Wheel.Libs[0], ".dylib") {
		// ld64 takes no symbols from a library loaded only through another:
		// name the second library too.
		ld += " -ltensorflow_framework.2"
	}
	return [][2]string{
		{"CGO_CFLAGS", "-O2 -g " + inc},
		// C++ for the one call the C API lacks (the C++ gradient registry);
		// -w silences TensorFlow's own headers.
		{"CGO_CXXFLAGS", "-O2 -g " + inc + " -std=c++17 -w"},
		{"CGO_LDFLAGS", ld},
	}
}

// quoteFlag quotes a flag for cmd/go's splitting of CGO_ variables when it
// holds a space or a quote.
func quoteFlag(f string) string {
	if !strings.ContainsAny(f, " \t'\"") {
		return f
	}
	if !strings.Contains(f, "'") {
		return "'" + f + "'"
	}
	return `"` + f + `"`
}

// Fetch downloads platform's wheel into dir (unless it is there) and
// checks its digest; it returns the wheel's path. Nothing is installed.
func Fetch(dir, platform string) (string, error) {
	w, err := WheelFor(platform)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, w.File)
	if checkDigest(path, w.SHA256) == nil {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("libtf: %w", err)
	}
	part, err := os.CreateTemp(dir, w.File+".part-*")
	if err != nil {
		return "", fmt.Errorf("libtf: %w", err)
	}
	part.Close()
	defer os.Remove(part.Name())
	if err := download(wheelURL(w), part.Name()); err != nil {
		return "", err
	}
	if err := checkDigest(part.Name(), w.SHA256); err != nil {
		return "", err
	}
	return path, os.Rename(part.Name(), path)
}

// MissingSymbols lists the names that none of the wheel's C libraries
// defines as an exported symbol: the C API a binary built here needs,
// checked on another platform's wheel without running it. ELF (Linux) and
// Mach-O (macOS, whose symbols carry a leading underscore) are read.
func MissingSymbols(wheelPath string, w Wheel, names []string) ([]string, error) {
	z, err := zip.OpenReader(wheelPath)
	if err != nil {
		return nil, fmt.Errorf("libtf: %s is not a wheel: %w", wheelPath, err)
	}
	defer z.Close()
	tmp, err := os.MkdirTemp("", "libtf-symbols-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	defined := map[string]bool{}
	for _, l := range w.Libs {
		var member *zip.File
		for _, m := range z.File {
			if m.Name == l {
				member = m
			}
		}
		if member == nil {
			return nil, fmt.Errorf("libtf: %s lacks %s", wheelPath, l)
		}
		dst := filepath.Join(tmp, filepath.Base(l))
		if err := extract(member, dst); err != nil {
			return nil, err
		}
		syms, err := exported(dst)
		if err != nil {
			return nil, fmt.Errorf("libtf: %s: %w", l, err)
		}
		for _, s := range syms {
			defined[s] = true
		}
		os.Remove(dst)
	}
	var missing []string
	for _, n := range names {
		if !defined[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}
