// Package safety computes the safety number of two contacts
// (docs/protocol.md §11.8): 60 digits that both sides derive from their two
// current account keys, to compare in person, over a call or by scanning a
// QR code. Equal numbers mean each side holds the other's real key; a
// number changes when either account moves to a new key (§5.9).
package safety

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/berty-go/berty/core/keys"
)

// Version is the safety-number format version: it is in the hash input
// and in the QR code.
const Version = 1

// Digits is the length of a safety number: 30 per account.
const Digits = 60

// Iterations of SHA-512 per fingerprint: grinding a key whose number
// matches another's in enough digits to fool a glance costs this many
// hashes per try.
const Iterations = 5200

const label = "berty/v2/safety-number"

// codePrefix starts the text a QR code carries: every character is in the
// QR alphanumeric alphabet.
const codePrefix = "BERTY-SN:"

// ErrInvalid wraps every refusal of a typed or scanned safety number.
var ErrInvalid = errors.New("not a safety number")

// fingerprint returns the 30 digits of one account key.
func fingerprint(key keys.Public) string {
	// h₀ = SHA-512(label || 0x00 || version || key), h₍ᵢ₊₁₎ = SHA-512(hᵢ || key)
	h := sha512.Sum512(append(append([]byte(label), 0, Version), key[:]...))
	for range Iterations {
		h = sha512.Sum512(append(h[:], key[:]...))
	}
	var b strings.Builder
	for i := range 6 {
		var chunk [8]byte
		copy(chunk[3:], h[5*i:5*i+5])
		fmt.Fprintf(&b, "%05d", binary.BigEndian.Uint64(chunk[:])%100000)
	}
	return b.String()
}

// Number returns the safety number of two account keys: the fingerprint
// of the lower key (in byte order) then the higher one's, so both sides
// get the same digits.
func Number(a, b keys.Public) (string, error) {
	switch bytes.Compare(a[:], b[:]) {
	case 0:
		return "", errors.New("safety number: the two keys are the same")
	case 1:
		a, b = b, a
	}
	return fingerprint(a) + fingerprint(b), nil
}

// Format shows a number as 12 groups of 5 digits, 4 per line.
func Format(n string) string {
	var b strings.Builder
	for i := 0; i+5 <= len(n); i += 5 {
		switch {
		case i == 0:
		case i%20 == 0:
			b.WriteByte('\n')
		default:
			b.WriteByte(' ')
		}
		b.WriteString(n[i : i+5])
	}
	return b.String()
}

// Code returns the text of the number's QR code: "BERTY-SN:1:" and the
// digits.
func Code(n string) string { return fmt.Sprintf("%s%d:%s", codePrefix, Version, n) }

// Parse reads a safety number as a person types it (digits with any
// spaces or line breaks) or as its QR code gives it, and returns the
// digits.
func Parse(s string) (string, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(strings.ToUpper(s), codePrefix); ok {
		v, digits, ok := strings.Cut(rest, ":")
		if !ok || v != fmt.Sprint(Version) {
			return "", fmt.Errorf("%w: a safety-number code of another version (%q): update Berty", ErrInvalid, v)
		}
		s = digits
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
		default:
			return "", fmt.Errorf("%w: %q at character %d", ErrInvalid, r, i+1)
		}
		if b.Len() > Digits {
			return "", fmt.Errorf("%w: more than %d digits", ErrInvalid, Digits)
		}
	}
	if b.Len() != Digits {
		return "", fmt.Errorf("%w: %d digits, a safety number has %d", ErrInvalid, b.Len(), Digits)
	}
	return b.String(), nil
}
