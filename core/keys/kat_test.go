package keys_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/wire"
)

// Known-answer vectors for package keys. The vector files in testdata/ are
// checked by every plain `go test`; `go test -update` rewrites them.

var updateKAT = flag.Bool("update", false, "rewrite the known-answer vectors in testdata/ instead of checking them")

// katVector is one known-answer vector: In is what the test feeds in, Out
// what it must get back. Byte strings are hex, integers decimal.
type katVector struct {
	Name string            `json:"name"`
	In   map[string]string `json:"in"`
	Out  map[string]string `json:"out,omitempty"`
}

type katFile struct {
	Comment string      `json:"comment"`
	Vectors []katVector `json:"vectors"`
}

// checkKAT recomputes the outputs of every vector in testdata/file from its
// inputs and compares them byte for byte with the recorded ones. With
// -update it rewrites the file from vectors instead.
func checkKAT(t *testing.T, file, comment string, vectors []katVector, compute func(t *testing.T, v katVector) map[string]string) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *updateKAT {
		out := katFile{Comment: comment}
		for _, v := range vectors {
			v.Out = compute(t, v)
			out.Vectors = append(out.Vectors, v)
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with: go test -run '^%s$' -update)", err, t.Name())
	}
	var f katFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(f.Vectors) != len(vectors) {
		t.Errorf("%s holds %d vectors, the test defines %d (regenerate with -update if intended)", path, len(f.Vectors), len(vectors))
	}
	for i, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			if i >= len(vectors) || vectors[i].Name != v.Name || !maps.Equal(vectors[i].In, v.In) {
				t.Errorf("inputs recorded in %s differ from the test's (regenerate with -update if intended)", path)
			}
			katDiff(t, v.Out, compute(t, v))
		})
	}
}

// katDiff reports every output that differs from the recorded one.
func katDiff(t *testing.T, want, got map[string]string) {
	t.Helper()
	all := maps.Clone(want)
	maps.Copy(all, got)
	for _, k := range slices.Sorted(maps.Keys(all)) {
		w, wok := want[k]
		g, gok := got[k]
		switch {
		case !wok:
			t.Errorf("output %q = %s is not in the vector file", k, g)
		case !gok:
			t.Errorf("output %q missing; want %s", k, w)
		case w != g:
			i := 0
			for i < len(w) && i < len(g) && w[i] == g[i] {
				i++
			}
			t.Errorf("output %q differs from character %d:\nwant %s\n got %s", k, i, w, g)
		}
	}
}

func katHex(t testing.TB, in map[string]string, key string) []byte {
	t.Helper()
	s, ok := in[key]
	if !ok {
		t.Fatalf("input %q missing", key)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("input %q: %v", key, err)
	}
	return b
}

func katHex32(t testing.TB, in map[string]string, key string) (a [32]byte) {
	t.Helper()
	b := katHex(t, in, key)
	if len(b) != 32 {
		t.Fatalf("input %q is %d bytes, want 32", key, len(b))
	}
	return [32]byte(b)
}

func hx(b []byte) string { return hex.EncodeToString(b) }

// katSeq returns the n bytes first, first+1, ... (mod 256): the fixed seeds
// and keys of the vectors.
func katSeq(first byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

// katGroupID is the group ID the derivation and certificate vectors use.
var katGroupID = keys.FromSeed([32]byte(katSeq(0x40, 32))).Public()

func TestKATPairs(t *testing.T) {
	vector := func(name string, seed []byte) katVector {
		return katVector{Name: name, In: map[string]string{
			"seed": hx(seed), "context": hx([]byte("berty/v1/kat")), "message": hx([]byte("known answer")),
		}}
	}
	vectors := []katVector{
		vector("seq01", katSeq(0x01, 32)),
		vector("seq21", katSeq(0x21, 32)),
		vector("zero", make([]byte, 32)),
		vector("ff", bytes.Repeat([]byte{0xff}, 32)),
	}
	checkKAT(t, "pairs.json",
		"keys.FromSeed(seed): Ed25519 public key; X25519 private key (Pair.X25519) and its public key, which must equal Public().X25519(); Agreement key pair; signature over SignContext(context, message)",
		vectors, func(t *testing.T, v katVector) map[string]string {
			seed := katHex32(t, v.In, "seed")
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
			agree := k.Agreement()
			if want := seal.Derive32(seed[:], nil, seal.LabelDeviceX25519); !bytes.Equal(agree.Bytes(), want[:]) {
				t.Errorf("Agreement() = %x, want HKDF(seed, LabelDeviceX25519) = %x", agree.Bytes(), want)
			}
			signed := keys.SignContext(string(katHex(t, v.In, "context")), katHex(t, v.In, "message"))
			sig := k.Sign(signed)
			if !pub.Verify(signed, sig) {
				t.Error("signature does not verify")
			}
			if pub.Verify(signed[1:], sig) || pub.Verify(signed, sig[1:]) {
				t.Error("signature verifies for another message or a short signature")
			}
			return map[string]string{
				"public":            hx(pub[:]),
				"x25519_private":    hx(xpriv.Bytes()),
				"x25519_public":     hx(xpub.Bytes()),
				"agreement_private": hx(agree.Bytes()),
				"agreement_public":  hx(agree.PublicKey().Bytes()),
				"signed":            hx(signed),
				"signature":         hx(sig),
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
		if got := hx(pub[:]); got != tc.public {
			t.Errorf("seed %s: public %s, want %s", tc.seed, got, tc.public)
		}
		if got := hx(k.Sign(msg)); got != tc.signature {
			t.Errorf("seed %s: signature %s, want %s", tc.seed, got, tc.signature)
		}
	}
}

// TestX25519Agreement checks that the Ed25519 -> X25519 maps of two pairs
// agree on a shared secret from both sides.
func TestX25519Agreement(t *testing.T) {
	seeds := [][]byte{katSeq(0x01, 32), katSeq(0x21, 32), make([]byte, 32), bytes.Repeat([]byte{0xff}, 32)}
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
	var vectors []katVector
	for _, label := range []string{"member", "device"} {
		for _, seed := range []struct {
			name string
			b    []byte
		}{{"seq01", katSeq(0x01, 32)}, {"seq21", katSeq(0x21, 32)}} {
			vectors = append(vectors, katVector{Name: label + "-" + seed.name, In: map[string]string{
				"seed": hx(seed.b), "salt": hx(katGroupID[:]),
			}})
		}
	}
	checkKAT(t, "derive.json",
		"Pair.Derive(salt = group ID, label): member-* vectors use seal.LabelMemberKey, device-* seal.LabelDeviceKey; label is the label's bytes",
		vectors, func(t *testing.T, v katVector) map[string]string {
			name, _, _ := strings.Cut(v.Name, "-")
			label, ok := katDeriveLabels[name]
			if !ok {
				t.Fatalf("no label for vector %s", v.Name)
			}
			d := keys.FromSeed(katHex32(t, v.In, "seed")).Derive(katHex(t, v.In, "salt"), label)
			seed, pub := d.Seed(), d.Public()
			return map[string]string{"label": hx([]byte(label)), "seed": hx(seed[:]), "public": hx(pub[:])}
		})
}

func certVectors() []katVector {
	return []katVector{
		{Name: "owner", In: map[string]string{"group": hx(katGroupID[:]), "member_seed": hx(katSeq(0x01, 32)), "device_seed": hx(katSeq(0x21, 32))}},
		{Name: "other", In: map[string]string{"group": hx(katSeq(0x00, 32)), "member_seed": hx(katSeq(0x80, 32)), "device_seed": hx(katSeq(0xa0, 32))}},
	}
}

func computeCert(t *testing.T, v katVector) map[string]string {
	t.Helper()
	g := keys.Public(katHex32(t, v.In, "group"))
	member := keys.FromSeed(katHex32(t, v.In, "member_seed"))
	device := keys.FromSeed(katHex32(t, v.In, "device_seed"))
	c := keys.NewCert(g, member, device)
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
	if !bytes.Equal(c.AgreementKey().Bytes(), device.Agreement().PublicKey().Bytes()) {
		t.Error("AgreementKey is not the device's Agreement public key")
	}
	return map[string]string{"cert": hx(enc), "device_x25519": hx(c.DeviceX[:])}
}

func TestKATCerts(t *testing.T) {
	checkKAT(t, "certs.json",
		"keys.NewCert(group, FromSeed(member_seed), FromSeed(device_seed)).Append: member || device || device X25519 (Agreement) || signature over SignContext(\"berty/v1/device-cert\", group, member, device, device_x25519)",
		certVectors(), computeCert)
}

func TestCertRejectsEveryBitFlip(t *testing.T) {
	for _, v := range certVectors() {
		enc := katHex(t, computeCert(t, v), "cert")
		g := keys.Public(katHex32(t, v.In, "group"))
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
