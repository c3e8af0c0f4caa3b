package handshake

import (
	"crypto/ecdh"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/berty-go/berty/core/keys"
	"github.com/flynn/noise"
)

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
	return &Approver{hs: hs}, nil
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
	if len(payload) != len(a.device) {
		return nil, fail("reply of %d bytes, want the new device's 32-byte key", len(payload))
	}
	a.device = keys.Public(payload)
	a.send, a.recv = send, recv
	return a.send.Encrypt(nil, nil, g.encode())
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
	return &Joiner{hs: hs}, nil
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
	msg2, recv, send, err := j.hs.WriteMessage(nil, device[:])
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
	return decodeGrant(pt)
}

// Ack returns the acknowledgement, to send once the grant is stored.
func (j *Joiner) Ack() (_ []byte, err error) {
	if err := j.step.next(2, "Ack"); err != nil {
		return nil, err
	}
	defer j.step.check(&err)
	return j.send.Encrypt(nil, nil, ack)
}
