package handshake

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/wire"
	"github.com/flynn/noise"
)

// Card is what a requester tells the responder about itself.
type Card struct {
	Account keys.Public
	Name    string
}

const cardVersion = 1

func (c *Card) encode() []byte { return encodeKeyName(cardVersion, c.Account, c.Name) }

func decodeCard(b []byte) (*Card, error) {
	account, name, err := decodeKeyName(b, cardVersion, "card")
	if err != nil {
		return nil, err
	}
	return &Card{Account: account, Name: name}, nil
}

// encodeKeyName is the layout of a card and of a grant: uvarint version ||
// key[32] || string name.
func encodeKeyName(version uint64, key [32]byte, name string) []byte {
	b := wire.AppendUvarint(nil, version)
	b = append(b, key[:]...)
	return wire.AppendString(b, name)
}

// decodeKeyName reads that layout strictly: what names the message in
// errors ("card", "grant").
func decodeKeyName(b []byte, version uint64, what string) (key [32]byte, name string, err error) {
	r := wire.NewReader(b)
	if v := r.Uvarint(1 << 16); r.Err() == nil && v != version {
		return key, "", fail("%s version %d", what, v)
	}
	key, name = r.Fixed32(), r.String(MaxName)
	if err := r.Done(); err != nil {
		return key, "", fail("%s: %v", what, err)
	}
	if !utf8.ValidString(name) {
		return key, "", fail("%s name is not UTF-8", what)
	}
	return key, name, nil
}

// Status is the responder's answer to a contact request.
type Status byte

// Statuses. Received covers every request the responder will not act on
// again (a new one, a repeat, one from an account already a contact, and
// — so that a blocked account cannot tell — one from a blocked account);
// Busy asks the requester to retry later.
const (
	StatusReceived Status = 1
	StatusBusy     Status = 2
)

func (s Status) String() string {
	switch s {
	case StatusReceived:
		return "received"
	case StatusBusy:
		return "busy"
	}
	return "unknown"
}

// Requester is the requester's side of a contact request.
type Requester struct {
	hs        *noise.HandshakeState
	card      Card
	responder []byte // the X25519 static the link promises
	recv      *noise.CipherState
	step      step
}

// NewRequester starts a request from account (shown as name) to the
// account responder, met at point.
func NewRequester(account *keys.Pair, name string, responder keys.Public, point [32]byte, rand io.Reader) (*Requester, error) {
	if len(name) > MaxName || !utf8.ValidString(name) {
		return nil, fmt.Errorf("handshake: own name must be UTF-8 of at most %d bytes", MaxName)
	}
	rx, err := responder.X25519()
	if err != nil {
		return nil, err
	}
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   suite,
		Random:        rand,
		Pattern:       noise.HandshakeXX,
		Initiator:     true,
		Prologue:      prologue(ProtocolContact, point[:]),
		StaticKeypair: dhKey(account.X25519()),
	})
	if err != nil {
		return nil, err
	}
	return &Requester{hs: hs, card: Card{Account: account.Public(), Name: name}, responder: rx.Bytes()}, nil
}

// Hello returns the first message.
func (r *Requester) Hello() (_ []byte, err error) {
	if err := r.step.next(0, "Hello"); err != nil {
		return nil, err
	}
	defer r.step.check(&err)
	msg, _, _, err := r.hs.WriteMessage(nil, nil)
	return msg, err
}

// Answer reads the responder's reply, checks that it comes from the
// account of the link, and returns the message carrying the card.
func (r *Requester) Answer(msg2 []byte) (_ []byte, err error) {
	if err := r.step.next(1, "Answer"); err != nil {
		return nil, err
	}
	defer r.step.check(&err)
	if err := checkSize(msg2); err != nil {
		return nil, err
	}
	payload, _, _, err := r.hs.ReadMessage(nil, msg2)
	if err != nil {
		return nil, fail("reply: %v", err)
	}
	if len(payload) != 0 {
		return nil, fail("reply carries %d unexpected bytes", len(payload))
	}
	if subtle.ConstantTimeCompare(r.hs.PeerStatic(), r.responder) != 1 {
		return nil, fail("the responder is not the account of the link")
	}
	msg3, send, recv, err := r.hs.WriteMessage(nil, r.card.encode())
	if err != nil {
		return nil, err
	}
	_ = send // the requester sends nothing after its card
	r.recv = recv
	return msg3, nil
}

// Done reads the responder's status.
func (r *Requester) Done(msg4 []byte) (_ Status, err error) {
	if err := r.step.next(2, "Done"); err != nil {
		return 0, err
	}
	defer r.step.check(&err)
	if err := checkSize(msg4); err != nil {
		return 0, err
	}
	pt, err := r.recv.Decrypt(nil, nil, msg4)
	if err != nil {
		return 0, fail("status: %v", err)
	}
	if len(pt) != 1 || (Status(pt[0]) != StatusReceived && Status(pt[0]) != StatusBusy) {
		return 0, fail("unknown status (%d bytes)", len(pt))
	}
	return Status(pt[0]), nil
}

// Responder is the responder's side of a contact request.
type Responder struct {
	hs   *noise.HandshakeState
	send *noise.CipherState
	step step
}

// NewResponder answers a request that arrived at point, as account.
func NewResponder(account *keys.Pair, point [32]byte, rand io.Reader) (*Responder, error) {
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   suite,
		Random:        rand,
		Pattern:       noise.HandshakeXX,
		Initiator:     false,
		Prologue:      prologue(ProtocolContact, point[:]),
		StaticKeypair: dhKey(account.X25519()),
	})
	if err != nil {
		return nil, err
	}
	return &Responder{hs: hs}, nil
}

// Reply reads the first message and returns the second.
func (r *Responder) Reply(msg1 []byte) (_ []byte, err error) {
	if err := r.step.next(0, "Reply"); err != nil {
		return nil, err
	}
	defer r.step.check(&err)
	if err := checkSize(msg1); err != nil {
		return nil, err
	}
	payload, _, _, err := r.hs.ReadMessage(nil, msg1)
	if err != nil {
		return nil, fail("hello: %v", err)
	}
	if len(payload) != 0 {
		return nil, fail("hello carries %d unexpected bytes", len(payload))
	}
	msg2, _, _, err := r.hs.WriteMessage(nil, nil)
	if err != nil {
		// msg1's ephemeral key is a low-order point (ee is all zeros).
		return nil, fail("hello: %v", err)
	}
	return msg2, nil
}

// Card reads the third message and returns the requester's card, whose
// account key the handshake has authenticated: the requester holds the
// secret of the X25519 key the card's Ed25519 key maps to. That map ignores
// the sign of the point, so the holder of account A could also present −A —
// an account nobody else holds, which is no more than making a new account
// (docs/protocol.md §11.5).
func (r *Responder) Card(msg3 []byte) (_ *Card, err error) {
	if err := r.step.next(1, "Card"); err != nil {
		return nil, err
	}
	defer r.step.check(&err)
	if err := checkSize(msg3); err != nil {
		return nil, err
	}
	payload, recv, send, err := r.hs.ReadMessage(nil, msg3)
	if err != nil {
		return nil, fail("card message: %v", err)
	}
	_ = recv
	c, err := decodeCard(payload)
	if err != nil {
		return nil, err
	}
	x, err := c.Account.X25519()
	if err != nil {
		return nil, fail("card account: %v", err)
	}
	if !bytes.Equal(x.Bytes(), r.hs.PeerStatic()) {
		return nil, fail("the card's account is not the key that made the handshake")
	}
	r.send = send
	return c, nil
}

// Status returns the last message, carrying s.
func (r *Responder) Status(s Status) (_ []byte, err error) {
	if s != StatusReceived && s != StatusBusy {
		return nil, fmt.Errorf("handshake: unknown status %d", s)
	}
	if err := r.step.next(2, "Status"); err != nil {
		return nil, err
	}
	defer r.step.check(&err)
	return r.send.Encrypt(nil, nil, []byte{byte(s)})
}
