//go:build !unix

package main

import (
	"os"

	"golang.org/x/term"
)

func foreground(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func inheritedFD(int) error { return nil }
