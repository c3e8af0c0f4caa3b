package link_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/internal/kat"
)

// Known-answer vectors for package link (docs/protocol.md §11), in
// testdata/links.json: checked by every plain `go test`, rewritten by
// `go test ./core/link -run TestKAT -update`. The harness is internal/kat.

func contactVector(name string, accountSeed, seed []byte, display string) kat.Vector {
	return kat.Vector{Name: "contact-" + name, In: map[string]string{
		"account_seed": kat.H(accountSeed), "rendezvous_seed": kat.H(seed), "name": kat.H([]byte(display)),
	}}
}

func deviceVector(name string, secret []byte, expires uint64, display string) kat.Vector {
	return kat.Vector{Name: "device-" + name, In: map[string]string{
		"secret": kat.H(secret), "key": kat.H(kat.Seq(0x90, 32)), "expires": kat.Dec(expires), "name": kat.H([]byte(display)),
	}}
}

func katVectors() []kat.Vector {
	return []kat.Vector{
		contactVector("empty-name", kat.Seq(0x01, 32), kat.Seq(0x41, 32), ""),
		contactVector("alice", kat.Seq(0x01, 32), kat.Seq(0x41, 32), "Alice"),
		contactVector("utf8", kat.Seq(0x21, 32), make([]byte, 32), "Zoë 🌻"),
		contactVector("max-name", kat.Seq(0x21, 32), bytes.Repeat([]byte{0xff}, 32), strings.Repeat("🌻", 16)),
		deviceVector("zero-expiry", kat.Seq(0x61, 32), 0, ""),
		deviceVector("laptop", kat.Seq(0x61, 32), 1_767_225_600, "Alice's laptop"),
		deviceVector("max-expiry", make([]byte, 32), 1<<64-1, "phone"),
		deviceVector("max-name", bytes.Repeat([]byte{0xff}, 32), 127, strings.Repeat("x", link.MaxName)),
	}
}

func TestKAT(t *testing.T) {
	kat.Check(t, "links.json",
		"contact-*: link.NewContact(keys.FromSeed(account_seed), rendezvous_seed, name); "+
			"device-*: link.NewDevice(secret, key, expires, name). Outputs: the payload (§11.1, §11.2), "+
			"its compact form \"BERTY:\" + base32 and its URL form \"https://berty.tech/id#\" + base32 (§11.3). "+
			"name is the UTF-8 bytes of the name.",
		katVectors(), computeLink)
}

// computeLink makes the link of vector v, checks that each of its forms
// parses back to it, and returns the forms.
func computeLink(t *testing.T, v kat.Vector) map[string]string {
	t.Helper()
	name := string(kat.Hex(t, v.In, "name"))
	var (
		payload      []byte
		compact, url string
		check        func(s string) bool
	)
	if _, ok := v.In["account_seed"]; ok {
		c, err := link.NewContact(keys.FromSeed(kat.Hex32(t, v.In, "account_seed")), kat.Hex32(t, v.In, "rendezvous_seed"), name)
		if err != nil {
			t.Fatal(err)
		}
		payload, compact, url = c.Payload(), c.Compact(), c.URL()
		check = func(s string) bool { got, err := link.ParseContact(s); return err == nil && *got == *c }
	} else {
		d, err := link.NewDevice(kat.Hex32(t, v.In, "secret"), kat.Hex32(t, v.In, "key"), kat.Uint(t, v.In, "expires"), name)
		if err != nil {
			t.Fatal(err)
		}
		payload, compact, url = d.Payload(), d.Compact(), d.URL()
		check = func(s string) bool { got, err := link.ParseDevice(s); return err == nil && *got == *d }
	}
	for _, s := range []string{compact, url} {
		if !check(s) {
			t.Errorf("%s does not parse back to the link", s)
		}
	}
	return map[string]string{"payload": kat.H(payload), "compact": compact, "url": url}
}
