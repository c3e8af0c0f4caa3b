package keys

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"fmt"

	"github.com/berty-go/berty/core/wire"
)

// Signature contexts (docs/protocol.md §3.2).
const (
	ctxDeviceCert = "berty/v1/device-cert"
)

// CertSize is the encoded size of a Cert.
const CertSize = 32 + 32 + 32 + 64

// Cert is a device certificate: the member key vouches that Device (with the
// X25519 key DeviceX) writes for it in one group. Every feed starts with one
// (§4.3), so any replica can check who a feed belongs to without asking.
type Cert struct {
	Member  Public
	Device  Public
	DeviceX [32]byte
	Sig     [64]byte
}

// NewCert returns the certificate by which member vouches for device, with
// its first key-agreement key agree, in the group with the given ID.
func NewCert(group Public, member, device *Pair, agree *ecdh.PublicKey) Cert {
	c := Cert{Member: member.Public(), Device: device.Public()}
	copy(c.DeviceX[:], agree.Bytes())
	copy(c.Sig[:], member.Sign(c.signed(group)))
	return c
}

func (c *Cert) signed(group Public) []byte {
	return SignContext(ctxDeviceCert, group[:], c.Member[:], c.Device[:], c.DeviceX[:])
}

// Verify checks the member's signature for the group.
func (c *Cert) Verify(group Public) error {
	if !c.Member.Verify(c.signed(group), c.Sig[:]) {
		return fmt.Errorf("device certificate: %w", ErrBadSignature)
	}
	if err := CheckX25519(c.DeviceX); err != nil {
		return fmt.Errorf("device certificate: %w", err)
	}
	return nil
}

// ErrBadX25519 is returned for an X25519 public key that is not canonical or
// has small order.
var ErrBadX25519 = errors.New("bad X25519 public key")

// x25519Probe is a fixed private key for CheckX25519. Any clamped scalar is a
// multiple of the cofactor 8, so it maps every point of small order — and
// only those — to the identity, whose encoding is all zeros.
var x25519Probe = func() *ecdh.PrivateKey {
	k, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{0x5a}, 32))
	if err != nil {
		panic(err)
	}
	return k
}()

// CheckX25519 refuses a public key that some member could not seal to: a
// point of small order (every shared secret with it is all zeros, so any
// seal to it fails, and one such certificate would stop every rekey of the
// group) or a non-canonical encoding (top bit set or u ≥ 2^255−19, which
// would give one key several encodings).
func CheckX25519(u [32]byte) error {
	if u[31]&0x80 != 0 || !canonicalX25519(u) {
		return fmt.Errorf("%w: not canonical", ErrBadX25519)
	}
	pub, err := ecdh.X25519().NewPublicKey(u[:])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadX25519, err)
	}
	if _, err := x25519Probe.ECDH(pub); err != nil {
		return fmt.Errorf("%w: small order", ErrBadX25519)
	}
	return nil
}

// canonicalX25519 reports u < 2^255−19, u read little-endian with its top bit
// clear.
func canonicalX25519(u [32]byte) bool {
	// p = 2^255−19: 0xed, then 30 bytes of 0xff, then 0x7f, little-endian.
	if u[31] != 0x7f {
		return true
	}
	for i := 30; i >= 1; i-- {
		if u[i] != 0xff {
			return true
		}
	}
	return u[0] < 0xed
}

// AgreementKey returns the device's X25519 public key.
func (c *Cert) AgreementKey() *ecdh.PublicKey {
	k, err := ecdh.X25519().NewPublicKey(c.DeviceX[:])
	if err != nil {
		panic("keys: certificate with unchecked X25519 key")
	}
	return k
}

// Append appends the encoding of c.
func (c *Cert) Append(b []byte) []byte {
	b = append(b, c.Member[:]...)
	b = append(b, c.Device[:]...)
	b = append(b, c.DeviceX[:]...)
	return append(b, c.Sig[:]...)
}

// ReadCert decodes a certificate; it does not verify it.
func ReadCert(r *wire.Reader) Cert {
	var c Cert
	c.Member = r.Fixed32()
	c.Device = r.Fixed32()
	c.DeviceX = r.Fixed32()
	copy(c.Sig[:], r.Fixed(64))
	return c
}
