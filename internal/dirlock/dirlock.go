// Package dirlock keeps one process per data directory: an exclusive
// flock on a file in it, which records the holder's pid for the error a
// second process shows.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrHeld is returned when another process holds the lock.
var ErrHeld = errors.New("the data directory is in use")

// HeldError is ErrHeld with the directory and the holder's pid.
type HeldError struct{ Dir, Pid string }

func (e *HeldError) Error() string {
	return fmt.Sprintf("%v (%s, pid %s)", ErrHeld, e.Dir, e.Pid)
}

func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Lock takes the lock file name in dir, or fails with ErrHeld. unlock
// releases it.
func Lock(dir, name string) (unlock func(), err error) {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		pid := strings.TrimSpace(string(b))
		if pid == "" {
			pid = "unknown"
		}
		return nil, &HeldError{Dir: dir, Pid: pid}
	}
	f.Truncate(0)
	f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	return func() { f.Truncate(0); f.Close() }, nil
}
