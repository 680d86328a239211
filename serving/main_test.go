package serving

import (
	"os"
	"testing"
)

// TestMain lets the test binary double as the worker process that servers
// under process isolation start (they run their own executable again).
func TestMain(m *testing.M) {
	RunWorkerIfChild()
	code := m.Run()
	if hostileDir != "" {
		os.RemoveAll(hostileDir)
	}
	os.Exit(code)
}
