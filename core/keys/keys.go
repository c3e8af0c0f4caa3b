// Package keys holds Berty's identities: account keys, device keys, their
// per-group derivations and the device certificates that bind them
// (docs/protocol.md §3.1–§3.2).
//
// # Keys in one picture
//
//	account seed ──► account key (Ed25519, the person)
//	     │                └─ X25519 by the RFC 7748 birational map (contact groups)
//	     └─ HKDF(group ID) ──► per-group member key (multi-member groups)
//	device seed  ──► device key (Ed25519, one per device)
//	     ├─ HKDF ──► device X25519 key (receives chain keys)
//	     └─ HKDF(group ID) ──► per-group device key (multi-member groups)
//
// In the account group and in contact groups the member key is the account
// key and the device key is the device's own key: the contact knows them
// anyway. In multi-member groups both are derived per group, so members of two
// groups cannot link a person or a device across them.
package keys

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"

	"filippo.io/edwards25519"

	"github.com/berty-go/berty/core/seal"
)

// Public is an Ed25519 public key. The zero value is not a valid key.
type Public [32]byte

// String returns a short hex prefix for logs; it is not an encoding.
func (p Public) String() string { return fmt.Sprintf("%x", p[:4]) }

// Verify reports whether sig is a valid signature of msg by p. Messages are
// always domain-separated by the caller (see SignContext).
func (p Public) Verify(msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(p[:], msg, sig)
}

// X25519 converts an Ed25519 public key to its X25519 form (RFC 7748 §4.1,
// the map libsodium calls crypto_sign_ed25519_pk_to_curve25519). It fails for
// bytes that are not a valid point.
func (p Public) X25519() (*ecdh.PublicKey, error) {
	pt, err := new(edwards25519.Point).SetBytes(p[:])
	if err != nil {
		return nil, fmt.Errorf("not an Ed25519 public key: %w", err)
	}
	return ecdh.X25519().NewPublicKey(pt.BytesMontgomery())
}

// Pair is an Ed25519 key pair made from a 32-byte seed. The seed is the secret
// that is stored and derived from; it is never logged.
type Pair struct {
	seed [32]byte
	priv ed25519.PrivateKey
	pub  Public
}

// FromSeed returns the key pair for seed.
func FromSeed(seed [32]byte) *Pair {
	priv := ed25519.NewKeyFromSeed(seed[:])
	k := &Pair{seed: seed, priv: priv}
	copy(k.pub[:], priv[32:])
	return k
}

// Generate returns a fresh key pair with a seed read from rand.
func Generate(rand io.Reader) (*Pair, error) {
	var seed [32]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return FromSeed(seed), nil
}

// Public returns the public key.
func (k *Pair) Public() Public { return k.pub }

// Seed returns the secret seed, for storage only.
func (k *Pair) Seed() [32]byte { return k.seed }

// Sign signs msg. Callers prefix msg with a context (SignContext).
func (k *Pair) Sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

// X25519 returns the X25519 private key matching Public().X25519(): the
// clamped first half of SHA-512(seed), as Ed25519 itself uses it.
func (k *Pair) X25519() *ecdh.PrivateKey {
	h := sha512.Sum512(k.seed[:])
	priv, err := ecdh.X25519().NewPrivateKey(h[:32])
	if err != nil {
		panic("keys: 32-byte X25519 scalar refused: " + err.Error())
	}
	return priv
}

// Derive returns the key pair whose seed is HKDF(k's seed, salt, label): how
// per-group member and device keys are made (§3.1).
func (k *Pair) Derive(salt []byte, label string) *Pair {
	return FromSeed(seal.Derive32(k.seed[:], salt, label))
}

// LegacyAgreement is the X25519 key that a device derived from its seed to
// receive sealed chain keys before key-agreement keys were drawn at random
// and replaced (§6.4). A key derived from the seed can never be deleted, so
// it is used only to open what a replica stored before then (a version 4
// snapshot, §7.4), until its first key update has been seen.
func (k *Pair) LegacyAgreement() *ecdh.PrivateKey {
	s := seal.Derive32(k.seed[:], nil, seal.LabelDeviceX25519)
	priv, err := ecdh.X25519().NewPrivateKey(s[:])
	if err != nil {
		panic("keys: 32-byte X25519 scalar refused: " + err.Error())
	}
	return priv
}

// SignContext returns context || 0x00 || parts..., the byte string that is
// signed for a given purpose. Distinct contexts keep a signature made for one
// purpose from being valid for another.
func SignContext(context string, parts ...[]byte) []byte {
	n := len(context) + 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	b = append(b, context...)
	b = append(b, 0)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// ErrBadSignature is returned when a certificate or proof does not verify.
var ErrBadSignature = errors.New("bad signature")
