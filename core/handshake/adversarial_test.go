package handshake_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/berty-go/berty/core/handshake"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/internal/kat"
)

// Tests of what an attacker can send: each asserts that the handshake fails
// with ErrHandshake and that the side that refused returned nothing, in
// particular no card, no grant and no message carrying one.

// TestAnswerRefusesAnotherAccount: a requester whose link names one account
// but who reaches another (a wrong or forged rendezvous, or an impostor at
// the point) learns the impostor's key and sends nothing more: its card is
// not sent.
func TestAnswerRefusesAnotherAccount(t *testing.T) {
	c := newContact()
	c.link = keys.FromSeed([32]byte(kat.Seq(0x41, 32))).Public()
	req, resp := c.newRequester(t), c.newResponder(t)
	msg1, err := req.Hello()
	if err != nil {
		t.Fatal(err)
	}
	msg2, err := resp.Reply(msg1)
	if err != nil {
		t.Fatal(err)
	}
	msg3, err := req.Answer(msg2)
	wantHandshakeError(t, "Answer from an account other than the link's", err)
	if msg3 != nil {
		t.Errorf("Answer from an account other than the link's returned the card message %x", msg3)
	}
}

// TestPrologueMismatch: the prologue binds the rendezvous point, so two sides
// that met at different points (a request replayed from another point, or a
// mix-up of links) fail at the first authenticated message, msg2. XX's msg1
// is a bare ephemeral key, which the responder cannot check.
func TestPrologueMismatch(t *testing.T) {
	other := [32]byte(kat.Seq(0xe1, 32))
	for _, side := range []string{"requester", "responder"} {
		t.Run(side, func(t *testing.T) {
			c := newContact()
			if side == "requester" {
				c.requesterPoint = other
			} else {
				c.responderPoint = other
			}
			req, resp := c.newRequester(t), c.newResponder(t)
			msg1, err := req.Hello()
			if err != nil {
				t.Fatal(err)
			}
			msg2, err := resp.Reply(msg1)
			if err != nil {
				t.Fatal(err)
			}
			msg3, err := req.Answer(msg2)
			wantHandshakeError(t, "Answer across two points", err)
			if msg3 != nil {
				t.Errorf("Answer across two points returned the card message %x", msg3)
			}
		})
	}
}

// TestReplayedContactRequest replays a recorded request (msg1, then msg3) to
// a fresh responder. It must fail at Card: msg3 encrypts the requester's
// static key and card under keys that mix the responder's ephemeral key
// (ee, then se), and a fresh responder has a fresh ephemeral. This is why the
// contact request is XX and not IK: in IK the first message already carries
// the requester's static key and payload, encrypted to the responder's
// static key alone, so a recording of it would re-create a request the user
// had discarded.
func TestReplayedContactRequest(t *testing.T) {
	c := newContact()
	rec := c.run(t, handshake.StatusReceived)

	later := c
	later.responderRand = []byte("responder, later")
	resp := later.newResponder(t)
	msg2, err := resp.Reply(rec.msg1)
	if err != nil {
		t.Fatalf("Reply to a replayed msg1: %v", err)
	}
	if bytes.Equal(msg2, rec.msg2) {
		t.Fatal("a fresh responder answered with the recorded msg2: its randomness is not fresh")
	}
	card, err := resp.Card(rec.msg3)
	wantHandshakeError(t, "Card of a replayed msg3", err)
	if card != nil {
		t.Errorf("Card of a replayed msg3 returned %v %q", card.Account, card.Name)
	}

	// Control: a responder that repeated its randomness would accept the
	// replay. This shows that the fresh ephemeral key is what defeats
	// it, and that the responder's randomness must never repeat.
	if card, err := c.responderAt(t, 1, rec).Card(rec.msg3); err != nil || card.Account != c.requester.Public() {
		t.Errorf("a responder with the recorded randomness refused the replay (%v): the test above proves nothing", err)
	}
}

// reader is one step that reads a message: feed gives msg to a fresh side
// that has made every call before the step, and reports whether the step
// returned anything besides its error.
type reader struct {
	name string
	msg  []byte
	feed func(t *testing.T, msg []byte) (returned bool, err error)
}

// readers returns every step of both handshakes that reads a message, with
// the message of a successful run.
func readers(t *testing.T) []reader {
	c := newContact()
	cr := c.run(t, handshake.StatusReceived)
	l := newLink(t)
	lr := l.run(t)
	return []reader{
		{"contact msg1 (Reply)", cr.msg1, func(t *testing.T, m []byte) (bool, error) {
			out, err := c.responderAt(t, 0, cr).Reply(m)
			return out != nil, err
		}},
		{"contact msg2 (Answer)", cr.msg2, func(t *testing.T, m []byte) (bool, error) {
			out, err := c.requesterAt(t, 1, cr).Answer(m)
			return out != nil, err
		}},
		{"contact msg3 (Card)", cr.msg3, func(t *testing.T, m []byte) (bool, error) {
			card, err := c.responderAt(t, 1, cr).Card(m)
			return card != nil, err
		}},
		{"contact msg4 (Done)", cr.msg4, func(t *testing.T, m []byte) (bool, error) {
			s, err := c.requesterAt(t, 2, cr).Done(m)
			return s != 0, err
		}},
		{"link msg1 (Reply)", lr.msg1, func(t *testing.T, m []byte) (bool, error) {
			out, err := l.joinerAt(t, 0, lr).Reply(m, joinerDevice)
			return out != nil, err
		}},
		{"link msg2 (Grant)", lr.msg2, func(t *testing.T, m []byte) (bool, error) {
			g := l.grant
			out, err := l.approverAt(t, 1, lr).Grant(m, &g)
			return out != nil, err
		}},
		{"link msg3 (Receive)", lr.msg3, func(t *testing.T, m []byte) (bool, error) {
			g, err := l.joinerAt(t, 1, lr).Receive(m)
			return g != nil, err
		}},
		{"link msg4 (Done)", lr.msg4, func(t *testing.T, m []byte) (bool, error) {
			return false, l.approverAt(t, 2, lr).Done(m)
		}},
	}
}

// wantRefused fails t unless feeding msg to r fails with ErrHandshake,
// returns nothing and does not panic.
func wantRefused(t *testing.T, r reader, what string, msg []byte) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s: %s panics: %v", r.name, what, p)
		}
	}()
	returned, err := r.feed(t, msg)
	wantHandshakeError(t, r.name+": "+what, err)
	if returned {
		t.Errorf("%s: %s returned a result besides its error", r.name, what)
	}
}

// TestReadersAcceptTheRun checks that each reader accepts the message of the
// run, so that the refusals below are due to the changes they make.
func TestReadersAcceptTheRun(t *testing.T) {
	for _, r := range readers(t) {
		if _, err := r.feed(t, r.msg); err != nil {
			t.Errorf("%s: %v", r.name, err)
		}
	}
}

// TestTruncatedMessages feeds every proper prefix of every message, and every
// message with one more byte.
func TestTruncatedMessages(t *testing.T) {
	for _, r := range readers(t) {
		t.Run(r.name, func(t *testing.T) {
			for n := range len(r.msg) {
				wantRefused(t, r, fmt.Sprintf("%d-byte prefix", n), r.msg[:n])
			}
			wantRefused(t, r, "one more byte", append(bytes.Clone(r.msg), 0))
		})
	}
}

// flip is the change TestTamperedMessages makes to each byte: its lowest and
// its highest bit. The highest bit of the last byte of an X25519 key is
// ignored by X25519 itself (RFC 7748 §5), so only the handshake hash can
// notice it.
const flip = 0x81

// TestTamperedMessages changes each byte of every authenticated message in
// turn. The contact request's msg1 is a bare ephemeral key, not
// authenticated by itself: a change there must make the requester's Answer
// fail, since both sides hash msg1 into every key that follows.
func TestTamperedMessages(t *testing.T) {
	rs := readers(t)
	for _, r := range rs[1:] {
		t.Run(r.name, func(t *testing.T) {
			for i := range r.msg {
				m := bytes.Clone(r.msg)
				m[i] ^= flip
				wantRefused(t, r, fmt.Sprintf("byte %d changed", i), m)
			}
		})
	}
	t.Run("contact msg1 (then Answer)", func(t *testing.T) {
		c := newContact()
		cr := c.run(t, handshake.StatusReceived)
		for i := range cr.msg1 {
			m := bytes.Clone(cr.msg1)
			m[i] ^= flip
			msg2, err := c.newResponder(t).Reply(m)
			if err != nil {
				wantHandshakeError(t, fmt.Sprintf("Reply to msg1 with byte %d changed", i), err)
				continue
			}
			msg3, err := c.requesterAt(t, 1, cr).Answer(msg2)
			wantHandshakeError(t, fmt.Sprintf("Answer after msg1 with byte %d changed", i), err)
			if msg3 != nil {
				t.Errorf("Answer after msg1 with byte %d changed returned the card message", i)
			}
		}
	})
}

// TestOversizedMessages feeds every reader a valid message padded to
// MaxMessage+1 bytes. card_internal_test.go checks that such a message is
// refused before it is parsed.
func TestOversizedMessages(t *testing.T) {
	for _, r := range readers(t) {
		m := make([]byte, handshake.MaxMessage+1)
		copy(m, r.msg)
		wantRefused(t, r, "MaxMessage+1 bytes", m)
	}
}

// TestLinkWrongSecret: an approver that does not know the link's secret (on
// either side) is refused by the new device at its first message, before the
// new device has said anything.
func TestLinkWrongSecret(t *testing.T) {
	for _, side := range []string{"approver", "joiner"} {
		t.Run(side, func(t *testing.T) {
			l := newLink(t)
			wrong := [32]byte(kat.Seq(0xe1, 32))
			if side == "approver" {
				l.approverSecret = wrong
			} else {
				l.joinerSecret = wrong
			}
			msg1, err := l.newApprover(t).Hello()
			if err != nil {
				t.Fatal(err)
			}
			msg2, err := l.newJoiner(t).Reply(msg1, joinerDevice)
			wantHandshakeError(t, "Reply to an approver with another secret", err)
			if msg2 != nil {
				t.Errorf("Reply to an approver with another secret returned %x", msg2)
			}
		})
	}
}

// TestLinkAnotherOneTimeKey: the approver encrypts to the one-time public key
// it read; a new device holding another private key cannot read msg1 (es
// differs) and so never gets the keys that decrypt the grant. Both ways: an
// approver that read another key (the secret right), and a device that
// photographed the link (key and secret) but holds its own private key.
func TestLinkAnotherOneTimeKey(t *testing.T) {
	other := oneTimeKey(t, kat.Seq(0xe1, 32))
	t.Run("approver", func(t *testing.T) {
		l := newLink(t)
		l.approverKey = [32]byte(other.PublicKey().Bytes())
		msg1, err := l.newApprover(t).Hello()
		if err != nil {
			t.Fatal(err)
		}
		msg2, err := l.newJoiner(t).Reply(msg1, joinerDevice)
		wantHandshakeError(t, "Reply to an approver that encrypted to another key", err)
		if msg2 != nil {
			t.Errorf("Reply to an approver that encrypted to another key returned %x", msg2)
		}
	})
	t.Run("joiner", func(t *testing.T) {
		l := newLink(t)
		rec := l.run(t)
		thief := l
		thief.joinerKey = other // knows the secret and the public key, not the private key
		j := thief.newJoiner(t)
		msg2, err := j.Reply(rec.msg1, joinerDevice)
		wantHandshakeError(t, "Reply without the one-time private key", err)
		if msg2 != nil {
			t.Errorf("Reply without the one-time private key returned %x", msg2)
		}
		g, err := j.Receive(rec.msg3)
		wantHandshakeError(t, "Receive of a recorded grant without the one-time private key", err)
		if g != nil {
			t.Error("a device without the one-time private key read the grant")
		}
	})
}

// TestDeviceLinkGrantNeedsMLKEM (§11.7): the grant carries the account seed.
// A joiner that holds every key of the Noise handshake — the link's secret,
// the one-time X25519 key, the transport keys: all that a recording gives
// someone who can break X25519 — but not the one-time ML-KEM-768 key cannot
// read it.
func TestDeviceLinkGrantNeedsMLKEM(t *testing.T) {
	l := newLink(t)
	a, j := l.newApprover(t), l.newJoiner(t)
	msg1, err := a.Hello()
	if err != nil {
		t.Fatal(err)
	}
	msg2, err := j.Reply(msg1, joinerDevice)
	if err != nil {
		t.Fatal(err)
	}
	g := l.grant
	msg3, err := a.Grant(msg2, &g)
	if err != nil {
		t.Fatal(err)
	}
	j.ForgetKEMForTest(kat.Seq(0x55, 64))
	if got, err := j.Receive(msg3); err == nil || got != nil {
		t.Fatalf("a joiner without the ML-KEM key reads the grant (%v)", got)
	}
	if bytes.Contains(msg3, g.AccountSeed[:]) || bytes.Contains(msg2, g.AccountSeed[:]) {
		t.Fatal("the account seed travels in clear")
	}
}
