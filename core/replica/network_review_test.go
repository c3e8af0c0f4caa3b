package replica

// Regression tests for what the attacker review of network keys per epoch
// and sync v3 (docs/protocol.md §3.4, §10.2) found: each failed before its
// fix.

import (
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/state"
)

// TestReviewBogusRemovalExtendsCut: CutAt takes the latest clock of ANY
// removal op naming the member, counting or not. A removed member, under a
// fresh identity that holds only epoch 0's keys (a member proof for a
// made-up member key: stored, never counts), writes "member removed
// {her real member key}" in epoch 0 with a clock pushed 2^20 ahead (a dep
// on her own cut device is unchecked, §4.2). Members then serve her real,
// cut device everything up to that clock: every entry written after her
// removal.
func TestReviewBogusRemovalExtendsCut(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 4242)
	carolDev := carol.r.DeviceKey()
	c.tolerate = []error{feed.ErrCutOff}
	c.send(carol, "carol before")
	c.sync()
	c.remove(alice, carol)
	c.sync(alice, bob)
	real := alice.r.CutAt(carolDev)
	if real == 0 || alice.r.Peer(carolDev) != PeerCut {
		t.Fatalf("premise: carol not cut on alice (until %d)", real)
	}
	m := c.send(alice, "written after the removal")
	c.sync(alice, bob)
	after := decode(t, c.entryOf(alice.r.DeviceKey(), m.Seq))
	if after.Lamport <= real {
		t.Fatalf("premise: the message after the removal sorts at %d <= the removal %d", after.Lamport, real)
	}

	// Carol's fresh identity: the group secret only (epoch 0), a made-up
	// member key and device key.
	mal := newMallory(c)
	mal.mute = true
	ann := forceAnnounce(t, c, mal, &state.Announce{Proof: state.ProofMember})
	rm, err := mal.r.postMetadata(&state.Event{Removed: &state.MemberRemoved{Member: carol.r.MemberKey()}}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.flush(mal)
	annE := decode(t, ann)
	_, malDev := groupKeys(mal)
	u := unsignedOf(rm)
	u.Prev = annE.ID
	u.Lamport = annE.Lamport + feed.UnknownDepSlack
	u.Deps = []feed.Dep{{Device: carolDev, Seq: 1 << 20}} // carol's device is cut: unchecked
	bogus := encodeUnchecked(u, &c.g.Keys.Replication, malDev)

	for _, raw := range [][]byte{ann, bogus} {
		out, err := alice.r.Receive(raw, alice.lk)
		t.Logf("alice receives mallory's entry: outcome %d, err %v", out, err)
		c.flush(alice)
	}
	if alice.r.State().Device(mal.r.DeviceKey()) != nil {
		t.Fatal("premise: mallory counts")
	}
	got := alice.r.CutAt(carolDev)
	t.Logf("carol's real removal at clock %d; alice's message after it at %d; CutAt now %d", real, after.Lamport, got)
	if alice.r.Peer(carolDev) == PeerCut && got >= after.Lamport {
		t.Errorf("a non-counting removal op lifted carol's sync limit from %d to %d: alice now serves her cut device the message written after the removal (clock %d)", real, got, after.Lamport)
	}
}

// TestReviewRevokedDeviceMintsPendingDevice: a revoked device keeps the
// account secret, so it certifies a fresh device key for its member and
// announces it (member proof; owner proof in an account group). Nobody
// approves it, but Replica.Peer counts a pending device as PeerMember: it
// is served the whole group, everything after the revocation included.
func TestReviewRevokedDeviceMintsPendingDevice(t *testing.T) {
	for _, kind := range []group.Kind{group.KindMulti, group.KindAccount} {
		f := newRevokeFixture(t, kind, 777+uint64(kind))
		c := f.c
		f.revoke(f.d1, f.d2)
		c.tolerate = []error{feed.ErrCutOff}
		c.sync()
		if f.d1.r.Peer(f.d2.r.DeviceKey()) != PeerCut {
			t.Fatal("premise: d2 not cut")
		}
		g := *f.d2.cfg.Group
		g.IDSeed = nil
		thief := c.newPeer("thief's new device", &g, f.aliceAcct)
		c.peers = c.peers[:len(c.peers)-1]
		thief.mute = true
		c.sync(thief) // it syncs first, so that its announce sorts after the member's first device's (no backdating)
		proof := state.ProofMember
		if kind != group.KindMulti {
			proof = state.ProofOwner
		}
		ann := forceAnnounce(t, c, thief, &state.Announce{Proof: proof})
		out, err := f.d1.r.Receive(ann, f.d1.lk)
		c.flush(f.d1)
		st := f.d1.r.Peer(thief.r.DeviceKey())
		t.Logf("kind %d: announce outcome %d err %v; Peer = %d, counts = %v, pending = %v", kind, out, err, st,
			f.d1.r.State().Device(thief.r.DeviceKey()) != nil, f.d1.r.State().Pending(thief.r.DeviceKey()))
		if st == PeerMember {
			t.Errorf("(kind %d) the revoked device's freshly minted, unapproved device is PeerMember: served the whole group", kind)
		}
	}
}

// TestReviewRemovedMemberKeepsAwaitedDevice: while still a member, carol
// approves a spare device key X she made and never announces it. After her
// removal the approval stays in the state (approved is cleared only by an
// announce), X claims no one so it is not cut, and Replica.Peer counts an
// awaited device as PeerMember: X is served the whole group, everything
// after her removal included, for ever.
func TestReviewRemovedMemberKeepsAwaitedDevice(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 4343)
	c.tolerate = []error{feed.ErrCutOff}
	spare := c.newKey()
	if err := carol.r.ApproveDevice(spare.Public(), carol.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(carol)
	c.sync()
	c.remove(alice, carol)
	c.sync(alice, bob)
	if alice.r.Peer(carol.r.DeviceKey()) != PeerCut {
		t.Fatal("premise: carol's device not cut")
	}
	if st := alice.r.Peer(spare.Public()); st == PeerMember {
		t.Errorf("removed carol's pre-approved spare device key is PeerMember (awaited %v): served everything after her removal",
			alice.r.State().Awaited(spare.Public()))
	}
}

// TestReviewConcurrentRemovalsFallBackToEpochZero: two admins remove two
// members concurrently. Each remover's new epoch went to the member the
// other removed, so both are tainted once the removals merge; nothing makes
// a fresh one (chain keys are sealed in epoch 0), so the remaining members
// have no current epoch and publish on epoch 0's network — where both
// removed members still listen: gossip hands them everything written after
// their removal.
func TestReviewConcurrentRemovalsFallBackToEpochZero(t *testing.T) {
	c, alice, bob, carol, dave := twoAdmins(t, 4444)
	c.tolerate = []error{feed.ErrCutOff}
	c.remove(alice, carol) // concurrently:
	c.remove(bob, dave)
	c.sync(alice, bob)
	c.send(alice, "after both removals")
	c.sync(alice, bob)
	for _, p := range []*peer{alice, bob} {
		nets := p.r.Networks()
		t.Logf("%s: %d networks; carol removed %v, dave removed %v", p.name, len(nets),
			p.r.State().Member(carol.r.MemberKey()).Removed, p.r.State().Member(dave.r.MemberKey()).Removed)
		if len(nets) == 1 {
			t.Errorf("%s publishes on epoch 0's network only, where removed carol and dave listen", p.name)
		}
	}
}
