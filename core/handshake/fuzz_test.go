package handshake_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/berty-go/berty/core/handshake"
)

// The fuzz targets play the side that reads what a stranger sends: the
// contact responder (anyone who knows a rendezvous point can reach it) and
// the new device (anyone near it can send to it). Their seeds include the
// messages of a successful run, which a side with the same randomness
// accepts, so the success path is part of every plain `go test`.

// FuzzResponder feeds a responder an arbitrary msg1 and msg3. Nothing may
// panic; failures wrap ErrHandshake and return nothing; a card that is
// accepted is one whose account makes the handshake's static key, that
// re-encodes to a payload that decodes to it again, and to which the
// responder can answer.
func FuzzResponder(f *testing.F) {
	c := newContact()
	r := c.run(f, handshake.StatusReceived)
	f.Add(r.msg1, r.msg3)
	f.Add(r.msg1, r.msg3[:len(r.msg3)-1])
	f.Add(r.msg1, append(bytes.Clone(r.msg3), 0))
	f.Add(r.msg1, []byte{})
	f.Add(r.msg1[:31], r.msg3)
	f.Add(append(bytes.Clone(r.msg1), 0), r.msg3)
	f.Add(make([]byte, 32), r.msg3) // a low-order ephemeral key
	f.Add(bytes.Repeat([]byte{0xff}, 32), r.msg3)
	f.Add(r.msg1, make([]byte, handshake.MaxMessage+1))
	f.Fuzz(func(t *testing.T, msg1, msg3 []byte) {
		resp := c.newResponder(t)
		msg2, err := resp.Reply(msg1)
		if err != nil {
			if !errors.Is(err, handshake.ErrHandshake) || msg2 != nil {
				t.Fatalf("Reply: %x, %v; want only an error wrapping ErrHandshake", msg2, err)
			}
			return
		}
		card, err := resp.Card(msg3)
		if err != nil {
			if !errors.Is(err, handshake.ErrHandshake) || card != nil {
				t.Fatalf("Card: %v, %v; want only an error wrapping ErrHandshake", card, err)
			}
			return
		}
		if _, err := card.Account.X25519(); err != nil {
			t.Fatalf("accepted a card whose account is not a key: %v", err)
		}
		back, err := handshake.DecodeCard(handshake.EncodeCard(card))
		if err != nil || *back != *card {
			t.Fatalf("the accepted card %v %q re-encodes to %v, %v", card.Account, card.Name, back, err)
		}
		if _, err := resp.Status(handshake.StatusBusy); err != nil {
			t.Fatalf("Status after an accepted card: %v", err)
		}
	})
}

// FuzzJoiner feeds a new device an arbitrary msg1 and msg3. Nothing may
// panic; failures wrap ErrHandshake and return nothing; a grant that is
// accepted re-encodes to a payload that decodes to it again, and the device
// can acknowledge it.
func FuzzJoiner(f *testing.F) {
	l := newLink(f)
	r := l.run(f)
	f.Add(r.msg1, r.msg3)
	f.Add(r.msg1, r.msg3[:len(r.msg3)-1])
	f.Add(r.msg1, append(bytes.Clone(r.msg3), 0))
	f.Add(r.msg1, []byte{})
	f.Add(r.msg1[:len(r.msg1)-1], r.msg3)
	f.Add(append(bytes.Clone(r.msg1), 0), r.msg3)
	f.Add(make([]byte, len(r.msg1)), r.msg3) // a low-order ephemeral key
	f.Add(r.msg1, make([]byte, handshake.MaxMessage+1))
	f.Fuzz(func(t *testing.T, msg1, msg3 []byte) {
		j := l.newJoiner(t)
		msg2, err := j.Reply(msg1, joinerDevice)
		if err != nil {
			if !errors.Is(err, handshake.ErrHandshake) || msg2 != nil {
				t.Fatalf("Reply: %x, %v; want only an error wrapping ErrHandshake", msg2, err)
			}
			return
		}
		g, err := j.Receive(msg3)
		if err != nil {
			if !errors.Is(err, handshake.ErrHandshake) || g != nil {
				t.Fatalf("Receive: %v, %v; want only an error wrapping ErrHandshake", g, err)
			}
			return
		}
		back, err := handshake.DecodeGrant(handshake.EncodeGrant(g))
		if err != nil || *back != *g {
			t.Fatalf("the accepted grant does not re-encode to itself (%v)", err)
		}
		if _, err := j.Ack(); err != nil {
			t.Fatalf("Ack after an accepted grant: %v", err)
		}
	})
}

// FuzzApprover feeds an approver an arbitrary reply (msg2): someone who
// holds the link's secret may answer in the new device's place. Nothing may
// panic; a refused reply wraps ErrHandshake and gives no grant, and an
// accepted one names a 32-byte device.
func FuzzApprover(f *testing.F) {
	l := newLink(f)
	r := l.run(f)
	f.Add(r.msg2)
	f.Add(r.msg2[:len(r.msg2)-1])
	f.Add(append(bytes.Clone(r.msg2), 0))
	f.Add([]byte{})
	f.Add(make([]byte, handshake.MaxMessage+1))
	f.Fuzz(func(t *testing.T, msg2 []byte) {
		a := l.newApprover(t)
		if _, err := a.Hello(); err != nil {
			t.Fatal(err)
		}
		msg3, err := a.Grant(msg2, &l.grant)
		if err != nil {
			if !errors.Is(err, handshake.ErrHandshake) || msg3 != nil {
				t.Fatalf("Grant: %x, %v; want only an error wrapping ErrHandshake", msg3, err)
			}
			return
		}
		if len(msg3) == 0 {
			t.Fatal("Grant accepted a reply and returned nothing")
		}
	})
}
