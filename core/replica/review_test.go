package replica

import (
	"fmt"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/state"
)

// Regression tests from the adversarial review of protocol v2 part 1 (the
// "attacker's eyes" review of 2026-12-07): each failed on the first cut of
// epochs, rosters and invitation revocation.

// stranger with a dead link injects an epoch to bob; bob relays it; alice writes in it.
func TestReviewStrangerEpochRelay(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 91)
	inv, err := alice.r.Invite(alice.lk)
	if err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	c.remove(alice, carol) // link dies (era)
	c.tolerate = []error{feed.ErrCutOff}
	c.sync()
	inv, _ = DecodeInvitation(inv.Encode())
	s := c.newPeer("stranger", inv.Group(), nil)
	c.peers = c.peers[:len(c.peers)-1]
	c.sync(s) // the stranger syncs first: its announce sorts after the era's end, so it is never admitted nor cut
	if err := s.r.AnnounceInvited(inv, s.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(s)
	c.sync()
	if _, cut := bob.r.State().Cutoff(s.r.DeviceKey()); cut {
		t.Fatal("setup: stranger cut")
	}
	if s.r.State().Device(s.r.DeviceKey()) != nil {
		t.Fatal("setup: stranger counts")
	}
	var secret [32]byte
	secret[0] = 42
	ep := s.r.g.Epoch(secret)
	s.r.learnEpoch(secret, 0, feed.ID{}, s.r.DeviceKey(), false)
	bobDev := bob.r.State().Device(bob.r.DeviceKey())
	ad := chainKeyAD(&s.r.g.Keys.Topic, s.r.DeviceKey(), 1)
	box, err := seal.SealBox(bobDev.Cert.AgreementKey(), boxPlaintext(nil, []*heldEpoch{{Epoch: ep}}, nil), ad, c.rnd)
	if err != nil {
		t.Fatal(err)
	}
	ev := &state.Event{Keys: &state.ChainKeys{Epoch: 1, Boxes: []state.Box{{Recipient: bob.r.DeviceKey(), Epochs: []group.EpochID{ep.ID}, Sealed: box}}}}
	if _, err := s.r.postMetadata(ev, 0, nil); err != nil {
		t.Fatal(err)
	}
	c.flush(s)
	c.sync()
	if cur := alice.r.current(); cur != nil && cur.ID == ep.ID {
		t.Errorf("alice writes in the stranger's epoch (handed on by bob: %v)", cur.giver == bob.r.DeviceKey())
	}
	start := len(c.wire)
	if err := alice.r.Post(&state.Event{Info: &state.GroupInfo{Name: "after stranger"}}, alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync(s)
	for _, raw := range c.wire[start:] {
		e := decode(t, raw)
		if e.Kind != feed.KindMetadata {
			continue
		}
		if ev, err := s.r.openMetadata(e); err == nil && ev.Info != nil {
			t.Errorf("STRANGER READS group info written after: %q", ev.Info.Name)
		}
	}
}

func injectEpoch(t *testing.T, c *cluster, s *peer, to *peer, secret [32]byte) group.EpochID {
	t.Helper()
	ep := s.r.g.Epoch(secret)
	s.r.learnEpoch(secret, 0, feed.ID{}, s.r.DeviceKey(), false)
	// Sealed to the recipient's current key, which its key updates publish.
	own := to.r.own[len(to.r.own)-1]
	key := own.hybrid.Public()
	ad := chainKeyAD(&s.r.g.Keys.Topic, s.r.DeviceKey(), 1)
	box, err := seal.SealHybrid(key, boxPlaintext(nil, []*heldEpoch{{Epoch: ep}}, nil), ad, c.rnd)
	if err != nil {
		t.Fatal(err)
	}
	ev := &state.Event{Keys: &state.ChainKeys{Epoch: 1, Hybrid: true,
		Boxes: []state.Box{{Recipient: to.r.DeviceKey(), Key: own.first, Epochs: []group.EpochID{ep.ID}, Sealed: box}}}}
	if _, err := s.r.postMetadata(ev, 0, nil); err != nil {
		t.Fatal(err)
	}
	c.flush(s)
	return ep.ID
}

func TestReviewRevokedDeviceEpochRelay(t *testing.T) {
	f := newRevokeFixture(t, group.KindAccount, 47)
	c := f.c
	f.revoke(f.d1, f.d2)
	c.tolerate = []error{feed.ErrCutOff}
	c.sync()
	// the revoked phone, holding the account seed, certifies a fresh device key
	x := c.newPeer("d2 prime", c.g, f.aliceAcct)
	c.peers = c.peers[:len(c.peers)-1]
	c.sync(x)
	if err := x.r.AnnounceOwner(x.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(x)
	var secret [32]byte
	secret[0] = 7
	id := injectEpoch(t, c, x, f.other, secret)
	c.sync()
	if cur := f.d1.r.current(); cur != nil && cur.ID == id {
		t.Error("d1 writes in the epoch the revoked phone's new key injected")
	}
	start := len(c.wire)
	joined := &state.GroupJoined{Kind: uint8(group.KindMulti), Name: "joined after"}
	joined.ID[0], joined.Secret[0] = 1, 2
	if err := f.d1.r.Post(&state.Event{Joined: joined}, f.d1.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(f.d1)
	c.sync(x)
	for _, raw := range c.wire[start:] {
		e := decode(t, raw)
		if e.Kind != feed.KindMetadata {
			continue
		}
		if ev, err := x.r.openMetadata(e); err == nil && ev.Joined != nil {
			t.Errorf("REVOKED DEVICE READS joined group secret %x", ev.Joined.Secret[:2])
		}
	}
}

func injectMany(t *testing.T, c *cluster, s *peer, to *peer, base byte, n int) {
	t.Helper()
	var hs []*heldEpoch
	var ids []group.EpochID
	for i := 0; i < n; i++ {
		var secret [32]byte
		secret[0], secret[1], secret[2] = base, byte(i), byte(i>>8)
		ep := s.r.g.Epoch(secret)
		hs = append(hs, &heldEpoch{Epoch: ep})
		ids = append(ids, ep.ID)
	}
	dev := to.r.State().Device(to.r.DeviceKey())
	ad := chainKeyAD(&s.r.g.Keys.Topic, s.r.DeviceKey(), 1)
	box, err := seal.SealBox(dev.Cert.AgreementKey(), boxPlaintext(nil, hs, nil), ad, c.rnd)
	if err != nil {
		t.Fatal(err)
	}
	ev := &state.Event{Keys: &state.ChainKeys{Epoch: 1, Boxes: []state.Box{{Recipient: to.r.DeviceKey(), Epochs: ids, Sealed: box}}}}
	if _, err := s.r.postMetadata(ev, 0, nil); err != nil {
		t.Fatal(err)
	}
	c.flush(s)
}

func TestReviewStrangerEpochFlood(t *testing.T) {
	c, alice, bob, _ := threeMembers(t, 92)
	inv, err := alice.r.Invite(alice.lk)
	if err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	if err := alice.r.RevokeInvitation(inv.InviteKey(), alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	inv, _ = DecodeInvitation(inv.Encode())
	s := c.newPeer("stranger", inv.Group(), nil)
	c.peers = c.peers[:len(c.peers)-1]
	c.sync(s) // the stranger syncs first: its announce sorts after the era's end, so it is never admitted nor cut
	if err := s.r.AnnounceInvited(inv, s.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(s)
	c.sync(s)
	for k := 0; k < 5; k++ {
		injectMany(t, c, s, bob, byte(k+1), 1024)
	}
	c.lenient = true
	n0 := len(c.wire)
	c.sync()
	t.Logf("entries published by honest devices after flood: %d; bob epochs %d alice epochs %d", len(c.wire)-n0, len(bob.r.epochs), len(alice.r.epochs))
	if err := bob.r.Post(&state.Event{Info: &state.GroupInfo{Name: "x"}}, bob.lk); err != nil {
		t.Errorf("bob post after the flood: %v", err)
	}
	c.flush(bob)
	carol := c.peers[2]
	if err := alice.r.Remove(carol.r.MemberKey(), alice.lk); err != nil {
		t.Errorf("alice removes carol after the flood: %v", err)
	}
	c.flush(alice)
	c.sync()
	if err := alice.r.Post(&state.Event{Info: &state.GroupInfo{Name: "y"}}, alice.lk); err != nil {
		t.Errorf("alice post after removal: %v", err)
	}
	c.flush(alice)
	c.sync()
	if bob.r.State().Name() != "y" || alice.r.State().Name() != "y" {
		t.Errorf("bob sees name %q, alice %q; want y", bob.r.State().Name(), alice.r.State().Name())
	}
	for _, id := range []*peer{alice, bob} {
		for eid, h := range id.r.epochs {
			if eid != id.r.zero && !id.r.vouched(h) && h.giver == s.r.DeviceKey() && id == alice {
				t.Errorf("alice holds an epoch the stranger gave")
			}
		}
	}
}

func TestReviewStaleAdminExpiryDropsJoiner(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 93)
	if err := alice.r.GrantAdmin(bob.r.MemberKey(), alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	inv, err := alice.r.InviteUntil(1000, alice.lk)
	if err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	inv, _ = DecodeInvitation(inv.Encode())
	dave := c.newPeer("dave", inv.Group(), nil)
	if err := dave.r.AnnounceInvited(inv, dave.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(dave)
	c.sync(alice, carol, dave) // bob is offline
	c.send(dave, "hi from dave")
	c.sync(alice, carol, dave)
	if m := alice.r.State().Member(dave.r.MemberKey()); m == nil || m.Removed {
		t.Fatal("setup: dave not in")
	}
	// both admins tick after expiry; bob had not seen dave
	if err := alice.r.Tick(2000, alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	if err := bob.r.Tick(2000, bob.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(bob)
	c.lenient = true
	c.tolerate = []error{feed.ErrCutOff}
	c.sync()
	for _, p := range []*peer{alice, bob, carol} {
		if m := p.r.State().Member(dave.r.MemberKey()); m == nil || m.Removed {
			t.Errorf("%s: dave, who joined before the expiry, is out after a stale admin's expiry revocation: %+v", p.name, m)
		}
	}
}

func TestReviewEquivocationClockSplit(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 94)
	inv, err := alice.r.Invite(alice.lk)
	if err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	if err := alice.r.RevokeInvitation(inv.InviteKey(), alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	inv, _ = DecodeInvitation(inv.Encode())
	s := c.newPeer("stranger", inv.Group(), nil)
	c.peers = c.peers[:len(c.peers)-1]
	c.sync(s) // the stranger syncs first: its announce sorts after the era's end, so it is never admitted nor cut
	if err := s.r.AnnounceInvited(inv, s.lk); err != nil {
		t.Fatal(err)
	}
	rd := c.flush(s)
	ann := rd.Outbox[len(rd.Outbox)-1] // its announce and key update: s@1, s@2
	c.sync()                           // everyone has them
	for i := 0; i < 5; i++ {
		c.send(alice, "tick")
	}
	c.sync()
	c.sync(s)
	_, sdev := groupKeys(s)
	ah := alice.r.tracker.Head(alice.r.DeviceKey())
	a := encodeUnchecked(&feed.Unsigned{Topic: c.g.Keys.Topic, Seq: ann.Seq + 1, Prev: ann.ID, Lamport: ah.Lamport + 1,
		Deps: []feed.Dep{{Device: alice.r.DeviceKey(), Seq: ah.Seq}}, Kind: feed.KindMessage, Payload: make([]byte, 100)}, &c.g.Keys.Replication, sdev)
	b := encodeUnchecked(&feed.Unsigned{Topic: c.g.Keys.Topic, Seq: ann.Seq + 1, Prev: ann.ID, Lamport: ann.Lamport + 1,
		Kind: feed.KindMessage, Payload: make([]byte, 101)}, &c.g.Keys.Replication, sdev)
	if out, err := bob.r.Receive(a, bob.lk); err != nil {
		t.Fatalf("bob A: %v %v", out, err)
	}
	c.flush(bob)
	if out, err := carol.r.Receive(b, carol.lk); err != nil {
		t.Fatalf("carol B: %v %v", out, err)
	}
	c.flush(carol)
	m := c.send(bob, "honest bob")
	raw := c.entryOf(bob.r.DeviceKey(), m.Seq)
	out, err := carol.r.Receive(raw, carol.lk)
	t.Logf("carol receives honest bob's message: outcome %v err %v", out, err)
	c.flush(carol)
	// carol then sees A too (equivocation evidence) and bob's message again
	carol.r.Receive(a, carol.lk)
	c.flush(carol)
	out, err = carol.r.Receive(raw, carol.lk)
	c.flush(carol)
	if out != feed.Ready && out != feed.Duplicate {
		t.Errorf("carol, having seen both branches, still refuses honest bob's message: outcome %v err %v", out, err)
	}
	if !carol.hasBody("honest bob") {
		t.Error("carol does not read honest bob")
	}
}

// TestReviewRosterAbuse: a member that is no admin revokes its own second
// device with a roster that leaves others out — carol, or everyone but
// itself (then, in v2's first cut, the fold never settled and every member
// but the creator vanished). A revocation by a non-admin drops no one. An
// admin's removal whose roster leaves out the member that invited the
// admin (the roster lies: the admin's own membership rests on it) drops no
// one either, and the fold settles.
func TestReviewRosterAbuse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		admin bool
		keep  func(alice, bob *peer) []keys.Public
	}{
		{"non-admin, carol left out", false, func(a, b *peer) []keys.Public { return []keys.Public{a.r.MemberKey(), b.r.MemberKey()} }},
		{"non-admin, everyone left out", false, func(a, b *peer) []keys.Public { return []keys.Public{b.r.MemberKey()} }},
		{"admin leaves out its inviter", true, func(a, b *peer) []keys.Public { return []keys.Public{b.r.MemberKey()} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, alice, bob, carol := threeMembers(t, 95)
			if tc.admin {
				if err := alice.r.GrantAdmin(bob.r.MemberKey(), alice.lk); err != nil {
					t.Fatal(err)
				}
				c.flush(alice)
			}
			// bob links a second device
			g := *bob.cfg.Group
			b2 := c.newPeer("bob d2", &g, bob.cfg.Account)
			c.sync(b2)
			if err := b2.r.AnnounceMember(b2.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(b2)
			c.sync(bob)
			c.approve(bob, b2)
			c.sync()
			if alice.r.State().Device(b2.r.DeviceKey()) == nil {
				t.Fatal("setup: bob d2 not in")
			}
			keep := state.SortRoster(tc.keep(alice, bob))
			ev := &state.Event{Revoked: &state.DeviceRevoked{Device: b2.r.DeviceKey(), Seq: bob.r.tracker.Head(b2.r.DeviceKey()).Seq, Keep: keep}}
			if _, err := bob.r.postMetadata(ev, 0, nil); err != nil {
				t.Fatal(err)
			}
			c.flush(bob)
			c.lenient = true
			c.tolerate = []error{feed.ErrCutOff}
			c.sync()
			for _, obs := range []*peer{alice, carol, bob} {
				if obs.r.State().Unsettled() {
					t.Errorf("at %s: the fold did not settle", obs.name)
				}
				for _, m := range obs.r.State().Members() {
					if m.Removed || m.Dropped {
						t.Errorf("at %s: member %x dropped by a roster that should drop no one", obs.name, m.Key[:3])
					}
				}
			}
		})
	}
}

// TestReviewUnopenedFlood: a stranger holding a revoked link writes junk
// metadata under made-up epochs, more than MaxUnopened entries (and, as a
// control, a thousand). Dave joins afterwards: he must still read what alice
// wrote after the junk — the junk of one device takes at most its quota.
func TestReviewUnopenedFlood(t *testing.T) {
	for _, batches := range []int{1, MaxUnopened/1000 + 1} {
		t.Run(fmt.Sprintf("%d junk entries", batches*1000), func(t *testing.T) {
			c, alice, _, _ := threeMembers(t, 96)
			inv, err := alice.r.Invite(alice.lk)
			if err != nil {
				t.Fatal(err)
			}
			c.flush(alice)
			if err := alice.r.RevokeInvitation(inv.InviteKey(), alice.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(alice)
			c.sync()
			inv, _ = DecodeInvitation(inv.Encode())
			s := c.newPeer("stranger", inv.Group(), nil)
			c.peers = c.peers[:len(c.peers)-1]
			c.sync(s)
			if err := s.r.AnnounceInvited(inv, s.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(s)
			for k := range batches {
				for i := range 1000 {
					_, err := s.r.appendLocal(feed.KindMetadata, 0, nil, func(uint64) ([]byte, error) {
						p := make([]byte, 60)
						p[0], p[1], p[2] = 0xee, byte(i), byte(k)
						return p, nil
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				c.flush(s)
			}
			c.sync()
			if err := alice.r.Post(&state.Event{Info: &state.GroupInfo{Name: "after junk"}}, alice.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(alice)
			c.sync()
			dave := c.join(alice, "dave")
			c.sync()
			c.sync()
			if got := dave.r.State().Name(); got != "after junk" {
				t.Errorf("dave, who joined after the junk, sees name %q, want %q", got, "after junk")
			}
		})
	}
}

func TestReviewHolderFloodSnapshot(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 97)
	inv, err := alice.r.Invite(alice.lk)
	if err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	if err := alice.r.RevokeInvitation(inv.InviteKey(), alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	inv, _ = DecodeInvitation(inv.Encode())
	s := c.newPeer("stranger", inv.Group(), nil)
	c.peers = c.peers[:len(c.peers)-1]
	c.sync(s)
	if err := s.r.AnnounceInvited(inv, s.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(s)
	c.sync()
	// 1) taint: name alice's current epoch as held by a removed-looking device? use carol after removal
	c.remove(alice, carol)
	c.tolerate = []error{feed.ErrCutOff}
	c.sync()
	cur := alice.r.current()
	if cur == nil {
		t.Fatal("setup: alice has no current epoch after removal")
	}
	ev := &state.Event{Keys: &state.ChainKeys{Epoch: 1, Boxes: []state.Box{{Recipient: carol.r.DeviceKey(), Epochs: []group.EpochID{cur.ID}, Sealed: []byte{1}}}}}
	if _, err := s.r.postMetadata(ev, 0, nil); err != nil {
		t.Fatal(err)
	}
	c.flush(s)
	c.sync()
	if alice.r.current() == nil || bob.r.current() == nil {
		t.Errorf("one box from the stranger tainted the current epoch: alice %v, bob %v", alice.r.current() != nil, bob.r.current() != nil)
	}
	// 2) holder flood on one epoch ID
	var id group.EpochID
	id[0] = 0xab
	for k := 0; k < 65; k++ {
		var boxes []state.Box
		for i := 0; i < 1024; i++ {
			var rcp keys.Public
			rcp[0], rcp[1], rcp[2] = byte(k), byte(i), byte(i>>8)
			boxes = append(boxes, state.Box{Recipient: rcp, Epochs: []group.EpochID{id}})
		}
		if _, err := s.r.postMetadata(&state.Event{Keys: &state.ChainKeys{Epoch: 1, Boxes: boxes}}, 0, nil); err != nil {
			t.Fatal(err)
		}
		c.flush(s)
	}
	c.sync(bob)
	if n := len(bob.r.holders[id]); n != 0 {
		t.Errorf("bob records %d holders of a junk epoch from a stranger (snapshot %d bytes)", n, len(bob.snap))
	}
	if _, err := New(bob.cfg, bob.snap); err != nil {
		t.Errorf("BOB CANNOT RESTART: %v", err)
	}
}

// TestReviewRevokedPhoneRejoinsViaLink (second review): bob, no admin, has
// his phone make a link, then revokes the stolen phone. The thief uses the
// link with a fresh account without syncing: the join sorts before the
// revocation, and the revocation — bob's, which drops only joins through
// the revoked device's links — drops it. Neither alice nor bob counts the thief, who reads
// nothing written after.
func TestReviewRevokedPhoneRejoinsViaLink(t *testing.T) {
	for _, adminRevoker := range []bool{false, true} {
		t.Run(map[bool]string{false: "bob not admin", true: "bob admin"}[adminRevoker], func(t *testing.T) {
			c := newCluster(t, 301)
			alice := c.creator("alice")
			bob := c.join(alice, "bob")
			c.sync()
			if adminRevoker {
				if err := alice.r.GrantAdmin(bob.r.MemberKey(), alice.lk); err != nil {
					t.Fatal(err)
				}
				c.flush(alice)
				c.sync()
			}
			g := *c.g
			g.IDSeed = nil
			b2 := c.newPeer("bob phone", &g, bob.cfg.Account)
			c.sync(b2)
			if err := b2.r.AnnounceMember(b2.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(b2)
			c.sync(bob)
			c.approve(bob, b2)
			c.sync()
			if bob.r.State().Device(b2.r.DeviceKey()) == nil {
				t.Fatal("setup: b2 not in")
			}
			link, err := b2.r.Invite(b2.lk)
			if err != nil {
				t.Fatal(err)
			}
			c.flush(b2)
			c.sync()
			c.send(alice, "chat")
			c.sync()
			if err := bob.r.RevokeDevice(b2.r.DeviceKey(), bob.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(bob)
			c.tolerate = []error{feed.ErrCutOff}
			c.lenient = true
			c.sync()
			thief := c.join2(link, "thief")
			c.sync()
			for _, p := range []*peer{alice, bob} {
				if m := p.r.State().Member(thief.r.MemberKey()); m != nil && !m.Removed {
					t.Errorf("%s counts the thief, who joined with the revoked phone's link", p.name)
				}
			}
			c.send(alice, "secret after revocation")
			c.sync()
			if thief.hasBody("secret after revocation") {
				t.Error("the thief reads what was written after the revocation")
			}
		})
	}
}

// TestReviewStaleRecorderExpiryDropsJoiner (second review): the device that
// made a link comes back after its expiry and ticks before it has synced.
// Its expiry revocation must not drop dave, who joined before the expiry and
// whom the others let in.
func TestReviewStaleRecorderExpiryDropsJoiner(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 302)
	inv, err := alice.r.InviteUntil(1000, alice.lk)
	if err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	inv, _ = DecodeInvitation(inv.Encode())
	dave := c.newPeer("dave", inv.Group(), nil)
	if err := dave.r.AnnounceInvited(inv, dave.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(dave)
	c.sync(bob, carol, dave) // alice, who made the link, is offline
	c.send(dave, "hi from dave")
	c.sync(bob, carol, dave)
	if m := bob.r.State().Member(dave.r.MemberKey()); m == nil || m.Removed {
		t.Fatal("setup: dave not in")
	}
	if err := alice.r.Tick(2000, alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.lenient = true
	c.tolerate = []error{feed.ErrCutOff}
	c.sync()
	for _, p := range []*peer{alice, bob, carol} {
		if m := p.r.State().Member(dave.r.MemberKey()); m == nil || m.Removed {
			t.Errorf("%s: dave is out after a stale expiry revocation", p.name)
		}
	}
}
