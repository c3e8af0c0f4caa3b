package link_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
)

type rejectCase struct {
	name, text, want string
}

// textCases are the failures of the text layer (§11.3), shared by both
// kinds: valid is the compact form of a valid link.
func textCases(valid, kind string, least int) []rejectCase {
	data := strings.TrimPrefix(valid, "BERTY:")
	// Base32 of whole bytes is never 1, 3 or 6 characters past a multiple
	// of 8.
	cut := valid + "A"
	for n := len(cut) - len("BERTY:"); n%8 != 1 && n%8 != 3 && n%8 != 6; n++ {
		cut += "A"
	}
	cases := []rejectCase{
		{"empty", "", errNotLink},
		{"whitespace", " \t\n", errNotLink},
		{"a word", "hello", errNotLink},
		{"base32 without prefix", data, errNotLink},
		{"wrong prefix", "BERTX:" + data, errNotLink},
		{"URL without fragment", "https://berty.tech/id", errNotLink},
		{"URL with empty fragment", "https://berty.tech/id#", fmt.Sprintf("%s0 bytes, a %s has at least %d", errTruncated, kind, least)},
		{"prefix alone", "BERTY:", errTruncated + "0 bytes"},
		{"zero for O", "BERTY:" + data[:10] + "0" + data[11:], errBase32 + "17 is '0'): it was mistyped or cut"},
		{"non-ASCII", "https://berty.tech/id#é" + data, errBase32 + "23 is 'é')"},
		{"dotless i", "BERTY:" + data[:4] + "ı" + data[5:], errBase32 + "11 is 'ı')"},
		{"vertical tab", "BERTY:" + data[:8] + "\v" + data[8:], errBase32 + `15 is '\v')`},
		{"second fragment", "https://berty.tech/id#" + data + "#x", errBase32},
		{"padding", valid + "=", errBase32 + fmt.Sprintf("%d is '='", len(valid)+1)},
		{"cut mid-byte", cut, errBase32 + fmt.Sprintf("%d)", len(cut))},
	}
	// The last character carries bits past the payload's last byte unless
	// the payload is a multiple of 5 bytes long; they must be zero.
	if len(data)*5%8 != 0 {
		last := strings.IndexByte(b32Characters, data[len(data)-1])
		cases = append(cases, rejectCase{"nonzero padding bits",
			"BERTY:" + data[:len(data)-1] + b32Characters[last^1:last^1+1], errBase32 + fmt.Sprintf("%d)", len(valid))})
	}
	return cases
}

func runRejects(t *testing.T, parse func(string) error, cases []rejectCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, parse(tc.text), tc.want) })
	}
}

func TestParseContactRejects(t *testing.T) {
	c, err := link.NewContact(alice, aliceSeed, "Alice")
	if err != nil {
		t.Fatal(err)
	}
	p := c.Payload()
	d, _ := link.NewDevice(secret, oneTimeKey, expires, "phone")
	good := contactBody(1, 1, alice.Public(), aliceSeed, "Alice")
	nonMinimal := append(contactBody(1, 1, alice.Public(), aliceSeed, ""), 0x00, 'A', 'l', 'i', 'c', 'e')
	nonMinimal[len(nonMinimal)-7] = 0x85 // 0x85 0x00 is 5 in two bytes
	swapped, mp := bytes.Clone(p), mallory.Public()
	copy(swapped[2:34], mp[:])

	cases := append(textCases(c.Compact(), "contact link", 131),
		rejectCase{"device link", d.Compact(), errDevice},
		rejectCase{"kind 0", text(sign(alice, contactBody(0, 1, alice.Public(), aliceSeed, "Alice"))), errKind + "0"},
		rejectCase{"kind 4", text(sign(alice, contactBody(4, 1, alice.Public(), aliceSeed, "Alice"))), errKind + "4"},
		rejectCase{"version 2", text(sign(alice, contactBody(1, 2, alice.Public(), aliceSeed, "Alice"))), errNewer},
		rejectCase{"version 0", text(sign(alice, contactBody(1, 0, alice.Public(), aliceSeed, "Alice"))), errVersion0},
		rejectCase{"truncated", text(p[:130]), errTruncated + "130 bytes, a contact link has at least 131"},
		rejectCase{"one kind byte", text(p[:1]), errTruncated + "1 byte, a contact link has at least 131"},
		rejectCase{"trailing byte", text(append(bytes.Clone(p), 0)), errTrailing},
		rejectCase{"name too long", text(sign(alice, contactBody(1, 1, alice.Public(), aliceSeed, strings.Repeat("x", 65)))), errLong},
		rejectCase{"name not UTF-8", text(sign(alice, contactBody(1, 1, alice.Public(), aliceSeed, "Al\xffce"))), errUTF8},
		rejectCase{"non-minimal name length", text(sign(alice, nonMinimal)), errMalformed + "non-minimal varint at offset 66"},
		rejectCase{"byte before the signature", text(sign(alice, append(bytes.Clone(good), 0))), errBeforeSig},
		rejectCase{"signature cut", text(p[:len(p)-1]), errSignature},
		rejectCase{"re-signed by another key", text(sign(mallory, good)), errSignature},
		rejectCase{"another key put in", text(swapped), errSignature},
		rejectCase{"another key's link signed by alice", text(sign(alice, contactBody(1, 1, mallory.Public(), aliceSeed, "Alice"))), errSignature},
		rejectCase{"zero key", text(sign(alice, contactBody(1, 1, keys.Public{}, aliceSeed, "Alice"))), errSignature},
	)
	runRejects(t, func(s string) error { _, err := link.ParseContact(s); return err }, cases)
}

func TestParseDeviceRejects(t *testing.T) {
	d, err := link.NewDevice(secret, oneTimeKey, expires, "phone")
	if err != nil {
		t.Fatal(err)
	}
	p := d.Payload()
	c, _ := link.NewContact(alice, aliceSeed, "Alice")
	good := deviceBody(2, 1, secret, expiresVarint, "phone")
	altered := bytes.Clone(p)
	altered[len(altered)-1] ^= 1

	cases := append(textCases(d.Compact(), "device link", 72),
		rejectCase{"contact link", c.Compact(), errContact},
		rejectCase{"kind 4", text(sum(deviceBody(4, 1, secret, expiresVarint, "phone"))), errKind + "4"},
		rejectCase{"version 2", text(sum(deviceBody(2, 2, secret, expiresVarint, "phone"))), errNewer},
		rejectCase{"version 0", text(sum(deviceBody(2, 0, secret, expiresVarint, "phone"))), errVersion0},
		rejectCase{"truncated", text(p[:71]), errTruncated + "71 bytes, a device link has at least 72"},
		rejectCase{"trailing byte", text(append(bytes.Clone(p), 0)), errTrailing},
		rejectCase{"name too long", text(sum(deviceBody(2, 1, secret, expiresVarint, strings.Repeat("x", 65)))), errLong},
		rejectCase{"name not UTF-8", text(sum(deviceBody(2, 1, secret, expiresVarint, "lap\xc0top"))), errUTF8},
		rejectCase{"non-minimal expiry", text(sum(deviceBody(2, 1, secret, []byte{0x80, 0x00}, "phone"))), errMalformed + "non-minimal varint at offset 66"},
		rejectCase{"expiry over 64 bits", text(sum(deviceBody(2, 1, secret, bytes.Repeat([]byte{0xff}, 10), "phone"))), errMalformed + "bad varint at offset 66"},
		rejectCase{"byte before the checksum", text(sum(append(bytes.Clone(good), 0))), errBeforeSum},
		rejectCase{"checksum altered", text(altered), errChecksum},
		rejectCase{"checksum cut", text(p[:len(p)-1]), errChecksum},
	)
	runRejects(t, func(s string) error { _, err := link.ParseDevice(s); return err }, cases)
}

// damage checks every way of damaging the payload of a valid link of each
// kind, and the error that each must give.
type damage struct {
	kind     string
	payloads [][]byte
	decode   func([]byte) error
	parse    func(string) error
	least    int
	damaged  string // the error for a payload altered past its header
}

func damages(t *testing.T) []damage {
	var contacts, devices [][]byte
	for i, name := range names {
		// Two contact links are enough (each check verifies signatures,
		// which is slow under -race): the shortest and the longest.
		if i == 0 || i == len(names)-1 {
			c, err := link.NewContact(alice, aliceSeed, name)
			if err != nil {
				t.Fatal(err)
			}
			contacts = append(contacts, c.Payload())
		}
		for _, exp := range []uint64{0, expires, 1<<64 - 1} {
			d, err := link.NewDevice(secret, oneTimeKey, exp, name)
			if err != nil {
				t.Fatal(err)
			}
			devices = append(devices, d.Payload())
		}
	}
	return []damage{
		{"contact", contacts,
			func(p []byte) error { _, err := link.DecodeContact(p); return err },
			func(s string) error { _, err := link.ParseContact(s); return err },
			131, errSignature},
		{"device", devices,
			func(p []byte) error { _, err := link.DecodeDevice(p); return err },
			func(s string) error { _, err := link.ParseDevice(s); return err },
			72, errChecksum},
	}
}

// TestTruncatedEverywhere cuts valid links at every length, as payloads and
// as text: each must be refused, never accepted or panic. A payload shorter
// than the shortest link is reported as truncated; a longer one fails its
// signature or checksum, which is where the missing bytes would be.
func TestTruncatedEverywhere(t *testing.T) {
	for _, dm := range damages(t) {
		for _, p := range dm.payloads {
			for n := range len(p) {
				t.Run(fmt.Sprintf("%s/%d-of-%d", dm.kind, n, len(p)), func(t *testing.T) {
					want := dm.damaged
					if n < dm.least {
						want = fmt.Sprintf("%s%d byte", errTruncated, n)
					}
					wantErr(t, dm.decode(p[:n]), want)
				})
			}
			s := text(p)
			for n := range len(s) {
				wantErr(t, dm.parse(s[:n]), "")
			}
		}
	}
}

// TestBitFlipsEverywhere flips every bit of valid links: the kind and
// version bytes give their own errors; any other flip, wherever it lands,
// breaks the signature or the checksum, and is reported as such.
func TestBitFlipsEverywhere(t *testing.T) {
	for _, dm := range damages(t) {
		for _, p := range dm.payloads {
			for i := range len(p) * 8 {
				q := bytes.Clone(p)
				q[i/8] ^= 1 << (i % 8)
				want := dm.damaged
				switch {
				case i/8 == 0 && q[0] == 3:
					want = "this is a group link"
				case i/8 == 0:
					want = errKind
				case i/8 == 1 && q[1] == 0:
					want = errVersion0
				case i/8 == 1:
					want = "unsupported link version "
				}
				if err := dm.decode(q); err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Errorf("%s of %d bytes with bit %d flipped: %v; want %q", dm.kind, len(p), i, err, want)
				}
			}
		}
	}
}

// TestTyposEverywhere replaces characters of the base32 of valid links with
// other base32 characters, as a person mistyping a link would: each must be
// refused as damaged, never reported as malformed or truncated, let alone
// accepted. Device links get every substitution, since a 4-byte checksum
// could in principle miss one; a signature cannot, so the contact link gets
// two per character (one in its low bits, one in its high bits), which keeps
// the test quick under -race.
func TestTyposEverywhere(t *testing.T) {
	for _, dm := range damages(t) {
		payloads, typos := dm.payloads, func(c byte) []byte { return []byte(b32Characters) }
		if dm.kind == "contact" {
			payloads = payloads[len(payloads)-1:]
			typos = func(c byte) []byte {
				i := strings.IndexByte(b32Characters, c)
				return []byte{b32Characters[i^1], b32Characters[i^16]}
			}
		}
		for _, p := range payloads {
			s := text(p)
			for i := len("BERTY:"); i < len(s); i++ {
				for _, c := range typos(s[i]) {
					if c == s[i] {
						continue
					}
					typo := s[:i] + string(c) + s[i+1:]
					err := dm.parse(typo)
					ok := false
					for _, want := range []string{dm.damaged, errKind, "unsupported link version ", errBase32, errDevice, errContact, "this is a group link"} {
						ok = ok || err != nil && strings.HasPrefix(err.Error(), want)
					}
					if !ok {
						t.Errorf("%s with %q for %q at %d: %v", dm.kind, c, s[i], i, err)
					}
				}
			}
		}
	}
}
