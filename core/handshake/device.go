package handshake

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
	"github.com/flynn/noise"
)

// The grant carries the account seed, the account's most long-lived secret:
// a recording of the link's traffic must not give it up to a future quantum
// computer that breaks X25519. So the new device adds, to its reply, a
// one-time ML-KEM-768 encapsulation key; the approver encapsulates to it and
// seals the grant, inside the Noise transport message, under a key derived
// from the ML-KEM secret and the handshake hash (docs/protocol.md §11.7).

// labelGrantKey derives the key that seals the grant (§3.1).
const labelGrantKey = "berty/v2/device-link/grant"

func grantKey(shared, handshakeHash []byte) [32]byte {
	return seal.Derive32(shared, handshakeHash, labelGrantKey)
}

// Grant is what an existing device hands a new device of its account.
type Grant struct {
	AccountSeed [32]byte
	Name        string // the account's display name
}

const grantVersion = 1

func (g *Grant) encode() []byte { return encodeKeyName(grantVersion, g.AccountSeed, g.Name) }

func decodeGrant(b []byte) (*Grant, error) {
	seed, name, err := decodeKeyName(b, grantVersion, "grant")
	if err != nil {
		return nil, err
	}
	return &Grant{AccountSeed: seed, Name: name}, nil
}

var ack = []byte("ok")

func linkConfig(initiator bool, secret [32]byte, rand io.Reader) noise.Config {
	return noise.Config{
		CipherSuite:           suite,
		Random:                rand,
		Pattern:               noise.HandshakeNK,
		Initiator:             initiator,
		Prologue:              prologue(ProtocolDeviceLink, nil),
		PresharedKey:          secret[:],
		PresharedKeyPlacement: 0,
	}
}

// Approver is the existing device's side of a device link.
type Approver struct {
	hs         *noise.HandshakeState
	send, recv *noise.CipherState
	rand       io.Reader
	device     keys.Public // the new device's key, from its reply
	step       step
}

// NewApprover starts approving the new device whose link holds the
// one-time public key key and the one-time secret.
func NewApprover(key [32]byte, secret [32]byte, rand io.Reader) (*Approver, error) {
	if err := keys.CheckX25519(key); err != nil {
		return nil, fmt.Errorf("device link: %w", err)
	}
	cfg := linkConfig(true, secret, rand)
	cfg.PeerStatic = key[:]
	hs, err := noise.NewHandshakeState(cfg)
	if err != nil {
		return nil, err
	}
	return &Approver{hs: hs, rand: rand}, nil
}

// Hello returns the first message.
func (a *Approver) Hello() (_ []byte, err error) {
	if err := a.step.next(0, "Hello"); err != nil {
		return nil, err
	}
	defer a.step.check(&err)
	msg, _, _, err := a.hs.WriteMessage(nil, nil)
	return msg, err
}

// Grant reads the new device's reply (which only the holder of the
// one-time private key can produce) and returns the grant, encrypted.
func (a *Approver) Grant(msg2 []byte, g *Grant) (_ []byte, err error) {
	if err := a.step.next(1, "Grant"); err != nil {
		return nil, err
	}
	defer a.step.check(&err)
	if err := checkSize(msg2); err != nil {
		return nil, err
	}
	if len(g.Name) > MaxName || !utf8.ValidString(g.Name) {
		return nil, fmt.Errorf("handshake: account name must be UTF-8 of at most %d bytes", MaxName)
	}
	payload, send, recv, err := a.hs.ReadMessage(nil, msg2)
	if err != nil {
		return nil, fail("reply: %v", err)
	}
	if len(payload) != 32+mlkem.EncapsulationKeySize768 {
		return nil, fail("reply of %d bytes, want the new device's 32-byte key and a %d-byte ML-KEM-768 key", len(payload), mlkem.EncapsulationKeySize768)
	}
	ek, err := mlkem.NewEncapsulationKey768(payload[32:])
	if err != nil {
		return nil, fail("reply: ML-KEM-768 key: %v", err)
	}
	shared, ct, err := seal.Encapsulate(ek, a.rand)
	if err != nil {
		return nil, err
	}
	k := grantKey(shared, a.hs.ChannelBinding())
	sealed, err := seal.Seal(ct, &k, g.encode(), nil, a.rand)
	if err != nil {
		return nil, err
	}
	a.device = keys.Public(payload[:32])
	a.send, a.recv = send, recv
	return a.send.Encrypt(nil, nil, sealed)
}

// Device returns the new device's own key, which its reply carried (valid
// after Grant): the key the account's devices approve (§5.7).
func (a *Approver) Device() keys.Public { return a.device }

// Done reads the new device's acknowledgement.
func (a *Approver) Done(msg4 []byte) (err error) {
	if err := a.step.next(2, "Done"); err != nil {
		return err
	}
	defer a.step.check(&err)
	if err := checkSize(msg4); err != nil {
		return err
	}
	pt, err := a.recv.Decrypt(nil, nil, msg4)
	if err != nil {
		return fail("acknowledgement: %v", err)
	}
	if string(pt) != string(ack) {
		return fail("acknowledgement of %d unexpected bytes", len(pt))
	}
	return nil
}

// Joiner is the new device's side of a device link.
type Joiner struct {
	hs         *noise.HandshakeState
	send, recv *noise.CipherState
	rand       io.Reader
	kem        *mlkem.DecapsulationKey768 // one-time, dropped once the grant is read
	step       step
}

// NewJoiner waits for an approver with the one-time key pair and secret
// of the link this device shows.
func NewJoiner(key *ecdh.PrivateKey, secret [32]byte, rand io.Reader) (*Joiner, error) {
	cfg := linkConfig(false, secret, rand)
	cfg.StaticKeypair = dhKey(key)
	hs, err := noise.NewHandshakeState(cfg)
	if err != nil {
		return nil, err
	}
	return &Joiner{hs: hs, rand: rand}, nil
}

// Reply reads the approver's first message, which proves it knows the
// link's secret, and returns the second, carrying this device's own key
// (encrypted, and bound to the handshake).
func (j *Joiner) Reply(msg1 []byte, device keys.Public) (_ []byte, err error) {
	if err := j.step.next(0, "Reply"); err != nil {
		return nil, err
	}
	defer j.step.check(&err)
	if err := checkSize(msg1); err != nil {
		return nil, err
	}
	payload, _, _, err := j.hs.ReadMessage(nil, msg1)
	if err != nil {
		return nil, fail("hello: %v", err)
	}
	if len(payload) != 0 {
		return nil, fail("hello carries %d unexpected bytes", len(payload))
	}
	var seed [mlkem.SeedSize]byte
	if _, err := io.ReadFull(j.rand, seed[:]); err != nil {
		return nil, err
	}
	if j.kem, err = mlkem.NewDecapsulationKey768(seed[:]); err != nil {
		return nil, err
	}
	msg2, recv, send, err := j.hs.WriteMessage(nil, append(device[:], j.kem.EncapsulationKey().Bytes()...))
	if err != nil {
		return nil, err
	}
	j.send, j.recv = send, recv
	return msg2, nil
}

// Receive decrypts the grant.
func (j *Joiner) Receive(msg3 []byte) (_ *Grant, err error) {
	if err := j.step.next(1, "Receive"); err != nil {
		return nil, err
	}
	defer j.step.check(&err)
	if err := checkSize(msg3); err != nil {
		return nil, err
	}
	pt, err := j.recv.Decrypt(nil, nil, msg3)
	if err != nil {
		return nil, fail("grant: %v", err)
	}
	if len(pt) < mlkem.CiphertextSize768+seal.Overhead {
		return nil, fail("grant of %d bytes", len(pt))
	}
	shared, err := j.kem.Decapsulate(pt[:mlkem.CiphertextSize768])
	j.kem = nil
	if err != nil {
		return nil, fail("grant: %v", err)
	}
	k := grantKey(shared, j.hs.ChannelBinding())
	g, err := seal.Open(&k, pt[mlkem.CiphertextSize768:], nil)
	if err != nil {
		return nil, fail("grant: %v", err)
	}
	return decodeGrant(g)
}

// Ack returns the acknowledgement, to send once the grant is stored.
func (j *Joiner) Ack() (_ []byte, err error) {
	if err := j.step.next(2, "Ack"); err != nil {
		return nil, err
	}
	defer j.step.check(&err)
	return j.send.Encrypt(nil, nil, ack)
}
