package replica

import (
	"fmt"
	"slices"
	"testing"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/state"
)

// Regression tests from an attacker's review of key updates (§6.4).

// hybridKeyBytes is a valid hybrid public key for hand-made key updates.
func hybridKeyBytes(t *testing.T, c *cluster) (k [seal.HybridPublicSize]byte) {
	t.Helper()
	priv, err := seal.GenerateHybrid(c.rnd)
	if err != nil {
		t.Fatal(err)
	}
	copy(k[:], priv.Public().Bytes())
	return k
}

// TestStrangersKeyUpdatesAreNotHeard: mallory holds only the group secret
// (a leaked link, a removed member). She writes, from a thousand made-up
// devices, an announce that counts for nothing, then a key update whose
// lost list names alice. Alice re-sends nothing (she sealed no box to
// them) and her snapshot still restores; their keys cost what their feeds
// cost (§6.4). (The first version marked a re-send per
// made-up device, never cleared, and past 1 024 its snapshot no longer
// restored.)
func TestStrangersKeyUpdatesAreNotHeard(t *testing.T) {
	c, alice, _, _ := threeMembers(t, 211)
	c.tolerate = []error{ErrBadAnnounce, ErrNotMember}
	n := state.MaxRecipients + 1
	for i := 0; i < n; i++ {
		m := newMallory(c)
		start := len(c.wire)
		forceAnnounce(t, c, m, &state.Announce{Proof: state.ProofMember})
		u := &state.KeyUpdate{Key: hybridKeyBytes(t, c), Lost: []keys.Public{alice.r.DeviceKey()}}
		if _, err := m.r.postMetadata(&state.Event{Update: u}, 0, nil); err != nil {
			t.Fatal(err)
		}
		c.flush(m)
		for _, raw := range c.wire[start:] {
			if _, err := alice.r.Receive(raw, alice.lk); err != nil && !c.tolerated(err) {
				t.Fatal(err)
			}
		}
		if i%64 == 0 || i == n-1 {
			c.flush(alice)
		}
	}
	if len(alice.r.resend) != 0 {
		t.Errorf("alice marks %d re-sends after strangers' key updates, want none", len(alice.r.resend))
	}
	if _, err := New(alice.cfg, alice.snap); err != nil {
		t.Errorf("alice's own snapshot does not restore after strangers' key updates: %v", err)
	}
}

// TestStrangersBoxDoesNotPinKeys: mallory, with only the group secret,
// writes an announce that counts for nothing and a box to alice, which waits
// for its author to count for ever. Alice must still delete her replaced key
// once bob has seen her update. (The first version kept every key while a
// box waited, until AgreeKeep.)
func TestStrangersBoxDoesNotPinKeys(t *testing.T) {
	c, alice, bob := agreePair(t, group.KindMulti, 91, nil)
	c.tolerate = []error{ErrBadAnnounce, ErrNotMember}
	m := newMallory(c)
	start := len(c.wire)
	forceAnnounce(t, c, m, &state.Announce{Proof: state.ProofMember})
	ev := &state.Event{Keys: &state.ChainKeys{Epoch: 1, Hybrid: true,
		Boxes: []state.Box{{Recipient: alice.r.DeviceKey(), Key: alice.r.own[0].first, Sealed: make([]byte, seal.HybridOverhead+40)}}}}
	if _, err := m.r.postMetadata(ev, 0, nil); err != nil {
		t.Fatal(err)
	}
	c.flush(m)
	c.deliverAll(alice, c.wire[start:])
	if len(alice.r.deferredKeys) == 0 {
		t.Fatal("setup: mallory's box does not wait at alice")
	}
	c.send(bob, "before the update")
	c.sync()
	tick(t, c, alice, 100) // rotation: new key
	c.sync()
	c.send(bob, "after the update")
	c.sync()
	if len(alice.r.own) != 1 {
		t.Errorf("alice still holds %d key-agreement keys once bob has seen her update: a stranger's box pins them", len(alice.r.own))
	}
}

// garbageBoxes has from write n chain-key events, each with a garbage box to
// to naming the key seq given, and delivers them to to only.
func garbageBoxes(t *testing.T, c *cluster, from, to *peer, n int, key uint64) {
	t.Helper()
	for i := 0; i < n; i++ {
		start := len(c.wire)
		ev := &state.Event{Keys: &state.ChainKeys{Epoch: 1, Hybrid: true,
			Boxes: []state.Box{{Recipient: to.r.DeviceKey(), Key: key, Sealed: make([]byte, seal.HybridOverhead+40)}}}}
		if _, err := from.r.postMetadata(ev, 0, nil); err != nil {
			t.Fatal(err)
		}
		c.flush(from)
		c.deliverAll(to, c.wire[start:])
	}
}

// TestGarbageBoxesCostLittle: bob, a member, writes MaxOwnKeys+1 garbage
// boxes to alice — naming her current key, then a key she deleted — and
// from then on runs the ordinary code. Alice draws no key for them, names
// bob lost at most once per key of hers, and the group goes quiet; carol's
// box, sealed to alice's key while carol was away, still opens. (The first
// version drew a key per garbage box: 65 of them evicted the key carol
// sealed to, and alice and bob then wrote for ever.)
func TestGarbageBoxesCostLittle(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 212)
	c.configure = nil
	c.send(carol, "hello")
	c.sync()
	keysBefore := len(alice.r.own)
	garbageBoxes(t, c, bob, alice, MaxOwnKeys+1, alice.r.own[len(alice.r.own)-1].first)
	if len(alice.r.own) != keysBefore || len(alice.r.lost) != 0 {
		t.Fatalf("garbage naming alice's current key: she holds %d keys (was %d), %d lost", len(alice.r.own), keysBefore, len(alice.r.lost))
	}
	c.peers = []*peer{alice, bob} // carol is away
	// alice replaces her key and bob has seen it: the first is deleted.
	tick(t, c, alice, DefaultRotateAfter+1)
	c.sync()
	c.send(bob, "ack")
	c.sync()
	deleted := uint64(1)
	before := len(c.wire)
	garbageBoxes(t, c, bob, alice, MaxOwnKeys+1, deleted)
	quiet := false
	for round := 0; round < 10 && !quiet; round++ {
		quiet = boundedSync(c, 1) == 0
	}
	if !quiet {
		t.Fatal("after a burst of garbage boxes the group never goes quiet")
	}
	if n := len(c.wire) - before - (MaxOwnKeys + 1); n > 4 {
		t.Errorf("%d garbage boxes cost %d entries of the others, want at most a key update and a re-send", MaxOwnKeys+1, n)
	}
	if len(alice.r.own) > 2 {
		t.Errorf("alice holds %d keys after the garbage: it drew keys for it", len(alice.r.own))
	}
	// carol comes back: she rotates, sealing to the key she knows.
	c.peers = []*peer{alice, bob, carol}
	tick(t, c, carol, DefaultRotateAfter+1)
	c.send(carol, "back")
	c.sync()
	if !alice.hasBody("back") {
		t.Error("alice does not read carol after bob's garbage boxes")
	}
}

// TestLostListsAreRateLimited: bob, a member, posts key updates whose lost
// list names every other device, without having lost anything. A device
// hands its chain again only if its last box to bob was sealed to a key
// bob published before, and at most once per AgreeEvery: ten such updates
// cost the others at most one re-send each. (The first version re-sent
// the chain and every epoch for each one.)
func TestLostListsAreRateLimited(t *testing.T) {
	const n = 10
	count := func(lost bool) int {
		c, alice, bob, carol := threeMembers(t, 214)
		c.sync()
		start := len(c.wire)
		for i := 0; i < n; i++ {
			u := &state.KeyUpdate{Key: hybridKeyBytes(t, c)}
			if lost {
				u.Lost = state.SortRoster([]keys.Public{alice.r.DeviceKey(), carol.r.DeviceKey()})
			}
			if _, err := bob.r.postMetadata(&state.Event{Update: u}, 0, nil); err != nil {
				t.Fatal(err)
			}
			c.flush(bob)
			c.sync()
		}
		events := 0
		for _, raw := range c.wire[start:] {
			e := decode(t, raw)
			if e.Author == bob.r.DeviceKey() {
				continue
			}
			if ev, err := alice.r.openMetadata(e); err == nil && ev.Keys != nil {
				events++
			}
		}
		return events
	}
	base, with := count(false), count(true)
	if with-base > 2 {
		t.Errorf("%d unjustified lost lists from one member made the others write %d chain-key events, %d without them: want at most one re-send each", n, with, base)
	}
}

// TestForcedRotationsKeepKeys (second review): bob, an ordinary member,
// invites a puppet that joins and leaves at once, MaxOwnKeys+1 times. Every
// leave is a removal and makes alice rotate; carol, away for a week — far
// less than AgreeKeep — still seals to the key alice had before. Alice must
// not delete it to make room: what carol wrote while away is read. (The
// first version evicted the oldest key past MaxOwnKeys.)
func TestForcedRotationsKeepKeys(t *testing.T) {
	run := func(puppets int) (alice, carol *peer) {
		c, alice, bob, carol := threeMembers(t, 301)
		c.send(carol, "hello")
		c.sync()
		for i := 0; i < puppets; i++ {
			p := c.join(bob, fmt.Sprintf("puppet%d", i))
			c.sync(alice, bob, p)
			c.remove(p, p) // leaves
			c.sync(alice, bob, p)
			c.peers = slices.DeleteFunc(c.peers, func(q *peer) bool { return q == p })
		}
		if len(alice.r.own) > MaxOwnKeys {
			t.Fatalf("alice holds %d keys, more than %d", len(alice.r.own), MaxOwnKeys)
		}
		// carol, away through all of this, rotates after a week and writes.
		tick(t, c, carol, DefaultRotateAfter+1)
		c.send(carol, "while away")
		c.sync()
		c.send(carol, "after")
		c.sync()
		return alice, carol
	}
	if alice, _ := run(0); !alice.hasBody("while away") {
		t.Fatal("control: without churn alice does not read carol")
	}
	if alice, carol := run(MaxOwnKeys + 1); !alice.hasBody("while away") || !alice.hasBody("after") {
		t.Errorf("after %d puppets joined and left, alice reads %q of carol: the key carol sealed to was deleted early", MaxOwnKeys+1, alice.bodiesFrom(carol.r.DeviceKey()))
	}
}
