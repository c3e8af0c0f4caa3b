//go:build unix

package main

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// foreground says f is a terminal and this process is in its foreground
// (`berty daemon … &` is not: reading the terminal would stop it).
func foreground(f *os.File) bool {
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return false
	}
	pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// inheritedFD checks that fd is open and was handed to this process (not
// close-on-exec, as the descriptors Go opens are).
func inheritedFD(fd int) error {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		return errors.New("not an open file descriptor (pass one: --passphrase-fd 3 3<FILE)")
	}
	if flags&unix.FD_CLOEXEC != 0 {
		return errors.New("not a descriptor handed to berty (it is one berty opened itself): pass one, e.g. --passphrase-fd 3 3<FILE")
	}
	return nil
}
