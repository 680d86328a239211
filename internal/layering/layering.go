// Package layering lists which of this module's packages a package links,
// so that tests can keep the layers apart (savedmodels and serving must not
// link models). It runs `go list -deps`; the go command is on the PATH of
// a `go test` run.
package layering

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// Deps returns the module-relative paths ("tfwrap", "internal/fsync") of
// this module's packages that the packages pkgs (patterns as `go list`
// takes them, e.g. "." or "../cmd/serve") link, pkgs included, test
// files excluded.
func Deps(pkgs ...string) ([]string, error) {
	args := append([]string{"list", "-deps", "-f", "{{if and .Module .Module.Main}}{{.ImportPath}} {{.Module.Path}}{{end}}"}, pkgs...)
	var stderr bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("layering: go list -deps %v: %w\n%s", pkgs, err, stderr.Bytes())
	}
	var deps []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, module, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		deps = append(deps, strings.TrimPrefix(strings.TrimPrefix(path, module), "/"))
	}
	if len(deps) == 0 {
		return nil, fmt.Errorf("layering: go list -deps %v listed none of this module's packages", pkgs)
	}
	return deps, nil
}

// Outside returns those of deps that lie in none of the allowed folders
// ("tfwrap" allows tfwrap and tfwrap/dtype).
func Outside(deps []string, allowed ...string) []string {
	var out []string
	for _, d := range deps {
		ok := false
		for _, a := range allowed {
			if d == a || strings.HasPrefix(d, a+"/") {
				ok = true
				break
			}
		}
		if !ok {
			out = append(out, d)
		}
	}
	return out
}
