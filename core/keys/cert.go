package keys

import (
	"crypto/ecdh"
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

// NewCert returns the certificate by which member vouches for device in the
// group with the given ID.
func NewCert(group Public, member, device *Pair) Cert {
	c := Cert{Member: member.Public(), Device: device.Public()}
	copy(c.DeviceX[:], device.Agreement().PublicKey().Bytes())
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
	if _, err := ecdh.X25519().NewPublicKey(c.DeviceX[:]); err != nil {
		return fmt.Errorf("device certificate: bad X25519 key: %w", err)
	}
	return nil
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
