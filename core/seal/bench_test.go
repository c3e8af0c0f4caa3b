package seal_test

import (
	"crypto/rand"
	"testing"

	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/internal/kat"
)

// The cost of sealing a chain-key box (36 bytes of chain and one epoch
// secret) to one device: X25519 alone, as before key updates, and hybrid
// X25519 + ML-KEM-768 (§3.5).

var boxContent = kat.Seq(0x10, 1+36+1+32)

func BenchmarkSealBox(b *testing.B) {
	to := x25519Key(b, kat.Seq(0x01, 32)).PublicKey()
	for b.Loop() {
		if _, err := seal.SealBox(to, boxContent, nil, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenBox(b *testing.B) {
	k := x25519Key(b, kat.Seq(0x01, 32))
	box, _ := seal.SealBox(k.PublicKey(), boxContent, nil, rand.Reader)
	for b.Loop() {
		if _, err := seal.OpenBox(k, box, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealHybrid(b *testing.B) {
	k, _ := seal.GenerateHybrid(rand.Reader)
	to := k.Public()
	for b.Loop() {
		if _, err := seal.SealHybrid(to, boxContent, nil, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenHybrid(b *testing.B) {
	k, _ := seal.GenerateHybrid(rand.Reader)
	box, _ := seal.SealHybrid(k.Public(), boxContent, nil, rand.Reader)
	for b.Loop() {
		if _, err := seal.OpenHybrid(k, box, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGenerateHybrid: drawing a key-agreement key (a key update).
func BenchmarkGenerateHybrid(b *testing.B) {
	for b.Loop() {
		if _, err := seal.GenerateHybrid(rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}
