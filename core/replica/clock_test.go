package replica

import (
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/state"
)

// TestAdversarialClockExhaustion: bob, a member, signs his next entry with a
// Lamport clock just under MaxLamport. Were it accepted, no replica could
// write anything after it — not a message, not bob's removal — and the
// group would be dead for good. The clock rule (§4.3) refuses it; alice and
// carol keep talking and remove bob.
func TestAdversarialClockExhaustion(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 41)
	last := c.send(bob, "hello")
	c.sync()

	_, dev := groupKeys(bob)
	u := unsignedOf(decode(t, c.entryOf(bob.r.DeviceKey(), last.Seq)))
	u.Seq, u.Prev, u.Deps = last.Seq+1, last.ID, nil
	for _, lamport := range []uint64{feed.MaxLamport - 1, last.Lamport + 2} {
		u.Lamport = lamport
		bad, err := feed.Sign(u, &c.g.Keys.Replication, dev)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []*peer{alice, carol} {
			expectRejected(t, c, p, bad.Encoded, feed.Refused, feed.ErrLamport)
		}
	}

	c.send(alice, "still alive")
	c.remove(alice, bob)
	c.tolerate = []error{feed.ErrCutOff}
	c.sync()
	if !carol.hasBody("still alive") {
		t.Error("carol did not get alice's message after the attack")
	}
	if m := carol.r.State().Member(bob.r.MemberKey()); m == nil || !m.Removed {
		t.Error("carol did not apply bob's removal after the attack")
	}
}

// TestAdversarialBackdating: bob has read alice's message and answers it,
// but sets his entry's clock below hers so that it sorts before her message
// in everyone's conversation (§4.3). The entry names alice's entry as a
// dependency, so its clock must exceed hers: it is refused. Leaving the
// dependency out is the only way to sort earlier, and then the entry sorts
// after bob's own previous entry at the earliest: bob cannot insert text
// before anything he had already answered.
func TestAdversarialBackdating(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 42)
	c.send(alice, "a1")
	c.sync()
	for range 5 {
		c.send(alice, "alice talks on")
	}
	c.sync()
	hers := c.send(alice, "question")
	c.sync()

	_, dev := groupKeys(bob)
	self := bob.r.DeviceKey()
	h := bob.r.tracker.Head(self)
	u := unsignedOf(decode(t, c.entryOf(self, h.Seq)))
	u.Seq, u.Prev = h.Seq+1, h.ID
	u.Deps = []feed.Dep{{Device: alice.r.DeviceKey(), Seq: hers.Seq}}
	u.Lamport = h.Lamport + 1
	if u.Lamport >= hers.Lamport {
		t.Fatalf("setup: bob's clock %d already past alice's %d", u.Lamport, hers.Lamport)
	}
	bad, err := feed.Sign(u, &c.g.Keys.Replication, dev)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*peer{alice, carol} {
		expectRejected(t, c, p, bad.Encoded, feed.Refused, feed.ErrLamport)
	}
	// Without the dependency, the clock is 1 + bob's previous entry's:
	// anything else is refused.
	u.Deps = nil
	u.Lamport = h.Lamport
	bad, err = feed.Sign(u, &c.g.Keys.Replication, dev)
	if err != nil {
		t.Fatal(err)
	}
	expectRejected(t, c, carol, bad.Encoded, feed.Refused, feed.ErrLamport)
}

// TestAdversarialSmallOrderDeviceKey: mallory joins with a real invitation,
// but her certificate names an X25519 key of small order. Every seal to such
// a key fails, so had her announce counted, every later rekey — the one that
// follows a removal above all — would fail for the whole group. The
// announce is refused at ingest (§3.2); the group removes carol and goes on.
func TestAdversarialSmallOrderDeviceKey(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 43)
	inv, err := alice.r.Invite(alice.lk)
	if err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	mallory := c.newPeer("mallory", inv.Group(), nil)
	member, dev := groupKeys(mallory)
	ik := keys.FromSeed(inv.InviteSeed)
	a := &state.Announce{Proof: state.ProofInvitation, Inviter: inv.Inviter, InviteKey: ik.Public(), InviterSig: inv.InviterSig}
	copy(a.JoinSig[:], ik.Sign(state.JoinSigned(c.g.ID, member.Public())))
	a.Cert = keys.NewCert(c.g.ID, member, dev, dev.LegacyAgreement().PublicKey())
	a.Cert.DeviceX = [32]byte{1} // u = 1, a point of order 4
	copy(a.Cert.Sig[:], member.Sign(keys.SignContext("berty/v1/device-cert", c.g.ID[:], a.Cert.Member[:], a.Cert.Device[:], a.Cert.DeviceX[:])))
	e, err := mallory.r.postMetadata(&state.Event{Announce: a}, inv.InviterLamport+1,
		[]feed.Dep{{Device: inv.InviterDevice, Seq: inv.InviterSeq}})
	if err != nil {
		t.Fatal(err)
	}
	c.peers = c.peers[:len(c.peers)-1] // mallory's entries go out by hand
	for _, p := range []*peer{alice, bob} {
		expectRejected(t, c, p, e.WithSignature(dev).Encoded, feed.Refused, ErrBadAnnounce)
	}
	c.remove(alice, carol)
	c.tolerate = []error{feed.ErrCutOff}
	c.send(alice, "after the removal")
	c.sync()
	if !bob.hasBody("after the removal") {
		t.Error("bob cannot read the group after a removal: the rekey failed")
	}
}
