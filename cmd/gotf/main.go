// Command gotf provisions and ships the libtensorflow this module is built
// for, from any Go module:
//
//	go run github.com/tfgo-project/gotf/cmd/gotf setup    # once per machine
//	go build ./...                                         # then as usual
//	go run github.com/tfgo-project/gotf/cmd/gotf bundle -o dist ./cmd/mysvc
//
// setup downloads TensorFlow's PyPI wheel for this platform (tensorflow-cpu
// on Linux x86_64), checks its SHA-256 against the digest pinned in this
// module, unpacks the C library and headers into a per-user cache
// ($GOTF_CACHE, else $XDG_CACHE_HOME/gotf or ~/.cache/gotf; ~/Library/Caches/gotf
// on macOS) and records
// the cgo flags with `go env -w`, so go build, go test and gopls find the
// library from every module with nothing to source. It needs neither
// Python nor npm, and does nothing (quietly) when the library is there.
//
// bundle builds packages into DIR/bin with an $ORIGIN-relative run path
// and copies the libraries into DIR/lib: a folder that runs on a machine
// with no Go, no cache and no clone.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/tfgo-project/gotf/internal/libtf"
)

const usage = `usage: gotf <command> [flags]

commands:
  setup    install libtensorflow %s for this platform into the user cache
           and record cgo's flags (go env -w)
  env      print the cgo flags as shell exports
  bundle   build packages into a folder that carries the libraries
  version  print the TensorFlow version, platform, wheel and cache folder
  verify   download another platform's wheel and check that its C library
           exports every C API symbol a binary built here imports
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, usage, libtf.Version)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "setup":
		err = setup(args, os.Stdout)
	case "env":
		err = env(args, os.Stdout)
	case "bundle":
		err = bundle(args, os.Stdout)
	case "version":
		err = version(os.Stdout)
	case "verify":
		err = verify(args, os.Stdout)
	case "-h", "--help", "help":
		fmt.Printf(usage, libtf.Version)
	default:
		err = fmt.Errorf("unknown command %q\n"+usage, cmd, libtf.Version)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gotf:", err)
		os.Exit(1)
	}
}

// ensure installs (or finds) the library for this platform.
func ensure(wheel string, quiet bool) (libtf.Install, error) {
	p := libtf.Platform()
	dir, err := libtf.Dir(p)
	if err != nil {
		return libtf.Install{}, err
	}
	opts := libtf.Options{WheelFile: wheel}
	if !quiet {
		opts.Log = func(f string, a ...any) { fmt.Fprintf(os.Stderr, "gotf: "+f+"\n", a...) }
	}
	return libtf.Ensure(dir, p, opts)
}

func setup(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	wheel := fs.String("wheel", "", "a wheel file already downloaded (its SHA-256 is still checked)")
	envFile := fs.String("env_file", "", "write the cgo flags as shell exports to this file instead of go env -w")
	print := fs.Bool("print", false, "print the cgo flags as shell exports instead of go env -w")
	force := fs.Bool("force", false, "replace cgo flags in go env that point at another gotf install (another TensorFlow release)")
	quiet := fs.Bool("quiet", false, "say nothing unless something fails")
	if err := fs.Parse(args); err != nil {
		return err
	}
	in, err := ensure(*wheel, *quiet)
	if err != nil {
		return err
	}
	vars := in.Env(in.LibDir())
	switch {
	case *envFile != "":
		return os.WriteFile(*envFile, []byte(exports(vars)), 0o644)
	case *print:
		_, err := io.WriteString(out, exports(vars))
		return err
	}
	w := []string{"env", "-w"}
	var names []string
	for _, v := range vars {
		w = append(w, v[0]+"="+v[1])
		names = append(names, v[0])
		if cur := os.Getenv(v[0]); cur != "" && cur != v[1] {
			fmt.Fprintf(os.Stderr, "gotf: note: %s is set in your environment, which overrides go env; unset it or use `gotf env`\n", v[0])
		}
	}
	// What go env holds now, from its file only (not this environment).
	cur := exec.Command(goBin(), append([]string{"env"}, names...)...)
	cur.Env = withoutVars(os.Environ(), names)
	old, err := cur.Output()
	if err != nil {
		return fmt.Errorf("go env: %w", err)
	}
	prev := strings.Split(strings.TrimRight(string(old), "\n"), "\n")
	if len(prev) != len(vars) {
		prev = make([]string, len(vars))
	}
	for i, p := range prev { // refuse before anything is replaced
		if strings.Contains(p, "/gotf/tensorflow-") && !strings.Contains(p, "/gotf/tensorflow-"+libtf.Version+"-") && !*force {
			return fmt.Errorf("go env %s points at another gotf install (%s): a module built for another TensorFlow release set it; run setup with -force to switch this machine to %s, or use `gotf env` per shell", vars[i][0], p, libtf.Version)
		}
	}
	for i, p := range prev {
		if p != vars[i][1] && p != "" && p != "-O2 -g" {
			fmt.Fprintf(os.Stderr, "gotf: go env %s was %q; it is replaced (go env -w %s=%q restores it)\n", vars[i][0], p, vars[i][0], p)
		}
	}
	cmd := exec.Command(goBin(), w...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go env -w: %w", err)
	}
	if !*quiet {
		fmt.Fprintf(out, "libtensorflow %s ready in %s; cgo's flags are in go env (go env CGO_LDFLAGS; `go env -u %s` removes them)\n", libtf.Version, in.Dir, strings.Join(names, " "))
	}
	return nil
}

// withoutVars is env without the variables named.
func withoutVars(env, names []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, k) {
			out = append(out, kv)
		}
	}
	return out
}

func env(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("env", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	p := libtf.Platform()
	dir, err := libtf.Dir(p)
	if err != nil {
		return err
	}
	w, err := libtf.WheelFor(p)
	if err != nil {
		return err
	}
	if !libtf.Installed(dir, w) {
		return fmt.Errorf("libtensorflow %s is not installed in %s; run `%s`", libtf.Version, dir, libtf.SetupCommand)
	}
	in := libtf.Install{Dir: dir, Wheel: w}
	_, err = io.WriteString(out, exports(in.Env(in.LibDir())))
	return err
}

func exports(vars [][2]string) string {
	var b strings.Builder
	b.WriteString("# libtensorflow " + libtf.Version + " for cgo, written by gotf\n")
	for _, v := range vars {
		fmt.Fprintf(&b, "export %s=%s\n", v[0], shellQuote(v[1]))
	}
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func bundle(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bundle", flag.ContinueOnError)
	dst := fs.String("o", "", "the folder to make: DIR/bin holds the programs, DIR/lib the libraries")
	wheel := fs.String("wheel", "", "a wheel file already downloaded, should the library not be installed yet")
	strip := fs.Bool("strip", false, "strip the libraries' symbol tables (strip --strip-unneeded): 853 MB become 634 MB for TensorFlow 2.21 on Linux x86_64")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dst == "" || fs.NArg() == 0 {
		return errors.New("usage: gotf bundle -o DIR [-strip] PACKAGE...")
	}
	// The libraries are this machine's: a cross build would ship the wrong
	// ones.
	target, err := exec.Command(goBin(), "env", "GOOS", "GOARCH").Output()
	if err != nil {
		return fmt.Errorf("go env: %w", err)
	}
	if t := strings.Join(strings.Fields(string(target)), "/"); t != libtf.Platform() {
		return fmt.Errorf("bundle builds for this machine (%s), not %s: run it on a %s machine", libtf.Platform(), t, t)
	}
	in, err := ensure(*wheel, false)
	if err != nil {
		return err
	}
	bin, lib := filepath.Join(*dst, "bin"), filepath.Join(*dst, "lib")
	for _, d := range []string{bin, lib} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// The shipped run path only: the cache's is left out, so the folder
	// runs the libraries it carries wherever it is moved.
	build := exec.Command(goBin(), append([]string{"build", "-trimpath", "-o", bin + string(filepath.Separator)}, fs.Args()...)...)
	build.Env = os.Environ()
	origin := "$ORIGIN/../lib"
	if runtime.GOOS == "darwin" {
		origin = "@executable_path/../lib"
	}
	for _, v := range in.Env(origin) {
		build.Env = append(build.Env, v[0]+"="+v[1])
	}
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	var size int64
	for _, l := range in.Wheel.Libs {
		to := filepath.Join(lib, filepath.Base(l))
		n, err := copyFile(filepath.Join(in.LibDir(), filepath.Base(l)), to)
		if err != nil {
			return err
		}
		if *strip {
			flag := "--strip-unneeded"
			if runtime.GOOS == "darwin" {
				flag = "-x" // Apple's strip: local symbols only
			}
			if out, err := exec.Command("strip", flag, to).CombinedOutput(); err != nil {
				return fmt.Errorf("strip %s: %v: %s", to, err, out)
			}
			st, err := os.Stat(to)
			if err != nil {
				return err
			}
			n = st.Size()
		}
		size += n
	}
	fmt.Fprintf(out, "%s: programs in bin/, libtensorflow %s in lib/ (%d MB); move the folder anywhere and run bin/PROGRAM\n", *dst, libtf.Version, size/1_000_000)
	return nil
}

func copyFile(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return n, os.Rename(tmp, dst)
}

func version(out io.Writer) error {
	p := libtf.Platform()
	dir, err := libtf.Dir(p)
	if err != nil {
		return err
	}
	w, werr := libtf.WheelFor(p)
	state := "not installed: run `" + libtf.SetupCommand + "`"
	if werr != nil {
		state = werr.Error()
	} else if libtf.Installed(dir, w) {
		state = "installed"
	}
	fmt.Fprintf(out, "tensorflow %s\nplatform %s\nwheel %s\nsha256 %s\ncache %s (%s)\n", libtf.Version, p, w.File, w.SHA256, dir, state)
	return nil
}

func verify(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	platform := fs.String("platform", "", "the GOOS/GOARCH whose wheel to check")
	against := fs.String("against", "", "a binary built here (linux/amd64) whose TF_ and TFE_ imports the wheel must export")
	dir := fs.String("dir", "", "where to keep the downloaded wheel (default: the gotf cache's wheels folder)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		root, err := libtf.Root()
		if err != nil {
			return err
		}
		*dir = filepath.Join(root, "wheels")
	}
	if *platform == "" || *against == "" {
		return errors.New("usage: gotf verify -platform GOOS/GOARCH -against BINARY")
	}
	names, err := libtf.ImportedCAPI(*against)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("%s imports no TF_ or TFE_ symbol: not a binary built against libtensorflow", *against)
	}
	w, err := libtf.WheelFor(*platform)
	if err != nil {
		return err
	}
	path, err := libtf.Fetch(*dir, *platform)
	if err != nil {
		return err
	}
	missing, err := libtf.MissingSymbols(path, w, names)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: %s does not export %d of the %d C API symbols %s imports: %s", *platform, w.File, len(missing), len(names), *against, strings.Join(missing, ", "))
	}
	fmt.Fprintf(out, "%s: %s (SHA-256 checked) exports all %d C API symbols %s imports\n", *platform, w.File, len(names), filepath.Base(*against))
	return nil
}

// goBin is the go command of the toolchain that built this program when it
// is there (go run), else the one on PATH.
func goBin() string {
	if g := filepath.Join(runtime.GOROOT(), "bin", "go"); runtime.GOROOT() != "" {
		if _, err := os.Stat(g); err == nil {
			return g
		}
	}
	return "go"
}
