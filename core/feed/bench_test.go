package feed

import (
	"crypto/rand"
	"testing"

	"github.com/berty-go/berty/core/keys"
)

func benchEntry(b *testing.B) (*Unsigned, *[32]byte, *keys.Pair) {
	k, err := keys.Generate(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	var rk [32]byte
	u := &Unsigned{Seq: 2, Prev: ID{1}, Lamport: 3, Deps: []Dep{{Device: keys.Public{1}, Seq: 9}}, Kind: KindMessage, Payload: make([]byte, 288)}
	return u, &rk, k
}

// BenchmarkSign encodes, MACs and signs an entry carrying a sealed 200-byte
// message: the sender's per-entry cost.
func BenchmarkSign(b *testing.B) {
	u, rk, k := benchEntry(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(u, rk, k); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeVerify decodes an entry and checks its MAC and signature:
// the receiver's per-entry cost before the replica looks at it.
func BenchmarkDecodeVerify(b *testing.B) {
	u, rk, k := benchEntry(b)
	e, err := Sign(u, rk, k)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		d, err := Decode(e.Encoded)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Verify(&d.Topic, rk); err != nil {
			b.Fatal(err)
		}
	}
}
