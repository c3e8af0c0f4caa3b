package link

import (
	"encoding/base32"
	"strings"
	"unicode/utf8"
)

// The two text forms of a payload (§11.3).
const (
	compactPrefix = "BERTY:"
	urlPrefix     = "https://berty.tech/id#"
)

// b32 is RFC 4648 base32 with the standard alphabet and no padding. Its
// letters and digits, like ':', are all in the QR alphanumeric alphabet.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func compact(p []byte) string { return compactPrefix + b32.EncodeToString(p) }

func url(p []byte) string { return urlPrefix + b32.EncodeToString(p) }

// decodeText returns the payload of a link in either text form (§11.3):
// surrounding whitespace is trimmed; if there is a '#', only what follows the
// first one is read; a leading "BERTY:" is dropped in any case; the rest is
// base32 in any case. Without a '#' the "BERTY:" is required, so that a
// stray word is not taken for a link.
//
// White space inside the base32 is skipped: a link that a terminal, a mail
// or a chat wrapped over lines is pasted back with line breaks or spaces.
// Otherwise only the canonical base32 of a payload is accepted — no
// nonzero bits in the last character — so one payload has one text in each
// form (up to case and white space).
func decodeText(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	start := 0
	if i := strings.IndexByte(s, '#'); i >= 0 {
		start = i + 1
	} else if !hasPrefixFold(s, compactPrefix) {
		return nil, invalid("not a Berty link: expected %s… or %s…", compactPrefix, urlPrefix)
	}
	if hasPrefixFold(s[start:], compactPrefix) {
		start += len(compactPrefix)
	}
	data := make([]byte, 0, len(s)-start)
	for i := start; i < len(s); i++ {
		c := upper(s[i])
		switch {
		case 'A' <= c && c <= 'Z' || '2' <= c && c <= '7':
			data = append(data, c)
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return nil, invalid("link is not valid base32 (character %d is %q): it was mistyped or cut",
				utf8.RuneCountInString(s[:i])+1, r)
		}
	}
	p, err := b32.DecodeString(string(data))
	if err != nil || b32.EncodeToString(p) != string(data) {
		// The characters are right but the last one does not end a whole
		// byte, or carries bits past it: the link was cut or its end
		// mistyped.
		return nil, invalid("link is not valid base32 (character %d): it was mistyped or cut",
			utf8.RuneCountInString(s))
	}
	return p, nil
}

// upper maps ASCII lowercase letters to uppercase and leaves every other byte
// as it is. (strings.ToUpper would also map some non-ASCII letters, such as
// 'ı', to ASCII ones, and so accept text that is not a link.)
func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// hasPrefixFold reports whether s starts with prefix, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := range len(prefix) {
		if upper(s[i]) != upper(prefix[i]) {
			return false
		}
	}
	return true
}
