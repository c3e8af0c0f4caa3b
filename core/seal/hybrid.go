package seal

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"fmt"
	"io"
)

// Hybrid sealed boxes (docs/protocol.md §3.5): X25519 and ML-KEM-768 (FIPS
// 203) together, so that a box recorded today opens only for someone who
// breaks both — X25519 by a future quantum computer is not enough. The two
// shared secrets are combined as X-Wing combines them: both secrets, the
// ephemeral X25519 key and the recipient's X25519 key, under one label.

// Sizes of the hybrid format.
const (
	// HybridPublicSize is a hybrid public key: X25519 (32) || ML-KEM-768
	// encapsulation key (1 184).
	HybridPublicSize = 32 + mlkem.EncapsulationKeySize768
	// HybridPrivateSize is a hybrid private key: X25519 scalar (32) ||
	// ML-KEM-768 seed (64).
	HybridPrivateSize = 32 + mlkem.SeedSize
	// HybridOverhead is what SealHybrid adds: the ML-KEM ciphertext
	// (1 088), the ephemeral X25519 key (32), a nonce and a tag (40).
	HybridOverhead = mlkem.CiphertextSize768 + 32 + Overhead
)

// HybridPublic is the public half of a hybrid key.
type HybridPublic struct {
	X   *ecdh.PublicKey
	KEM *mlkem.EncapsulationKey768
}

// HybridPrivate is a hybrid key pair.
type HybridPrivate struct {
	X   *ecdh.PrivateKey
	KEM *mlkem.DecapsulationKey768
}

// GenerateHybrid draws a hybrid key pair from rand (96 bytes).
func GenerateHybrid(rand io.Reader) (*HybridPrivate, error) {
	var b [HybridPrivateSize]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, fmt.Errorf("hybrid key: %w", err)
	}
	return ParseHybridPrivate(b[:])
}

// ParseHybridPrivate reads what HybridPrivate.Bytes wrote.
func ParseHybridPrivate(b []byte) (*HybridPrivate, error) {
	if len(b) != HybridPrivateSize {
		return nil, fmt.Errorf("hybrid private key of %d bytes, want %d", len(b), HybridPrivateSize)
	}
	x, err := ecdh.X25519().NewPrivateKey(b[:32])
	if err != nil {
		return nil, err
	}
	k, err := mlkem.NewDecapsulationKey768(b[32:])
	if err != nil {
		return nil, err
	}
	return &HybridPrivate{X: x, KEM: k}, nil
}

// Bytes returns the X25519 scalar and the ML-KEM seed: the key's secret.
func (k *HybridPrivate) Bytes() []byte {
	return append(k.X.Bytes(), k.KEM.Bytes()...)
}

// Public returns the public half.
func (k *HybridPrivate) Public() *HybridPublic {
	return &HybridPublic{X: k.X.PublicKey(), KEM: k.KEM.EncapsulationKey()}
}

// Bytes encodes a public key: X25519 || ML-KEM-768 encapsulation key.
func (p *HybridPublic) Bytes() []byte {
	return append(p.X.Bytes(), p.KEM.Bytes()...)
}

// ParseHybridPublic decodes a public key. The ML-KEM key is checked as FIPS
// 203 requires (coefficients reduced); the X25519 key is any 32 bytes here —
// callers that take keys from the network check it first (keys.CheckX25519).
func ParseHybridPublic(b []byte) (*HybridPublic, error) {
	if len(b) != HybridPublicSize {
		return nil, fmt.Errorf("hybrid public key of %d bytes, want %d", len(b), HybridPublicSize)
	}
	x, err := ecdh.X25519().NewPublicKey(b[:32])
	if err != nil {
		return nil, err
	}
	k, err := mlkem.NewEncapsulationKey768(b[32:])
	if err != nil {
		return nil, fmt.Errorf("ML-KEM-768 encapsulation key: %w", err)
	}
	return &HybridPublic{X: x, KEM: k}, nil
}

// SealHybrid encrypts plaintext so that only the holder of to's private key
// can open it, authenticating ad: an ephemeral X25519 agreement and an
// ML-KEM-768 encapsulation, both secrets through HKDF, then Seal. Output:
// ML-KEM ciphertext (1 088) || ephemeral X25519 key (32) || Seal output.
// Randomness (X25519 scalar, encapsulation, nonce) comes from rand.
func SealHybrid(to *HybridPublic, plaintext, ad []byte, rand io.Reader) ([]byte, error) {
	var r [32]byte
	if _, err := io.ReadFull(rand, r[:]); err != nil {
		return nil, fmt.Errorf("hybrid box: %w", err)
	}
	eph, err := ecdh.X25519().NewPrivateKey(r[:])
	if err != nil {
		return nil, err
	}
	ssX, err := eph.ECDH(to.X)
	if err != nil {
		return nil, fmt.Errorf("key agreement: %w", err)
	}
	ssK, ct, err := Encapsulate(to.KEM, rand)
	if err != nil {
		return nil, fmt.Errorf("encapsulation: %w", err)
	}
	ephPub := eph.PublicKey().Bytes()
	key := hybridKey(ssK, ssX, ephPub, to.X.Bytes())
	out := make([]byte, 0, HybridOverhead+len(plaintext))
	out = append(out, ct...)
	out = append(out, ephPub...)
	return Seal(out, &key, plaintext, ad, rand)
}

// Encapsulate is ML-KEM-768 encapsulation. It is the one place where the
// core does not draw its randomness from the caller's reader: Go's
// crypto/mlkem draws it from the system, and its derandomized form
// (ML-KEM.Encaps_internal, crypto/mlkem/mlkemtest) is for known-answer
// tests only. The tests of this package and of core/handshake replace it by
// that form, reading 32 bytes from rand, so that their vectors are fixed.
var Encapsulate = func(ek *mlkem.EncapsulationKey768, _ io.Reader) (shared, ciphertext []byte, err error) {
	shared, ciphertext = ek.Encapsulate()
	return shared, ciphertext, nil
}

// OpenHybrid opens what SealHybrid sealed to k's public key.
func OpenHybrid(k *HybridPrivate, box, ad []byte) ([]byte, error) {
	if len(box) < HybridOverhead {
		return nil, ErrOpen
	}
	ct, ephPub, sealed := box[:mlkem.CiphertextSize768], box[mlkem.CiphertextSize768:mlkem.CiphertextSize768+32], box[mlkem.CiphertextSize768+32:]
	ssK, err := k.KEM.Decapsulate(ct)
	if err != nil {
		return nil, ErrOpen
	}
	eph, err := ecdh.X25519().NewPublicKey(ephPub)
	if err != nil {
		return nil, ErrOpen
	}
	ssX, err := k.X.ECDH(eph)
	if err != nil {
		return nil, ErrOpen // a low-order ephemeral key: an all-zero secret
	}
	key := hybridKey(ssK, ssX, ephPub, k.X.PublicKey().Bytes())
	return Open(&key, sealed, ad)
}

// hybridKey = HKDF(ssK || ssX, ephemeral public || recipient X25519 public,
// LabelHybridBox): X-Wing's inputs (it leaves the ML-KEM ciphertext out,
// which ML-KEM's binding makes safe).
func hybridKey(ssK, ssX, ephPub, toX []byte) [32]byte {
	ikm := make([]byte, 0, 64)
	ikm = append(append(ikm, ssK...), ssX...)
	salt := make([]byte, 0, 64)
	salt = append(append(salt, ephPub...), toX...)
	return Derive32(ikm, salt, LabelHybridBox)
}
