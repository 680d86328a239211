package serving

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// NoWorkerMemoryCap as Config.WorkerMemoryBytes leaves workers uncapped.
const NoWorkerMemoryCap = ^uint64(0)

// A worker's address space is far larger than what it uses: an idle
// worker serving a small model measured 2.6 GB of address space for 330
// MB resident (Intel Xeon, 2 vCPU, TF 2.21), the rest being
// libtensorflow's mapping, thread stacks and malloc arenas reserved but
// not touched. The default cap leaves that room, plus what the machine
// can give one worker: half the memory of the machine or container.
const (
	workerReserve = 2 << 30  // address space a worker reserves without using
	perCPUReserve = 64 << 20 // and per CPU (stacks, arenas)
	minWorkerUse  = 4 << 30  // a worker may use at least this much
)

// defaultWorkerMemory is the address-space cap a worker gets when the
// configuration names none: the reserve, plus half the memory of the
// container (cgroup limit) or machine, at least 4 GiB.
func defaultWorkerMemory() uint64 {
	use := uint64(minWorkerUse)
	if m := machineMemory(); m/2 > use {
		use = m / 2
	}
	return workerReserve + perCPUReserve*uint64(runtime.NumCPU()) + use
}

// machineMemory is the memory this process may use: the cgroup's limit
// when it has one (v2, then v1), else the machine's total; 0 if unknown.
func machineMemory() uint64 {
	total := memTotal()
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			return n // "max", or v1's huge "no limit", fall through to the total
		}
	}
	return total
}

// memTotal is MemTotal of /proc/meminfo in bytes, 0 if unknown.
func memTotal() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			n, _ := strconv.ParseUint(f[1], 10, 64)
			return n << 10
		}
	}
	return 0
}
