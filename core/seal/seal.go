// Package seal holds the symmetric building blocks every Berty format uses:
// labelled HKDF-SHA256 derivation, XChaCha20-Poly1305 sealing with random
// nonces, and sealed boxes to an X25519 public key (docs/protocol.md §3.1, §3.5).
//
// Only standard-library and golang.org/x/crypto primitives are used. Functions
// that need randomness take it as an io.Reader so the protocol core stays
// deterministic under test.
package seal

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Overhead is the number of bytes Seal adds: a 24-byte nonce and a 16-byte tag.
const Overhead = chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

// BoxOverhead is the number of bytes SealBox adds: an ephemeral X25519 public
// key plus Overhead.
const BoxOverhead = 32 + Overhead

// ErrOpen is returned when a ciphertext does not authenticate under the key:
// it was tampered with, truncated, or sealed for someone else.
var ErrOpen = errors.New("message authentication failed")

// Derive expands secret into n bytes with HKDF-SHA256 under the given salt and
// label. Every label used by the protocol is listed in docs/protocol.md §3.1;
// distinct labels give independent keys.
func Derive(secret, salt []byte, label string, n int) []byte {
	out, err := hkdf.Key(sha256.New, secret, salt, label, n)
	if err != nil {
		// Only possible for n > 255*32, a programming error.
		panic(fmt.Sprintf("seal: derive %q: %v", label, err))
	}
	return out
}

// Derive32 is Derive into a 32-byte array.
func Derive32(secret, salt []byte, label string) (k [32]byte) {
	copy(k[:], Derive(secret, salt, label, 32))
	return k
}

// Expand32 is HKDF-Expand only, for secrets that are already uniformly random
// 32-byte keys (ratchet chain keys): it skips the extract step.
func Expand32(prk *[32]byte, label string) (k [32]byte) {
	out, err := hkdf.Expand(sha256.New, prk[:], label, 32)
	if err != nil {
		panic(fmt.Sprintf("seal: expand %q: %v", label, err))
	}
	copy(k[:], out)
	return k
}

// Seal encrypts plaintext under key with a fresh random nonce from rand and
// authenticates ad. It appends nonce || ciphertext || tag to dst.
func Seal(dst []byte, key *[32]byte, plaintext, ad []byte, rand io.Reader) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	start := len(dst)
	dst = append(dst, make([]byte, chacha20poly1305.NonceSizeX)...)
	nonce := dst[start:]
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, fmt.Errorf("read nonce: %w", err)
	}
	return aead.Seal(dst, nonce, plaintext, ad), nil
}

// Open authenticates and decrypts a value produced by Seal. It returns ErrOpen
// for anything that does not authenticate, including short input.
func Open(key *[32]byte, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, ErrOpen
	}
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	nonce, ct := sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:]
	pt, err := aead.Open(nil, nonce, ct, ad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// SealBox encrypts plaintext so that only the holder of the X25519 private key
// for to can open it: an ephemeral key agreement, HKDF over the shared secret
// and both public keys, then Seal (docs/protocol.md §3.5). ad is authenticated.
func SealBox(to *ecdh.PublicKey, plaintext, ad []byte, rand io.Reader) ([]byte, error) {
	// Read the scalar from rand ourselves: since Go 1.26 GenerateKey ignores
	// its reader, which would make the core depend on global randomness.
	var scalar [32]byte
	if _, err := io.ReadFull(rand, scalar[:]); err != nil {
		return nil, fmt.Errorf("ephemeral key: %w", err)
	}
	eph, err := ecdh.X25519().NewPrivateKey(scalar[:])
	if err != nil {
		return nil, fmt.Errorf("ephemeral key: %w", err)
	}
	shared, err := eph.ECDH(to)
	if err != nil {
		return nil, fmt.Errorf("key agreement: %w", err)
	}
	ephPub := eph.PublicKey().Bytes()
	key := boxKey(shared, ephPub, to.Bytes())
	out := append([]byte(nil), ephPub...)
	return Seal(out, &key, plaintext, ad, rand)
}

// OpenBox opens a value produced by SealBox with the recipient's private key.
func OpenBox(priv *ecdh.PrivateKey, box, ad []byte) ([]byte, error) {
	if len(box) < BoxOverhead {
		return nil, ErrOpen
	}
	ephPub, err := ecdh.X25519().NewPublicKey(box[:32])
	if err != nil {
		return nil, ErrOpen
	}
	shared, err := priv.ECDH(ephPub)
	if err != nil {
		// A low-order ephemeral key gives an all-zero secret; refuse it.
		return nil, ErrOpen
	}
	key := boxKey(shared, box[:32], priv.PublicKey().Bytes())
	return Open(&key, box[32:], ad)
}

func boxKey(shared, ephPub, toPub []byte) [32]byte {
	salt := make([]byte, 0, 64)
	salt = append(salt, ephPub...)
	salt = append(salt, toPub...)
	return Derive32(shared, salt, LabelSealedBox)
}
