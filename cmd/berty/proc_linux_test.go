package main

import "syscall"

// The daemons get SIGKILL if the test binary dies without its cleanups.
func init() { procAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
