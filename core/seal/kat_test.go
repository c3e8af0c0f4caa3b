package seal_test

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/internal/kat"
)

// Known-answer vectors for package seal. The vector files in testdata/ are
// checked by every plain `go test`; `go test -update` rewrites them. The
// outputs are compared byte for byte, so changing a label, the HKDF salt or
// the sealed layout fails these tests.
// The harness is package internal/kat.

// katLabels lists every label of labels.go; TestKATCoversEveryLabel keeps it
// complete.
var katLabels = []struct{ name, value string }{
	{"LabelSealedBox", seal.LabelSealedBox},
	{"LabelHybridBox", seal.LabelHybridBox},
	{"LabelAccountGroup", seal.LabelAccountGroup},
	{"LabelContactGroup", seal.LabelContactGroup},
	{"LabelMemberKey", seal.LabelMemberKey},
	{"LabelDeviceKey", seal.LabelDeviceKey},
	{"LabelDeviceX25519", seal.LabelDeviceX25519},
	{"LabelPeerKey", seal.LabelPeerKey},
	{"LabelMetadataKey", seal.LabelMetadataKey},
	{"LabelHeaderKey", seal.LabelHeaderKey},
	{"LabelReplicationKey", seal.LabelReplicationKey},
	{"LabelTopic", seal.LabelTopic},
	{"LabelMessageKey", seal.LabelMessageKey},
	{"LabelChainKey", seal.LabelChainKey},
	{"LabelEpochID", seal.LabelEpochID},
	{"LabelEpochMetadata", seal.LabelEpochMetadata},
	{"LabelEpochNetwork", seal.LabelEpochNetwork},
	{"LabelNetworkID", seal.LabelNetworkID},
	{"LabelRejoinMemberKey", seal.LabelRejoinMemberKey},
	{"LabelRejoinDeviceKey", seal.LabelRejoinDeviceKey},
}

func TestKATCoversEveryLabel(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "labels.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, d := range f.Decls {
		if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.CONST {
			for _, s := range gd.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					if n.IsExported() {
						declared = append(declared, n.Name)
					}
				}
			}
		}
	}
	var covered []string
	for _, l := range katLabels {
		covered = append(covered, l.name)
	}
	slices.Sort(declared)
	slices.Sort(covered)
	if !slices.Equal(declared, covered) {
		t.Errorf("labels.go declares %v;\nthe vectors cover %v", declared, covered)
	}
}

func TestKATDerive(t *testing.T) {
	var vectors []kat.Vector
	for _, l := range katLabels {
		vectors = append(vectors,
			kat.Vector{Name: l.name, In: map[string]string{"secret": kat.H(kat.Seq(0x01, 32)), "salt": kat.H(kat.Seq(0x21, 32))}},
			kat.Vector{Name: l.name + "-nosalt", In: map[string]string{"secret": kat.H(kat.Seq(0x01, 32)), "salt": ""}},
		)
	}
	kat.Check(t, "derive.json",
		"seal.Derive(secret, salt, label, 32|64) and seal.Expand32(secret, label) for every label of labels.go (named by the vector); label is the label's bytes",
		vectors, func(t *testing.T, v kat.Vector) map[string]string {
			name := strings.TrimSuffix(v.Name, "-nosalt")
			i := slices.IndexFunc(katLabels, func(l struct{ name, value string }) bool { return l.name == name })
			if i < 0 {
				t.Fatalf("no label %s", name)
			}
			label := katLabels[i].value
			secret, salt := kat.Hex(t, v.In, "secret"), kat.Hex(t, v.In, "salt")
			d32 := seal.Derive32(secret, salt, label)
			d64 := seal.Derive(secret, salt, label, 64)
			if !bytes.Equal(d32[:], d64[:32]) {
				t.Errorf("Derive32 = %x is not the prefix of Derive(64) = %x", d32, d64)
			}
			prk := [32]byte(secret)
			x32 := seal.Expand32(&prk, label)
			return map[string]string{
				"label":    kat.H([]byte(label)),
				"derive32": kat.H(d32[:]),
				"derive64": kat.H(d64),
				"expand32": kat.H(x32[:]),
			}
		})
}

// TestDeriveRFC5869 anchors Derive to the published HKDF-SHA256 test case 1
// of RFC 5869 (the label is the info parameter).
func TestDeriveRFC5869(t *testing.T) {
	ikm := bytes.Repeat([]byte{0x0b}, 22)
	salt, _ := hex.DecodeString("000102030405060708090a0b0c")
	info, _ := hex.DecodeString("f0f1f2f3f4f5f6f7f8f9")
	want := "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
	if got := kat.H(seal.Derive(ikm, salt, string(info), 42)); got != want {
		t.Errorf("Derive = %s\nwant     %s", got, want)
	}
}

func sealVectors() []kat.Vector {
	return []kat.Vector{
		{Name: "empty", In: map[string]string{"key": kat.H(kat.Seq(0x01, 32)), "rand_seed": kat.H(kat.Seq(0x41, 32)), "plaintext": "", "ad": ""}},
		{Name: "short", In: map[string]string{"key": kat.H(kat.Seq(0x01, 32)), "rand_seed": "01", "plaintext": kat.H([]byte("hello, berty")), "ad": kat.H([]byte("associated data"))}},
		{Name: "long", In: map[string]string{"key": kat.H(kat.Seq(0x80, 32)), "rand_seed": "02", "plaintext": kat.H(kat.Seq(0x00, 100)), "ad": kat.H(kat.Seq(0xa0, 48))}},
	}
}

func computeSeal(t *testing.T, v kat.Vector) map[string]string {
	t.Helper()
	key := kat.Hex32(t, v.In, "key")
	pt, ad := kat.Hex(t, v.In, "plaintext"), kat.Hex(t, v.In, "ad")
	sealed, err := seal.Seal(nil, &key, pt, ad, kat.NewRand(kat.Hex(t, v.In, "rand_seed")))
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != len(pt)+seal.Overhead {
		t.Errorf("sealed %d bytes, want %d", len(sealed), len(pt)+seal.Overhead)
	}
	prefixed, err := seal.Seal([]byte("prefix"), &key, pt, ad, kat.NewRand(kat.Hex(t, v.In, "rand_seed")))
	if err != nil || !bytes.Equal(prefixed, append([]byte("prefix"), sealed...)) {
		t.Errorf("Seal does not append to dst: %x, %v", prefixed, err)
	}
	if got, err := seal.Open(&key, sealed, ad); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("Open = %x, %v; want %x", got, err, pt)
	}
	return map[string]string{"nonce": kat.H(sealed[:24]), "sealed": kat.H(sealed)}
}

func TestKATSeal(t *testing.T) {
	kat.Check(t, "seal.json",
		"seal.Seal(key, plaintext, ad) drawing its nonce from the SHA-256 counter stream of rand_seed (see katRand); sealed = nonce || ciphertext || tag",
		sealVectors(), computeSeal)
}

func boxVectors() []kat.Vector {
	chainKeyAD := append([]byte("berty/v1/chain-key\x00"), kat.Seq(0x60, 68)...)
	return []kat.Vector{
		{Name: "empty", In: map[string]string{"recipient": kat.H(kat.Seq(0x01, 32)), "ephemeral": kat.H(kat.Seq(0x21, 32)), "nonce": kat.H(kat.Seq(0x41, 24)), "plaintext": "", "ad": ""}},
		{Name: "chain-key", In: map[string]string{"recipient": kat.H(kat.Seq(0x01, 32)), "ephemeral": kat.H(kat.Seq(0x81, 32)), "nonce": kat.H(kat.Seq(0xc1, 24)), "plaintext": kat.H(kat.Seq(0x10, 36)), "ad": kat.H(chainKeyAD)}},
		{Name: "text", In: map[string]string{"recipient": kat.H(kat.Seq(0xf0, 32)), "ephemeral": kat.H(kat.Seq(0x33, 32)), "nonce": kat.H(kat.Seq(0x99, 24)), "plaintext": kat.H([]byte("sealed to one device")), "ad": kat.H([]byte("ad"))}},
	}
}

func x25519Key(t testing.TB, scalar []byte) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.X25519().NewPrivateKey(scalar)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// computeBox builds a sealed box by the construction of docs/protocol.md §3.3
// with a fixed ephemeral key (SealBox draws its own), then checks that OpenBox
// opens it.
func computeBox(t *testing.T, v kat.Vector) map[string]string {
	t.Helper()
	to := x25519Key(t, kat.Hex(t, v.In, "recipient"))
	eph := x25519Key(t, kat.Hex(t, v.In, "ephemeral"))
	pt, ad := kat.Hex(t, v.In, "plaintext"), kat.Hex(t, v.In, "ad")
	shared, err := eph.ECDH(to.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	ephPub, toPub := eph.PublicKey().Bytes(), to.PublicKey().Bytes()
	key := seal.Derive32(shared, append(bytes.Clone(ephPub), toPub...), seal.LabelSealedBox)
	box, err := seal.Seal(bytes.Clone(ephPub), &key, pt, ad, bytes.NewReader(kat.Hex(t, v.In, "nonce")))
	if err != nil {
		t.Fatal(err)
	}
	if len(box) != len(pt)+seal.BoxOverhead {
		t.Errorf("box of %d bytes, want %d", len(box), len(pt)+seal.BoxOverhead)
	}
	if got, err := seal.OpenBox(to, box, ad); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("OpenBox = %x, %v; want %x", got, err, pt)
	}
	return map[string]string{
		"recipient_public": kat.H(toPub),
		"ephemeral_public": kat.H(ephPub),
		"shared":           kat.H(shared),
		"key":              kat.H(key[:]),
		"box":              kat.H(box),
	}
}

func TestKATSealBox(t *testing.T) {
	kat.Check(t, "box.json",
		"sealed box to the X25519 key with scalar recipient, from the ephemeral scalar and nonce: key = Derive32(X25519(ephemeral, recipient_public), ephemeral_public || recipient_public, LabelSealedBox); box = ephemeral_public || nonce || ciphertext || tag; seal.OpenBox must open it",
		boxVectors(), computeBox)
}

// tamperings returns every one-bit flip of b and its truncations.
func tamperings(b []byte) map[string][]byte {
	out := map[string][]byte{}
	for i := range len(b) * 8 {
		c := bytes.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		out["flip bit "+strconv.Itoa(i)] = c
	}
	for _, n := range []int{0, 1, len(b) / 2, len(b) - 1} {
		if 0 <= n && n < len(b) {
			out["truncated to "+strconv.Itoa(n)] = b[:n]
		}
	}
	out["extended"] = append(bytes.Clone(b), 0)
	return out
}

func TestOpenRejectsTampering(t *testing.T) {
	for _, v := range sealVectors() {
		t.Run(v.Name, func(t *testing.T) {
			sealed := kat.Hex(t, computeSeal(t, v), "sealed")
			key := kat.Hex32(t, v.In, "key")
			ad := kat.Hex(t, v.In, "ad")
			for name, c := range tamperings(sealed) {
				if _, err := seal.Open(&key, c, ad); !errors.Is(err, seal.ErrOpen) {
					t.Errorf("%s: Open err = %v, want ErrOpen", name, err)
				}
			}
			for name, c := range tamperings(ad) {
				if _, err := seal.Open(&key, sealed, c); !errors.Is(err, seal.ErrOpen) {
					t.Errorf("ad %s: Open err = %v, want ErrOpen", name, err)
				}
			}
			key[0] ^= 1
			if _, err := seal.Open(&key, sealed, ad); !errors.Is(err, seal.ErrOpen) {
				t.Errorf("other key: Open err = %v, want ErrOpen", err)
			}
		})
	}
}

func TestOpenBoxRejectsTampering(t *testing.T) {
	for _, v := range boxVectors() {
		t.Run(v.Name, func(t *testing.T) {
			box := kat.Hex(t, computeBox(t, v), "box")
			to := x25519Key(t, kat.Hex(t, v.In, "recipient"))
			ad := kat.Hex(t, v.In, "ad")
			for name, c := range tamperings(box) {
				if _, err := seal.OpenBox(to, c, ad); !errors.Is(err, seal.ErrOpen) {
					t.Errorf("%s: OpenBox err = %v, want ErrOpen", name, err)
				}
			}
			for name, c := range tamperings(ad) {
				if _, err := seal.OpenBox(to, box, c); !errors.Is(err, seal.ErrOpen) {
					t.Errorf("ad %s: OpenBox err = %v, want ErrOpen", name, err)
				}
			}
			other := x25519Key(t, kat.Seq(0x55, 32))
			if _, err := seal.OpenBox(other, box, ad); !errors.Is(err, seal.ErrOpen) {
				t.Errorf("other recipient: OpenBox err = %v, want ErrOpen", err)
			}
		})
	}
}

// TestSealBoxRoundTrip checks SealBox itself. Its output is not a known
// answer: since Go 1.26, crypto/ecdh's GenerateKey ignores the reader it is
// given (GODEBUG cryptocustomrand=0), so the ephemeral key is random whatever
// rand is; TestKATSealBox pins the construction instead.
func TestSealBoxRoundTrip(t *testing.T) {
	to := x25519Key(t, kat.Seq(0x01, 32))
	for _, tc := range []struct {
		name      string
		plaintext []byte
		ad        []byte
	}{
		{"empty", nil, nil},
		{"chain-key", kat.Seq(0x10, 36), []byte("ad")},
		{"long", bytes.Repeat([]byte("berty "), 100), kat.Seq(0, 80)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			box, err := seal.SealBox(to.PublicKey(), tc.plaintext, tc.ad, kat.NewRand([]byte(tc.name)))
			if err != nil {
				t.Fatal(err)
			}
			if len(box) != len(tc.plaintext)+seal.BoxOverhead {
				t.Errorf("box of %d bytes, want %d", len(box), len(tc.plaintext)+seal.BoxOverhead)
			}
			if got, err := seal.OpenBox(to, box, tc.ad); err != nil || !bytes.Equal(got, tc.plaintext) {
				t.Errorf("OpenBox = %x, %v; want %x", got, err, tc.plaintext)
			}
			box[len(box)-1] ^= 0x80
			if _, err := seal.OpenBox(to, box, tc.ad); !errors.Is(err, seal.ErrOpen) {
				t.Errorf("flipped bit: OpenBox err = %v, want ErrOpen", err)
			}
		})
	}
}

// lowOrderX25519 are X25519 public keys of small order (and their
// non-canonical aliases): agreement with any of them gives the zero secret.
var lowOrderX25519 = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}

func TestOpenBoxLowOrderEphemeral(t *testing.T) {
	to := x25519Key(t, kat.Seq(0x01, 32))
	for _, h := range lowOrderX25519 {
		eph, _ := hex.DecodeString(h)
		box := append(eph, make([]byte, seal.Overhead+4)...)
		if _, err := seal.OpenBox(to, box, nil); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("ephemeral %s: OpenBox err = %v, want ErrOpen", h, err)
		}
	}
}

func hybridVectors() []kat.Vector {
	chainKeyAD := append([]byte("berty/v1/chain-key\x00"), kat.Seq(0x60, 68)...)
	return []kat.Vector{
		{Name: "empty", In: map[string]string{"recipient": kat.H(kat.Seq(0x01, 96)), "rand_seed": "01", "plaintext": "", "ad": ""}},
		{Name: "chain-key", In: map[string]string{"recipient": kat.H(kat.Seq(0x81, 96)), "rand_seed": "02", "plaintext": kat.H(kat.Seq(0x10, 36)), "ad": kat.H(chainKeyAD)}},
	}
}

// computeHybrid seals with randomness from rand_seed's stream — 32 bytes of
// X25519 scalar, 32 of ML-KEM encapsulation randomness, 24 of nonce — to
// the hybrid key whose private half is recipient (X25519 scalar || ML-KEM
// seed), and checks that OpenHybrid opens it. The vectors were checked with
// Python's cryptography (ML-KEM-768 decapsulation, X25519, HKDF) and an
// XChaCha20-Poly1305 built from its ChaCha20-Poly1305.
func computeHybrid(t *testing.T, v kat.Vector) map[string]string {
	t.Helper()
	priv, err := seal.ParseHybridPrivate(kat.Hex(t, v.In, "recipient"))
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public()
	if again, err := seal.ParseHybridPublic(pub.Bytes()); err != nil || !bytes.Equal(again.Bytes(), pub.Bytes()) {
		t.Fatalf("ParseHybridPublic(Bytes()) = %v", err)
	}
	pt, ad := kat.Hex(t, v.In, "plaintext"), kat.Hex(t, v.In, "ad")
	box, err := seal.SealHybrid(pub, pt, ad, kat.NewRand(kat.Hex(t, v.In, "rand_seed")))
	if err != nil {
		t.Fatal(err)
	}
	if len(box) != len(pt)+seal.HybridOverhead {
		t.Errorf("box of %d bytes, want %d", len(box), len(pt)+seal.HybridOverhead)
	}
	if got, err := seal.OpenHybrid(priv, box, ad); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("OpenHybrid = %x, %v; want %x", got, err, pt)
	}
	return map[string]string{"public": kat.H(pub.Bytes()), "box": kat.H(box)}
}

func TestKATHybridBox(t *testing.T) {
	kat.Check(t, "hybrid.json",
		"hybrid sealed box (X25519 + ML-KEM-768) to the key whose private half is recipient (X25519 scalar || ML-KEM-768 seed d||z), randomness from rand_seed's stream: e (32), m (32), nonce (24); key = Derive32(ML-KEM shared || X25519(e, recipient X), e_pub || recipient X public, LabelHybridBox); box = ML-KEM ciphertext (1088) || e_pub || nonce || ciphertext || tag",
		hybridVectors(), computeHybrid)
}
