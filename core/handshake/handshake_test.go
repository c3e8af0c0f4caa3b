package handshake_test

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/handshake"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/internal/kat"
)

// The tests drive both sides of each handshake in one process. Every key and
// every byte of randomness comes from kat.Seq and kat.NewRand, so a run is
// reproducible: a side re-created from the same inputs makes the same
// ephemeral keys, and a message recorded from one run is valid for it. The
// adversarial tests rely on that to put a fresh side at any step and feed it
// a modified message.

// contact is the inputs of one contact request.
type contact struct {
	requester, responder *keys.Pair
	name                 string
	// link is the responder account the requester's contact link holds.
	link keys.Public
	// The rendezvous point each side uses.
	requesterPoint, responderPoint [32]byte
	// Seeds of each side's kat.NewRand.
	requesterRand, responderRand []byte
}

func newContact() contact {
	responder := keys.FromSeed([32]byte(kat.Seq(0x21, 32)))
	point := [32]byte(kat.Seq(0x61, 32))
	return contact{
		requester:      keys.FromSeed([32]byte(kat.Seq(0x01, 32))),
		responder:      responder,
		name:           "Alice",
		link:           responder.Public(),
		requesterPoint: point,
		responderPoint: point,
		requesterRand:  []byte("requester"),
		responderRand:  []byte("responder"),
	}
}

func (c contact) newRequester(t testing.TB) *handshake.Requester {
	t.Helper()
	r, err := handshake.NewRequester(c.requester, c.name, c.link, c.requesterPoint, kat.NewRand(c.requesterRand))
	if err != nil {
		t.Fatalf("NewRequester: %v", err)
	}
	return r
}

func (c contact) newResponder(t testing.TB) *handshake.Responder {
	t.Helper()
	r, err := handshake.NewResponder(c.responder, c.responderPoint, kat.NewRand(c.responderRand))
	if err != nil {
		t.Fatalf("NewResponder: %v", err)
	}
	return r
}

// contactRun is what one successful contact request produced.
type contactRun struct {
	msg1, msg2, msg3, msg4 []byte
	card                   *handshake.Card
	status                 handshake.Status
}

// run makes a whole contact request answered with s, failing t on any error.
func (c contact) run(t testing.TB, s handshake.Status) contactRun {
	t.Helper()
	req, resp := c.newRequester(t), c.newResponder(t)
	var r contactRun
	var err error
	if r.msg1, err = req.Hello(); err != nil {
		t.Fatalf("Hello: %v", err)
	}
	if r.msg2, err = resp.Reply(r.msg1); err != nil {
		t.Fatalf("Reply: %v", err)
	}
	if r.msg3, err = req.Answer(r.msg2); err != nil {
		t.Fatalf("Answer: %v", err)
	}
	if r.card, err = resp.Card(r.msg3); err != nil {
		t.Fatalf("Card: %v", err)
	}
	if r.msg4, err = resp.Status(s); err != nil {
		t.Fatalf("Status: %v", err)
	}
	if r.status, err = req.Done(r.msg4); err != nil {
		t.Fatalf("Done: %v", err)
	}
	return r
}

// requesterAt returns a fresh requester of c that has made its first n calls
// with the messages of r.
func (c contact) requesterAt(t testing.TB, n int, r contactRun) *handshake.Requester {
	t.Helper()
	req := c.newRequester(t)
	if n > 0 {
		if _, err := req.Hello(); err != nil {
			t.Fatalf("Hello: %v", err)
		}
	}
	if n > 1 {
		if _, err := req.Answer(r.msg2); err != nil {
			t.Fatalf("Answer: %v", err)
		}
	}
	return req
}

// responderAt returns a fresh responder of c that has made its first n calls
// with the messages of r.
func (c contact) responderAt(t testing.TB, n int, r contactRun) *handshake.Responder {
	t.Helper()
	resp := c.newResponder(t)
	if n > 0 {
		if _, err := resp.Reply(r.msg1); err != nil {
			t.Fatalf("Reply: %v", err)
		}
	}
	if n > 1 {
		if _, err := resp.Card(r.msg3); err != nil {
			t.Fatalf("Card: %v", err)
		}
	}
	return resp
}

// link is the inputs of one device link.
type link struct {
	// joinerKey is the one-time private key the new device holds;
	// approverKey the one-time public key the approver read from the link.
	joinerKey   *ecdh.PrivateKey
	approverKey [32]byte
	// The one-time secret on each side.
	joinerSecret, approverSecret [32]byte
	grant                        handshake.Grant
	// Seeds of each side's kat.NewRand.
	approverRand, joinerRand []byte
}

// oneTimeKey returns the X25519 key with the private bytes b.
func oneTimeKey(t testing.TB, b []byte) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newLink(t testing.TB) link {
	key := oneTimeKey(t, kat.Seq(0x81, 32))
	secret := [32]byte(kat.Seq(0xa1, 32))
	return link{
		joinerKey:      key,
		approverKey:    [32]byte(key.PublicKey().Bytes()),
		joinerSecret:   secret,
		approverSecret: secret,
		grant:          handshake.Grant{AccountSeed: [32]byte(kat.Seq(0xc1, 32)), Name: "Alice"},
		approverRand:   []byte("approver"),
		joinerRand:     []byte("joiner"),
	}
}

func (l link) newApprover(t testing.TB) *handshake.Approver {
	t.Helper()
	a, err := handshake.NewApprover(l.approverKey, l.approverSecret, kat.NewRand(l.approverRand))
	if err != nil {
		t.Fatalf("NewApprover: %v", err)
	}
	return a
}

func (l link) newJoiner(t testing.TB) *handshake.Joiner {
	t.Helper()
	j, err := handshake.NewJoiner(l.joinerKey, l.joinerSecret, kat.NewRand(l.joinerRand))
	if err != nil {
		t.Fatalf("NewJoiner: %v", err)
	}
	return j
}

// linkRun is what one successful device link produced.
type linkRun struct {
	msg1, msg2, msg3, msg4 []byte
	grant                  *handshake.Grant
}

// run makes a whole device link, failing t on any error.
func (l link) run(t testing.TB) linkRun {
	t.Helper()
	a, j := l.newApprover(t), l.newJoiner(t)
	var r linkRun
	var err error
	if r.msg1, err = a.Hello(); err != nil {
		t.Fatalf("Hello: %v", err)
	}
	if r.msg2, err = j.Reply(r.msg1, joinerDevice); err != nil {
		t.Fatalf("Reply: %v", err)
	}
	g := l.grant
	if r.msg3, err = a.Grant(r.msg2, &g); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if a.Device() != joinerDevice {
		t.Fatalf("the approver read the new device's key as %v, want %v", a.Device(), joinerDevice)
	}
	if r.grant, err = j.Receive(r.msg3); err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if r.msg4, err = j.Ack(); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := a.Done(r.msg4); err != nil {
		t.Fatalf("Done: %v", err)
	}
	return r
}

// approverAt returns a fresh approver of l that has made its first n calls
// with the messages of r.
func (l link) approverAt(t testing.TB, n int, r linkRun) *handshake.Approver {
	t.Helper()
	a := l.newApprover(t)
	if n > 0 {
		if _, err := a.Hello(); err != nil {
			t.Fatalf("Hello: %v", err)
		}
	}
	if n > 1 {
		g := l.grant
		if _, err := a.Grant(r.msg2, &g); err != nil {
			t.Fatalf("Grant: %v", err)
		}
	}
	return a
}

// joinerAt returns a fresh joiner of l that has made its first n calls with
// the messages of r.
func (l link) joinerAt(t testing.TB, n int, r linkRun) *handshake.Joiner {
	t.Helper()
	j := l.newJoiner(t)
	if n > 0 {
		if _, err := j.Reply(r.msg1, joinerDevice); err != nil {
			t.Fatalf("Reply: %v", err)
		}
	}
	if n > 1 {
		if _, err := j.Receive(r.msg3); err != nil {
			t.Fatalf("Receive: %v", err)
		}
	}
	return j
}

// wantHandshakeError fails t unless err wraps handshake.ErrHandshake.
func wantHandshakeError(t testing.TB, what string, err error) {
	t.Helper()
	if !errors.Is(err, handshake.ErrHandshake) {
		t.Errorf("%s: error %v, want one wrapping ErrHandshake", what, err)
	}
}

func TestContactRoundTrip(t *testing.T) {
	for _, name := range []string{"Alice", "", "Zoé 🐢 Ω", strings.Repeat("n", handshake.MaxName)} {
		for _, s := range []handshake.Status{handshake.StatusReceived, handshake.StatusBusy} {
			t.Run(fmt.Sprintf("%s/%q", s, name), func(t *testing.T) {
				c := newContact()
				c.name = name
				r := c.run(t, s)
				if r.card.Account != c.requester.Public() {
					t.Errorf("card account %v, want the requester's %v", r.card.Account, c.requester.Public())
				}
				if r.card.Name != name {
					t.Errorf("card name %q, want %q", r.card.Name, name)
				}
				if r.status != s {
					t.Errorf("requester got status %v, responder sent %v", r.status, s)
				}
				for i, m := range [][]byte{r.msg1, r.msg2, r.msg3, r.msg4} {
					if len(m) > handshake.MaxMessage {
						t.Errorf("msg%d is %d bytes, above MaxMessage", i+1, len(m))
					}
				}
			})
		}
	}
}

func TestLinkRoundTrip(t *testing.T) {
	for _, name := range []string{"Alice", "", "Zoé 🐢 Ω", strings.Repeat("n", handshake.MaxName)} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			l := newLink(t)
			l.grant.Name = name
			r := l.run(t) // run fails unless the approver's Done accepts the ack
			if *r.grant != l.grant {
				t.Errorf("joiner received a grant named %q, approver sent one named %q (or the seeds differ)", r.grant.Name, l.grant.Name)
			}
			for i, m := range [][]byte{r.msg1, r.msg2, r.msg3, r.msg4} {
				if len(m) > handshake.MaxMessage {
					t.Errorf("msg%d is %d bytes, above MaxMessage", i+1, len(m))
				}
			}
		})
	}
}

// TestUserInputRefused checks the inputs that come from the local user, not
// the peer: an own name or account name that is too long or not UTF-8, and a
// contact link whose key is not a point.
func TestUserInputRefused(t *testing.T) {
	c := newContact()
	for _, name := range []string{strings.Repeat("n", handshake.MaxName+1), "\xff"} {
		if r, err := handshake.NewRequester(c.requester, name, c.link, c.requesterPoint, kat.NewRand(nil)); err == nil || r != nil {
			t.Errorf("NewRequester with name %q: %v, %v; want an error", name, r, err)
		}
		l := newLink(t)
		lr := l.run(t)
		g := handshake.Grant{Name: name}
		if msg3, err := l.approverAt(t, 1, lr).Grant(lr.msg2, &g); err == nil || msg3 != nil {
			t.Errorf("Grant with name %q: %x, %v; want an error", name, msg3, err)
		}
	}
	var notAPoint keys.Public
	notAPoint[0] = 2 // y = 2 is not the y of a point of edwards25519
	if r, err := handshake.NewRequester(c.requester, c.name, notAPoint, c.requesterPoint, kat.NewRand(nil)); err == nil || r != nil {
		t.Errorf("NewRequester with a link key that is not a point: %v, %v; want an error", r, err)
	}
}

// TestLowOrderLinkKey checks that a device link whose one-time key is a
// low-order point (all-zero shared secrets) goes no further than Hello.
func TestLowOrderLinkKey(t *testing.T) {
	l := newLink(t)
	l.approverKey = [32]byte{} // u = 0
	a, err := handshake.NewApprover(l.approverKey, l.approverSecret, kat.NewRand(nil))
	if err != nil {
		return // refused up front: as good
	}
	if msg1, err := a.Hello(); err == nil || msg1 != nil {
		t.Errorf("Hello to a low-order one-time key: %x, %v; want an error", msg1, err)
	}
}

// joinerDevice is the new device's own key in the device-link tests.
var joinerDevice = keys.Public{0x42, 0x43}
