package handshake

import (
	"crypto/mlkem"

	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/internal/kat"
)

// The device-link vector needs a fixed ML-KEM ciphertext (seal.Encapsulate).
func init() { seal.Encapsulate = kat.Encapsulate768 }

// Hooks for the external tests: the fuzz targets check that what a handshake
// returns re-encodes to a payload that decodes again.

func EncodeCard(c *Card) []byte            { return c.encode() }
func DecodeCard(b []byte) (*Card, error)   { return decodeCard(b) }
func EncodeGrant(g *Grant) []byte          { return g.encode() }
func DecodeGrant(b []byte) (*Grant, error) { return decodeGrant(b) }

// ForgetKEMForTest replaces the joiner's one-time ML-KEM key by another: a
// joiner that holds every Noise key of the link but not the ML-KEM secret —
// what recorded traffic gives someone who breaks X25519.
func (j *Joiner) ForgetKEMForTest(seed []byte) {
	k, err := mlkem.NewDecapsulationKey768(seed)
	if err != nil {
		panic(err)
	}
	j.kem = k
}
