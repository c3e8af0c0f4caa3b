package seal_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/internal/kat"
)

// FuzzOpen opens arbitrary input under an arbitrary key. Open must never
// panic, must fail only with ErrOpen, and whatever it accepts must be exactly
// what Seal produces for that plaintext with that nonce.
func FuzzOpen(f *testing.F) {
	key := [32]byte(kat.Seq(0x01, 32))
	for i, pt := range [][]byte{nil, []byte("hello, berty"), kat.Seq(0, 100)} {
		ad := kat.Seq(byte(i), i*8)
		sealed, err := seal.Seal(nil, &key, pt, ad, kat.NewRand([]byte{byte(i)}))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(key[:], sealed, ad)
		f.Add(key[:], sealed[:len(sealed)-1], ad)
		f.Add(key[:], sealed[:seal.Overhead-1], ad)
		f.Add(key[:], append(sealed, 0), ad)
		f.Add(kat.Seq(0x02, 32), sealed, ad)
	}
	f.Add([]byte{}, []byte{}, []byte{})
	f.Add(key[:], bytes.Repeat([]byte{0xff}, seal.Overhead), []byte("ad"))
	f.Fuzz(func(t *testing.T, keyBytes, sealed, ad []byte) {
		var key [32]byte
		copy(key[:], keyBytes)
		input := bytes.Clone(sealed)
		pt, err := seal.Open(&key, sealed, ad)
		if !bytes.Equal(sealed, input) {
			t.Fatal("Open modified its input")
		}
		if err != nil {
			if !errors.Is(err, seal.ErrOpen) || pt != nil {
				t.Fatalf("Open = %x, %v; want nil, ErrOpen", pt, err)
			}
			return
		}
		again, err := seal.Seal(nil, &key, pt, ad, bytes.NewReader(sealed[:24]))
		if err != nil || !bytes.Equal(again, sealed) {
			t.Fatalf("Open accepted %x, but Seal with its nonce gives %x (%v)", sealed, again, err)
		}
	})
}

// FuzzOpenBox opens arbitrary boxes with a fixed recipient key: OpenBox must
// never panic and must fail only with ErrOpen.
func FuzzOpenBox(f *testing.F) {
	to := x25519Key(f, kat.Seq(0x01, 32))
	for i, pt := range [][]byte{nil, kat.Seq(0x10, 36), []byte("sealed to one device")} {
		ad := []byte{byte(i)}
		box, err := seal.SealBox(to.PublicKey(), pt, ad, kat.NewRand(ad))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(box, ad)
		f.Add(box[:len(box)-1], ad)
		f.Add(box[:seal.BoxOverhead-1], ad)
		f.Add(append(box, 0), ad)
	}
	for _, h := range lowOrderX25519 {
		eph, _ := hex.DecodeString(h)
		f.Add(append(eph, make([]byte, seal.Overhead)...), []byte{})
	}
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, box, ad []byte) {
		input := bytes.Clone(box)
		pt, err := seal.OpenBox(to, box, ad)
		if !bytes.Equal(box, input) {
			t.Fatal("OpenBox modified its input")
		}
		switch {
		case err != nil && (!errors.Is(err, seal.ErrOpen) || pt != nil):
			t.Fatalf("OpenBox = %x, %v; want nil, ErrOpen", pt, err)
		case err == nil && len(pt) != len(box)-seal.BoxOverhead:
			t.Fatalf("OpenBox returned %d bytes from a %d-byte box", len(pt), len(box))
		}
	})
}

// FuzzOpenHybrid opens arbitrary hybrid boxes with a fixed recipient: it must
// never panic and must fail only with ErrOpen.
func FuzzOpenHybrid(f *testing.F) {
	priv, err := seal.ParseHybridPrivate(kat.Seq(0x01, seal.HybridPrivateSize))
	if err != nil {
		f.Fatal(err)
	}
	for i, pt := range [][]byte{nil, kat.Seq(0x10, 36)} {
		ad := []byte{byte(i)}
		box, err := seal.SealHybrid(priv.Public(), pt, ad, kat.NewRand(ad))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(box, ad)
		f.Add(box[:len(box)-1], ad)
		f.Add(box[:seal.HybridOverhead-1], ad)
	}
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, box, ad []byte) {
		pt, err := seal.OpenHybrid(priv, box, ad)
		if err != nil && (!errors.Is(err, seal.ErrOpen) || pt != nil) {
			t.Fatalf("OpenHybrid = %x, %v; want nil, ErrOpen", pt, err)
		}
	})
}

// FuzzParseHybridPublic: a public key from the network either parses and
// encodes back to the same bytes, or is refused; never a panic.
func FuzzParseHybridPublic(f *testing.F) {
	priv, err := seal.ParseHybridPrivate(kat.Seq(0x01, seal.HybridPrivateSize))
	if err != nil {
		f.Fatal(err)
	}
	good := priv.Public().Bytes()
	f.Add(good)
	f.Add(good[:len(good)-1])
	bad := bytes.Clone(good)
	for i := 32; i < len(bad); i++ {
		bad[i] = 0xff // coefficients out of range
	}
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := seal.ParseHybridPublic(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Bytes(), b) {
			t.Fatalf("ParseHybridPublic(%x) encodes back as %x", b, p.Bytes())
		}
	})
}
