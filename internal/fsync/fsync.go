// Package fsync flushes files and folders to stable storage, for the
// writers (checkpoints, SavedModels) that must survive a crash or kill -9.
package fsync

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// File flushes the file at path to stable storage.
func File(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}

// Dir flushes the folder's entries (renames, new and removed files) to
// stable storage. File systems that cannot fsync a folder (EINVAL) give no
// such guarantee, and are let through.
func Dir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("fsync folder %s: %w", dir, err)
	}
	return nil
}
