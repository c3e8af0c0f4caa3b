package ratchet

import (
	"crypto/rand"
	"testing"
)

// BenchmarkSealOpen200 seals and opens one 200-byte message: header and body
// AEADs, two HKDF steps on each side.
func BenchmarkSealOpen200(b *testing.B) {
	var ck, hk [32]byte
	rand.Read(ck[:])
	rand.Read(hk[:])
	s := &Send{Epoch: 1, CK: ck}
	r := NewRecv(1, 0, ck)
	bind := &Binding{Seq: 1}
	msg := make([]byte, 200)
	b.ReportAllocs()
	for b.Loop() {
		sealed, err := SealMessage(s, &hk, bind, msg, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Open(r, &hk, bind, sealed); err != nil {
			b.Fatal(err)
		}
	}
}
