// Package handshake runs the two Noise handshakes of Berty (docs/protocol.md
// §11.5, §11.7) as pure state machines: bytes in, bytes out, randomness
// injected. The transport (a libp2p stream at a rendezvous point) is the
// caller's; the cryptography is github.com/flynn/noise with
// Noise_*_25519_ChaChaPoly_SHA256. Nothing here is home-made crypto: this
// package chooses patterns, prologues and payloads, and checks identities.
//
// # Contact request (XX)
//
// The requester has the responder's contact link; the responder serves its
// rendezvous point. Noise XX authenticates both account keys (as X25519
// statics, the RFC 7748 map of the Ed25519 keys), the prologue binds the
// protocol version and the rendezvous point, and the requester's contact
// card travels in the third message, encrypted and bound to the handshake.
// XX and not IK: the requester's identity is only sent after the
// responder's fresh ephemeral, so a recorded handshake cannot be replayed to
// re-create a request the user discarded.
//
//	requester                      responder
//	Hello()        -> e
//	               <- e, ee, s, es  Reply()
//	Answer()       -> s, se, card   Card()
//	               <- status        Status()
//	Done()
//
// # Device link (NKpsk0)
//
// A new device shows a one-time link holding a one-time X25519 public key
// and a 32-byte secret; an existing device of the account scans it and
// hands over the account secrets. The approver encrypts to the one-time key
// (so someone who photographs the link still cannot read the grant) and
// proves the secret as a pre-shared key (so the new device accepts a grant
// only from someone who saw its link).
//
//	approver                       new device
//	Hello()        -> psk, e, es
//	               <- e, ee, key    Reply()   (its own device key)
//	Grant()        -> grant         Receive()
//	               <- ack           Ack()
//	Done()
package handshake

import (
	"crypto/ecdh"
	"errors"
	"fmt"

	"github.com/flynn/noise"
)

// Protocol names, in every handshake's prologue: changing one makes old and
// new peers fail the handshake cleanly rather than misread each other.
const (
	ProtocolContact    = "berty/v1/contact-request"
	ProtocolDeviceLink = "berty/v2/device-link"
)

// MaxMessage bounds every handshake message; anything longer is refused
// before it is parsed. A device link's reply and grant carry ML-KEM-768
// material (a 1 184-byte key, a 1 088-byte ciphertext).
const MaxMessage = 1536

// MaxName bounds display names in cards and grants, in bytes.
const MaxName = 64

// ErrHandshake is wrapped by every failure caused by the peer's messages
// (bad ciphertext, wrong key, bad payload, out of order): the caller drops
// the stream and counts it.
var ErrHandshake = errors.New("handshake failed")

var suite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256)

func fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrHandshake, fmt.Sprintf(format, args...))
}

func dhKey(priv *ecdh.PrivateKey) noise.DHKey {
	return noise.DHKey{Private: priv.Bytes(), Public: priv.PublicKey().Bytes()}
}

// prologue is protocol || 0x00 || extra.
func prologue(protocol string, extra []byte) []byte {
	p := append([]byte(protocol), 0)
	return append(p, extra...)
}

// step guards the order of calls on one side of a handshake. A call out of
// order, or one that fails, poisons it (-1): every later call is refused, so
// a caller that goes on after an error gets errors, never a step run on a
// half-made state.
type step int

func (s *step) next(want step, what string) error {
	if *s != want {
		*s = -1
		return fail("%s out of order", what)
	}
	*s++
	return nil
}

// check poisons s if *err is set; every method defers it after next.
func (s *step) check(err *error) {
	if *err != nil {
		*s = -1
	}
}

func checkSize(msg []byte) error {
	if len(msg) > MaxMessage {
		return fail("message of %d bytes, limit %d", len(msg), MaxMessage)
	}
	return nil
}
