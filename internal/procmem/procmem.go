// Package procmem reads what Linux says of a process's memory and
// children from /proc: for stress runs, load tests and the hostile
// suites, which watch the server's and its workers' RSS.
package procmem

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// RSS returns the resident set size of process pid (0: this process) in
// bytes, from /proc/PID/status's VmRSS.
func RSS(pid int) (int64, error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("procmem: %s: VmRSS %q: %w", path, rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("procmem: %s has no VmRSS", path)
}

// Children lists the processes whose parent is pid.
func Children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}
