// Package link encodes and parses the links by which people and devices find
// each other: contact links and device links (docs/protocol.md §11).
//
// # Formats
//
// A link is a short binary payload, canonical like every Berty format (§2):
//
//	contact: u8 kind = 1 || u8 version = 1 || account[32] || rendezvousSeed[32] ||
//	         string(64) name || sig[64]
//	device:  u8 kind = 2 || u8 version = 1 || secret[32] || key[32] ||
//	         uvarint expires || string(64) name || checksum[4]
//
// sig is the account key's Ed25519 signature over
// ctx("berty/v1/contact-link", all preceding bytes), so a contact link cannot
// be altered without the account's key. checksum is the first 4 bytes of
// SHA-256 over all preceding bytes: a device link travels from one of the
// person's own devices to another, sometimes typed by hand, and the checksum
// catches typos; key is the new device's one-time X25519 public key (§11.7).
// Names are valid UTF-8 of at most [MaxName] bytes.
//
// # Text forms
//
// The payload is shown as base32 (RFC 4648, uppercase, no padding) in one of
// two forms. [Contact.Compact] gives "BERTY:" + base32, which uses only the
// QR alphanumeric alphabet, so that QR codes (internal/qr) stay small.
// [Contact.URL] gives
// "https://berty.tech/id#" + base32: the data is in the fragment, which a
// browser never sends to the web server. [ParseContact] and [ParseDevice]
// accept either form, in any case and with surrounding whitespace.
//
// # Errors
//
// A link comes from a person, who may have cut it short, mistyped it or
// pasted the wrong one, so every parse error says what is wrong in words
// meant for that person, and wraps [ErrInvalid].
//
// The package is pure, like all of core/: it reads no clock (a device link's
// expiry is checked against the caller's, see [Device.Expired]) and keeps no
// state, so its functions are safe for concurrent use.
package link

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/berty-go/berty/core/wire"
)

// MaxName is the longest name, in bytes, that a link can carry.
const MaxName = 64

// version is the only link version this package reads and writes.
const version = 1

// kind is a link's first byte: which layout follows.
type kind byte

const (
	kindContact kind = 1
	kindDevice  kind = 2
	kindGroup   kind = 3
)

func (k kind) String() string {
	switch k {
	case kindContact:
		return "contact link"
	case kindDevice:
		return "device link"
	case kindGroup:
		return "group link"
	}
	return fmt.Sprintf("link of kind %d", byte(k))
}

// minSize is the size of the shortest link of kind k: the one with an empty
// name (and, for a device link, an expiry that fits one byte).
func (k kind) minSize() int {
	switch k {
	case kindContact:
		return 2 + 32 + 32 + 1 + contactSigSize
	case kindGroup:
		return 2 + 1 + 1 + deviceSumSize
	}
	return 2 + 32 + 32 + 1 + 1 + deviceSumSize
}

// trailer names what ends a link of kind k.
func (k kind) trailer() string {
	if k == kindContact {
		return "signature"
	}
	return "checksum"
}

// damaged is the error for a link of kind k whose signature or checksum does
// not match its contents.
func (k kind) damaged() error {
	if k == kindContact {
		return invalid("the link's signature does not verify: it was altered or mistyped")
	}
	return invalid("checksum mismatch: the link was altered or mistyped")
}

// ErrInvalid is wrapped by every error of ParseContact, ParseDevice,
// DecodeContact and DecodeDevice: the input is not a valid link of the kind
// asked for. The error's own text says why, for the person who gave the link.
var ErrInvalid = errors.New("invalid Berty link")

// invalidError is a parse error: its text is the explanation for a person,
// and it wraps ErrInvalid.
type invalidError string

func (e invalidError) Error() string { return string(e) }
func (e invalidError) Unwrap() error { return ErrInvalid }

func invalid(format string, args ...any) error {
	return invalidError(fmt.Sprintf(format, args...))
}

// count returns "1 thing" or "n things".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// checkName returns why name cannot travel in a link, or nil.
func checkName(name string) error {
	if len(name) > MaxName {
		return fmt.Errorf("the name is too long: %d bytes, at most %d", len(name), MaxName)
	}
	if !utf8.ValidString(name) {
		return errors.New("the name is not valid UTF-8")
	}
	return nil
}

// checkHeader checks the kind and version bytes of payload p, and that p is
// at least as long as the shortest link of kind want.
func checkHeader(p []byte, want kind) error {
	if len(p) >= 1 {
		switch k := kind(p[0]); k {
		case want:
		case kindContact, kindDevice, kindGroup:
			return invalid("this is a %s, not a %s", k, want)
		default:
			return invalid("unknown link kind %d: it was altered or mistyped, or it needs a newer Berty", p[0])
		}
	}
	if len(p) >= 2 && p[1] != version {
		if p[1] > version {
			return invalid("unsupported link version %d: update Berty, or check the link for typos", p[1])
		}
		return invalid("unsupported link version %d: it was altered or mistyped", p[1])
	}
	if least := want.minSize(); len(p) < least {
		return invalid("link is truncated: %s, a %s has at least %d", count(len(p), "byte"), want, least)
	}
	return nil
}

// readName reads the name field, which must leave room for a trailer of
// trailerSize bytes (the signature or checksum) after it. end is the offset
// just after the name.
func readName(r *wire.Reader, trailerSize int) (name string, end int, err error) {
	n := r.Uvarint(^uint64(0))
	if err := r.Err(); err != nil {
		return "", 0, malformed(err)
	}
	if n > MaxName {
		return "", 0, invalid("the name is too long: %d bytes, at most %d", n, MaxName)
	}
	name = string(r.Fixed(int(n)))
	end = r.Offset()
	r.Fixed(trailerSize)
	if err := r.Err(); err != nil {
		return "", 0, malformed(err)
	}
	if err := checkName(name); err != nil {
		return "", 0, invalidError(err.Error())
	}
	return name, end, nil
}

// malformed turns a wire decoding error into a parse error.
func malformed(err error) error { return invalid("link is %v", err) }

// finish decides the fate of payload p of kind k once its fields, up to and
// including the name, have been read: they end at offset end, or failed with
// ferr. intact checks a trailer (signature or checksum) against the bytes
// before it.
//
// A valid link followed by more bytes has a trailer that matches where its
// fields say it is, and is reported as such. A link damaged in transit (cut
// short, mistyped) has a trailer that matches nowhere, and is reported as
// damaged whatever its fields got wrong, since a damaged length or varint
// gives meaningless field errors: "altered or mistyped" is the useful thing to
// tell a person. Only a link whose trailer matches at its very end was built
// wrong rather than damaged, and only then is its malformation reported.
func finish(p []byte, k kind, end int, ferr error, trailerSize int, intact func(body, trailer []byte) bool) error {
	if ferr == nil && intact(p[:end], p[end:end+trailerSize]) {
		if extra := len(p) - end - trailerSize; extra > 0 {
			return invalid("%s after the link", count(extra, "unexpected byte"))
		}
		return nil
	}
	if last := len(p) - trailerSize; intact(p[:last], p[last:]) {
		if ferr != nil {
			return ferr
		}
		return invalid("%s between the name and the %s", count(last-end, "unexpected byte"), k.trailer())
	}
	return k.damaged()
}
