// Package term makes text from other people safe to print on a terminal.
//
// A message body or a display name is written by a peer. Printed as it
// is, it could carry escape sequences that recolour the screen, move the
// cursor, rewrite the window title or the clipboard (OSC 52), ring the
// bell, or direction overrides that show characters in another order than
// they are stored in. Clean removes all of them; Lines also splits a text
// on its line breaks, so that a client can indent continuation lines and a
// multi-line message cannot pass for lines of its own (another person's
// message, a system line).
package term

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean returns s without what a terminal would interpret: C0 and C1
// control characters (ESC, BEL, CR, backspace…; a tab becomes a space and a
// line break a space), DEL, Unicode bidirectional controls, and invalid
// UTF-8 (as U+FFFD). Printable text, emoji and right-to-left scripts are
// kept as they are.
func Clean(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !validAt(s, i):
			b.WriteRune(utf8.RuneError)
		case r == '\t' || r == '\n':
			b.WriteByte(' ')
		case drop(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Lines splits s on its line breaks (\n, \r\n, and the Unicode line and
// paragraph separators) and cleans each line.
func Lines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.NewReplacer("\u2028", "\n", "\u2029", "\n").Replace(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Clean(l)
	}
	return lines
}

// clean reports whether s has nothing to remove (the common case, without
// an allocation).
func clean(s string) bool {
	for i, r := range s {
		if (r == utf8.RuneError && !validAt(s, i)) || r == '\t' || r == '\n' || drop(r) {
			return false
		}
	}
	return true
}

// validAt reports whether the U+FFFD at byte i of s was written as such,
// rather than standing for an invalid byte.
func validAt(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size == 3
}

// drop reports whether r is removed: a control character (C0, DEL, C1), a
// bidirectional control, or a line or paragraph separator.
func drop(r rune) bool {
	switch {
	case unicode.IsControl(r): // C0, DEL, C1
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return true // embeddings, overrides, isolates, marks
	case r == 0x2028 || r == 0x2029:
		return true
	}
	return false
}
