package keys_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/wire"
	"github.com/berty-go/berty/internal/kat"
)

// Known-answer vectors for package keys. The vector files in testdata/ are
// checked by every plain `go test`; `go test -update` rewrites them.
// The harness is package internal/kat.

// katGroupID is the group ID the derivation and certificate vectors use.
var katGroupID = keys.FromSeed([32]byte(kat.Seq(0x40, 32))).Public()

func TestKATPairs(t *testing.T) {
	vector := func(name string, seed []byte) kat.Vector {
		return kat.Vector{Name: name, In: map[string]string{
			"seed": kat.H(seed), "context": kat.H([]byte("berty/v1/kat")), "message": kat.H([]byte("known answer")),
		}}
	}
	vectors := []kat.Vector{
		vector("seq01", kat.Seq(0x01, 32)),
		vector("seq21", kat.Seq(0x21, 32)),
		vector("zero", make([]byte, 32)),
		vector("ff", bytes.Repeat([]byte{0xff}, 32)),
	}
	kat.Check(t, "pairs.json",
		"keys.FromSeed(seed): Ed25519 public key; X25519 private key (Pair.X25519) and its public key, which must equal Public().X25519(); Agreement key pair; signature over SignContext(context, message)",
		vectors, func(t *testing.T, v kat.Vector) map[string]string {
			seed := kat.Hex32(t, v.In, "seed")
			k := keys.FromSeed(seed)
			pub := k.Public()
			if k.Seed() != seed {
				t.Errorf("Seed() = %x, want %x", k.Seed(), seed)
			}
			if g, err := keys.Generate(bytes.NewReader(seed[:])); err != nil || g.Public() != pub {
				t.Errorf("Generate from the seed gives %v, %v; want %v", g.Public(), err, pub)
			}
			xpub, err := pub.X25519()
			if err != nil {
				t.Fatal(err)
			}
			xpriv := k.X25519()
			if !bytes.Equal(xpriv.PublicKey().Bytes(), xpub.Bytes()) {
				t.Errorf("Pair.X25519().PublicKey() = %x, Public().X25519() = %x", xpriv.PublicKey().Bytes(), xpub.Bytes())
			}
			agree := k.LegacyAgreement()
			if want := seal.Derive32(seed[:], nil, seal.LabelDeviceX25519); !bytes.Equal(agree.Bytes(), want[:]) {
				t.Errorf("Agreement() = %x, want HKDF(seed, LabelDeviceX25519) = %x", agree.Bytes(), want)
			}
			signed := keys.SignContext(string(kat.Hex(t, v.In, "context")), kat.Hex(t, v.In, "message"))
			sig := k.Sign(signed)
			if !pub.Verify(signed, sig) {
				t.Error("signature does not verify")
			}
			if pub.Verify(signed[1:], sig) || pub.Verify(signed, sig[1:]) {
				t.Error("signature verifies for another message or a short signature")
			}
			return map[string]string{
				"public":            kat.H(pub[:]),
				"x25519_private":    kat.H(xpriv.Bytes()),
				"x25519_public":     kat.H(xpub.Bytes()),
				"agreement_private": kat.H(agree.Bytes()),
				"agreement_public":  kat.H(agree.PublicKey().Bytes()),
				"signed":            kat.H(signed),
				"signature":         kat.H(sig),
			}
		})
}

// TestFromSeedRFC8032 anchors FromSeed and Sign to test vectors 1 and 2 of
// RFC 8032 §7.1.
func TestFromSeedRFC8032(t *testing.T) {
	for _, tc := range []struct{ seed, public, message, signature string }{
		{
			"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
			"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
			"",
			"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155" +
				"5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
		},
		{
			"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
			"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
			"72",
			"92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da" +
				"085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
		},
	} {
		seed, _ := hex.DecodeString(tc.seed)
		msg, _ := hex.DecodeString(tc.message)
		k := keys.FromSeed([32]byte(seed))
		pub := k.Public()
		if got := kat.H(pub[:]); got != tc.public {
			t.Errorf("seed %s: public %s, want %s", tc.seed, got, tc.public)
		}
		if got := kat.H(k.Sign(msg)); got != tc.signature {
			t.Errorf("seed %s: signature %s, want %s", tc.seed, got, tc.signature)
		}
	}
}

// TestX25519Agreement checks that the Ed25519 -> X25519 maps of two pairs
// agree on a shared secret from both sides.
func TestX25519Agreement(t *testing.T) {
	seeds := [][]byte{kat.Seq(0x01, 32), kat.Seq(0x21, 32), make([]byte, 32), bytes.Repeat([]byte{0xff}, 32)}
	for i, si := range seeds {
		for _, sj := range seeds[i+1:] {
			a, b := keys.FromSeed([32]byte(si)), keys.FromSeed([32]byte(sj))
			ax, err := a.Public().X25519()
			if err != nil {
				t.Fatal(err)
			}
			bx, err := b.Public().X25519()
			if err != nil {
				t.Fatal(err)
			}
			s1, err1 := a.X25519().ECDH(bx)
			s2, err2 := b.X25519().ECDH(ax)
			if err1 != nil || err2 != nil || !bytes.Equal(s1, s2) {
				t.Errorf("%x / %x: shared %x (%v) vs %x (%v)", si[:2], sj[:2], s1, err1, s2, err2)
			}
		}
	}
}

var katDeriveLabels = map[string]string{"member": seal.LabelMemberKey, "device": seal.LabelDeviceKey}

func TestKATDerive(t *testing.T) {
	var vectors []kat.Vector
	for _, label := range []string{"member", "device"} {
		for _, seed := range []struct {
			name string
			b    []byte
		}{{"seq01", kat.Seq(0x01, 32)}, {"seq21", kat.Seq(0x21, 32)}} {
			vectors = append(vectors, kat.Vector{Name: label + "-" + seed.name, In: map[string]string{
				"seed": kat.H(seed.b), "salt": kat.H(katGroupID[:]),
			}})
		}
	}
	kat.Check(t, "derive.json",
		"Pair.Derive(salt = group ID, label): member-* vectors use seal.LabelMemberKey, device-* seal.LabelDeviceKey; label is the label's bytes",
		vectors, func(t *testing.T, v kat.Vector) map[string]string {
			name, _, _ := strings.Cut(v.Name, "-")
			label, ok := katDeriveLabels[name]
			if !ok {
				t.Fatalf("no label for vector %s", v.Name)
			}
			d := keys.FromSeed(kat.Hex32(t, v.In, "seed")).Derive(kat.Hex(t, v.In, "salt"), label)
			seed, pub := d.Seed(), d.Public()
			return map[string]string{"label": kat.H([]byte(label)), "seed": kat.H(seed[:]), "public": kat.H(pub[:])}
		})
}

func certVectors() []kat.Vector {
	return []kat.Vector{
		{Name: "owner", In: map[string]string{"group": kat.H(katGroupID[:]), "member_seed": kat.H(kat.Seq(0x01, 32)), "device_seed": kat.H(kat.Seq(0x21, 32))}},
		{Name: "other", In: map[string]string{"group": kat.H(kat.Seq(0x00, 32)), "member_seed": kat.H(kat.Seq(0x80, 32)), "device_seed": kat.H(kat.Seq(0xa0, 32))}},
	}
}

func computeCert(t *testing.T, v kat.Vector) map[string]string {
	t.Helper()
	g := keys.Public(kat.Hex32(t, v.In, "group"))
	member := keys.FromSeed(kat.Hex32(t, v.In, "member_seed"))
	device := keys.FromSeed(kat.Hex32(t, v.In, "device_seed"))
	c := keys.NewCert(g, member, device, device.LegacyAgreement().PublicKey())
	enc := c.Append(nil)
	if len(enc) != keys.CertSize {
		t.Errorf("certificate of %d bytes, want %d", len(enc), keys.CertSize)
	}
	if err := c.Verify(g); err != nil {
		t.Errorf("Verify: %v", err)
	}
	other := g
	other[0] ^= 1
	if err := c.Verify(other); !errors.Is(err, keys.ErrBadSignature) {
		t.Errorf("Verify for another group: %v, want ErrBadSignature", err)
	}
	r := wire.NewReader(enc)
	if got := keys.ReadCert(r); r.Done() != nil || got != c {
		t.Errorf("ReadCert(Append) = %+v, %v; want %+v", got, r.Err(), c)
	}
	if !bytes.Equal(c.AgreementKey().Bytes(), device.LegacyAgreement().PublicKey().Bytes()) {
		t.Error("AgreementKey is not the device's Agreement public key")
	}
	return map[string]string{"cert": kat.H(enc), "device_x25519": kat.H(c.DeviceX[:])}
}

func TestKATCerts(t *testing.T) {
	kat.Check(t, "certs.json",
		"keys.NewCert(group, FromSeed(member_seed), FromSeed(device_seed), FromSeed(device_seed).LegacyAgreement().PublicKey()).Append: member || device || device X25519 (Agreement) || signature over SignContext(\"berty/v1/device-cert\", group, member, device, device_x25519)",
		certVectors(), computeCert)
}

func TestCertRejectsEveryBitFlip(t *testing.T) {
	for _, v := range certVectors() {
		enc := kat.Hex(t, computeCert(t, v), "cert")
		g := keys.Public(kat.Hex32(t, v.In, "group"))
		for i := range len(enc) * 8 {
			c := bytes.Clone(enc)
			c[i/8] ^= 1 << (i % 8)
			cert := keys.ReadCert(wire.NewReader(c))
			if err := cert.Verify(g); err == nil {
				t.Errorf("%s: certificate with bit %d flipped verifies", v.Name, i)
			}
		}
	}
}
