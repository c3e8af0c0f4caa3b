// Package fsync makes file changes durable: a file's or a directory's
// contents flushed to the disk, and a file replaced whole or not at all.
package fsync

import (
	"os"
	"path/filepath"
)

// Sync flushes the file or directory at path to the disk (for a directory:
// the names created, renamed or removed in it).
func Sync(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// WriteAtomic replaces path with b, readable by its owner only: a crash
// leaves the old file or the new one, never a mix or nothing.
func WriteAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return Sync(filepath.Dir(path))
}
