package procmem

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestRSSAndChildren(t *testing.T) {
	self, err := RSS(0)
	if err != nil || self <= 0 {
		t.Fatalf("RSS(0) = %d, %v", self, err)
	}
	if byPid, err := RSS(os.Getpid()); err != nil || byPid <= 0 {
		t.Fatalf("RSS(pid) = %d, %v", byPid, err)
	}
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	defer cmd.Process.Kill()
	if kids := Children(os.Getpid()); !slices.Contains(kids, cmd.Process.Pid) {
		t.Fatalf("Children = %v, want %d among them", kids, cmd.Process.Pid)
	}
	if _, err := RSS(1 << 30); err == nil {
		t.Fatal("RSS of no process gave no error")
	}
}
