package link_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/internal/kat"
)

// The keys and values of the tests; the vectors in testdata/ use the same.
var (
	alice     = keys.FromSeed([32]byte(kat.Seq(0x01, 32)))
	mallory   = keys.FromSeed([32]byte(kat.Seq(0x21, 32)))
	aliceSeed = [32]byte(kat.Seq(0x41, 32))
	secret    = [32]byte(kat.Seq(0x61, 32))
	expires   = uint64(1_767_225_600) // 2026-01-01T00:00:00Z
)

var names = []string{"", "Alice", "Zoë 🌻", strings.Repeat("x", link.MaxName)}

// The beginnings of the error messages, one per category (§11.3).
const (
	errNotLink    = "not a Berty link: expected BERTY:… or https://berty.tech/id#…"
	errBase32     = "link is not valid base32 (character "
	errTruncated  = "link is truncated: "
	errDevice     = "this is a device link, not a contact link"
	errContact    = "this is a contact link, not a device link"
	errKind       = "unknown link kind "
	errNewer      = "unsupported link version 2: update Berty"
	errVersion0   = "unsupported link version 0: "
	errSignature  = "the link's signature does not verify: it was altered or mistyped"
	errChecksum   = "checksum mismatch: the link was altered or mistyped"
	errTrailing   = "1 unexpected byte after the link"
	errLong       = "the name is too long: 65 bytes, at most 64"
	errUTF8       = "the name is not valid UTF-8"
	errMalformed  = "link is malformed: "
	errBeforeSig  = "1 unexpected byte between the name and the signature"
	errBeforeSum  = "1 unexpected byte between the name and the checksum"
	b32Characters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
)

// wantErr fails t unless err wraps link.ErrInvalid and its text starts with
// prefix.
func wantErr(t *testing.T, err error, prefix string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("accepted; want error %q", prefix)
	case !errors.Is(err, link.ErrInvalid):
		t.Errorf("error %q does not wrap ErrInvalid", err)
	case !strings.HasPrefix(err.Error(), prefix):
		t.Errorf("error %q; want %q", err, prefix)
	}
}

// contactBody and deviceBody build payloads without the signature or checksum
// by hand, field by field from §11.1 and §11.2, independently of the code
// under test. Names must be shorter than 128 bytes (a one-byte length).
func contactBody(kind, version byte, account keys.Public, seed [32]byte, name string) []byte {
	b := append([]byte{kind, version}, account[:]...)
	b = append(b, seed[:]...)
	return append(append(b, byte(len(name))), name...)
}

// oneTimeKey is the one-time public key of the device links in tests.
var oneTimeKey = [32]byte{0x09, 0x08, 0x07, 0x06, 0x05}

func deviceBody(kind, version byte, secret [32]byte, expires []byte, name string) []byte {
	b := append([]byte{kind, version}, secret[:]...)
	b = append(b, oneTimeKey[:]...)
	b = append(b, expires...)
	return append(append(b, byte(len(name))), name...)
}

// sign appends k's contact-link signature over body.
func sign(k *keys.Pair, body []byte) []byte {
	return append(body, k.Sign(keys.SignContext("berty/v1/contact-link", body))...)
}

// sum appends the device-link checksum of body.
func sum(body []byte) []byte {
	h := sha256.Sum256(body)
	return append(body, h[:4]...)
}

// expiresVarint is expires as a uvarint, by hand.
var expiresVarint = []byte{0x80, 0xf2, 0xd6, 0xca, 0x06}

func text(payload []byte) string {
	return "BERTY:" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(payload)
}

func TestLayout(t *testing.T) {
	for _, name := range names {
		c, err := link.NewContact(alice, aliceSeed, name)
		if err != nil {
			t.Fatal(err)
		}
		if want := sign(alice, contactBody(1, 1, alice.Public(), aliceSeed, name)); !bytes.Equal(c.Payload(), want) {
			t.Errorf("contact %q: payload\n%x, want\n%x", name, c.Payload(), want)
		}
		d, err := link.NewDevice(secret, oneTimeKey, expires, name)
		if err != nil {
			t.Fatal(err)
		}
		if want := sum(deviceBody(2, 1, secret, expiresVarint, name)); !bytes.Equal(d.Payload(), want) {
			t.Errorf("device %q: payload\n%x, want\n%x", name, d.Payload(), want)
		}
	}
}

// forms returns the texts a person may give for a link whose compact form
// is compact: every one must parse to the same link.
func forms(compact string) []string {
	data := strings.TrimPrefix(compact, "BERTY:")
	url := "https://berty.tech/id#" + data
	return []string{
		compact, url, strings.ToLower(compact), strings.ToLower(url),
		" \t\n" + compact + "\r\n ", "\n" + url + " ",
		"berty:" + data, "Berty:" + strings.ToLower(data),
		"https://berty.tech/id#BERTY:" + data,              // a fragment may keep the prefix
		url[:40] + "\n" + url[40:80] + "\r\n  " + url[80:], // wrapped by a terminal or a mail
		compact[:20] + " " + compact[20:],
	}
}

func TestContactRoundTrip(t *testing.T) {
	for _, name := range names {
		c, err := link.NewContact(alice, aliceSeed, name)
		if err != nil {
			t.Fatal(err)
		}
		compact := c.Compact()
		if strings.Trim(compact, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:") != "" {
			t.Errorf("compact form %q leaves the QR alphanumeric alphabet", compact)
		}
		if want := "https://berty.tech/id#" + strings.TrimPrefix(compact, "BERTY:"); c.URL() != want {
			t.Errorf("URL %q, want %q", c.URL(), want)
		}
		for _, s := range forms(compact) {
			got, err := link.ParseContact(s)
			if err != nil {
				t.Errorf("ParseContact(%q): %v", s, err)
			} else if *got != *c {
				t.Errorf("ParseContact(%q) = %+v, want %+v", s, got, c)
			}
		}
		if got, err := link.DecodeContact(c.Payload()); err != nil || *got != *c {
			t.Errorf("DecodeContact(Payload) = %+v, %v", got, err)
		}
	}
}

func TestDeviceRoundTrip(t *testing.T) {
	for _, name := range names {
		for _, exp := range []uint64{0, 127, expires, 1<<64 - 1} {
			d, err := link.NewDevice(secret, oneTimeKey, exp, name)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range append(forms(d.Compact()), d.URL()) {
				got, err := link.ParseDevice(s)
				if err != nil {
					t.Errorf("ParseDevice(%q): %v", s, err)
				} else if *got != *d {
					t.Errorf("ParseDevice(%q) = %+v, want %+v", s, got, d)
				}
			}
			if got, err := link.DecodeDevice(d.Payload()); err != nil || *got != *d {
				t.Errorf("DecodeDevice(Payload) = %+v, %v", got, err)
			}
		}
	}
}

func TestExpired(t *testing.T) {
	d, err := link.NewDevice(secret, oneTimeKey, expires, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	for now, want := range map[uint64]bool{0: false, expires - 1: false, expires: true, expires + 1: true} {
		if got := d.Expired(now); got != want {
			t.Errorf("Expired(%d) = %v, want %v (expires %d)", now, got, want, expires)
		}
	}
}

func TestNewRefusesBadNames(t *testing.T) {
	for name, want := range map[string]string{
		strings.Repeat("é", 33): "the name is too long: 66 bytes, at most 64",
		"bad \xff name":         errUTF8,
	} {
		if _, err := link.NewContact(alice, aliceSeed, name); err == nil || err.Error() != want {
			t.Errorf("NewContact(%q): %v, want %q", name, err, want)
		}
		if _, err := link.NewDevice(secret, oneTimeKey, expires, name); err == nil || err.Error() != want {
			t.Errorf("NewDevice(%q): %v, want %q", name, err, want)
		}
	}
}
