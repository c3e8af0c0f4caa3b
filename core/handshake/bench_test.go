package handshake_test

import (
	"testing"

	"github.com/berty-go/berty/core/handshake"
)

// BenchmarkContactRequest is one whole contact request, both sides (four
// X25519 operations each, two Ed25519→X25519 conversions).
func BenchmarkContactRequest(b *testing.B) {
	c := newContact()
	for b.Loop() {
		if r := c.run(b, handshake.StatusReceived); r.status != handshake.StatusReceived {
			b.Fatal(r.status)
		}
	}
}

// BenchmarkDeviceLink is one whole device link, both sides.
func BenchmarkDeviceLink(b *testing.B) {
	l := newLink(b)
	for b.Loop() {
		l.run(b)
	}
}
