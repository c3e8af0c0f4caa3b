package replica

import (
	"fmt"
	"slices"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/core/wire"
)

// v3Snapshot re-encodes p's state as the version 3 snapshot the previous
// release wrote (§7.4): the same bytes without the read-only flag of each
// held epoch, nor the key-agreement keys of version 5.
func v3Snapshot(p *peer) []byte {
	r := p.r
	full := r.snapshot()
	ep := r.appendEpochs(nil)
	agree := r.appendAgree(nil)
	full = full[:len(full)-len(agree)]
	b := append([]byte(nil), full[:len(full)-len(ep)]...)
	b[0] = 3
	ids := sortedIDs(r.epochs)
	ids = slices.DeleteFunc(ids, func(id group.EpochID) bool { return id == r.zero })
	b = wire.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		h := r.epochs[id]
		b = append(b, h.Secret[:]...)
		b = wire.AppendUvarint(b, h.lamport)
		b = append(b, h.entry[:]...)
		b = append(b, h.giver[:]...)
	}
	// holders, unopened, deferred: as in version 4.
	rd := wire.NewReader(ep)
	m := rd.Uvarint(1 << 30)
	for i := uint64(0); i < m; i++ {
		rd.Fixed32()
		rd.Uvarint(1 << 62)
		rd.Fixed32()
		rd.Fixed32()
		rd.Byte() // the read-only flag of version 4
	}
	return append(b, ep[rd.Offset():]...)
}

// TestHistoryKeptAcrossUpgrade: epochs a device learnt before the upgrade
// to snapshot v4 (no history marks) must still be handed on as history
// (§3.4) once their giver is cut: else the revocation written after the
// upgrade, sealed in the epoch the phone made, stays unreadable to a device
// linked after it, which then hands the revoked phone the revoker's new
// epoch (a review found it with a first version of the rule that needed
// the giver's seq, unknown after the upgrade).
func TestHistoryKeptAcrossUpgrade(t *testing.T) {
	for _, upgrade := range []bool{false, true} {
		f := newRevokeFixture(t, group.KindAccount, 7)
		c := f.c
		// The phone (d2) writes first: the epoch everyone writes in is its.
		if err := f.d2.r.Post(&state.Event{Profile: &state.Profile{Name: "phone"}}, f.d2.lk); err != nil {
			t.Fatal(err)
		}
		c.flush(f.d2)
		c.sync()
		if cur := f.d1.r.current(); cur == nil || cur.giver != f.d2.r.DeviceKey() {
			t.Fatalf("setup: d1's current epoch is not the phone's")
		}
		if upgrade {
			for _, p := range []*peer{f.d1, f.other} {
				own := p.r.own
				p.snap = v3Snapshot(p)
				c.restart(p)
				// A version 3 replica's boxes were sealed to the key its
				// seed derives (§6.4); these were drawn at random: keep
				// them, as the upgrade keeps the derived one.
				p.r.own = append(own, p.r.own...)
			}
		}
		f.revoke(f.d1, f.d2)
		// d1 writes after the revocation, in a new epoch.
		if err := f.d1.r.Post(&state.Event{Profile: &state.Profile{Name: "after"}}, f.d1.lk); err != nil {
			t.Fatal(err)
		}
		c.flush(f.d1)
		c.tolerate = append(c.tolerate, feed.ErrCutOff)
		c.sync(f.d1, f.other)
		newEp := f.d1.r.current()
		// A device linked after the revocation.
		d4 := c.newPeer("alice d4", c.g, f.aliceAcct)
		c.approve(f.d1, d4)
		c.sync(d4)
		if err := d4.r.AnnounceOwner(d4.lk); err != nil {
			t.Fatal(err)
		}
		c.flush(d4)
		c.sync(f.d1, f.other, d4)
		c.sync(f.d1, f.other, d4)
		_, revoked := d4.r.State().Cutoff(f.d2.r.DeviceKey())
		leaked := false
		for _, raw := range c.wire {
			e := decode(t, raw)
			if e.Author != d4.r.DeviceKey() {
				continue
			}
			ev, err := d4.r.openMetadata(e)
			if err != nil || ev.Keys == nil {
				continue
			}
			for _, b := range ev.Keys.Boxes {
				if b.Recipient == f.d2.r.DeviceKey() && slices.Contains(b.Epochs, newEp.ID) {
					leaked = true
				}
			}
		}
		if !revoked || leaked {
			t.Errorf("upgrade=%v: the device linked after the revocation reads it: %v; it boxes the revoker's new epoch to the revoked phone: %v", upgrade, revoked, leaked)
		}
	}
}

var _ = keys.Public{}

// TestHistoryEpochIsReadOnlyForNewDevice: the phone, while it counts,
// boxes a fresh epoch to the tablet in an entry that does not depend on the
// tablet's announce (a modified client picks its deps). It is then
// revoked, within its cut-off; the tablet hands the epoch on as history
// (§3.4) to a device linked after. If that device reads the phone's entry
// before the tablet's announce — the phone serves its feed first — it
// did not note the phone as a holder: the epoch was untainted and vouched
// to it, and it wrote in an epoch the revoked phone made (a review found
// it). Now the box marks it history, read-only, and the author of a box is
// noted as a holder of what it hands out whoever the recipient.
func TestHistoryEpochIsReadOnlyForNewDevice(t *testing.T) {
	for _, phoneFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("phoneFirst=%v", phoneFirst), func(t *testing.T) { historyEpochClean(t, phoneFirst) })
	}
}

func historyEpochClean(t *testing.T, phoneFirst bool) {
	writes := 0
	for seed := uint64(1); seed <= 20; seed++ {
		c := newCluster(t, seed)
		acct := c.newKey()
		c.g = group.Account(acct)
		owner := func(name string, approver *peer) *peer {
			p := c.newPeer(name, c.g, acct)
			if approver != nil {
				c.approve(approver, p)
				c.sync(p)
			}
			if err := p.r.AnnounceOwner(p.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(p)
			return p
		}
		d1 := owner("laptop", nil)
		phone := owner("phone", d1)
		c.sync()
		tablet := owner("tablet", d1)
		c.sync(d1, tablet) // the phone does not sync the tablet
		// The phone boxes a fresh epoch to the tablet (its key from the laptop's view).
		var secret [32]byte
		secret[0], secret[1] = 0x5a, byte(seed)
		ep := phone.r.g.Epoch(secret)
		injectEpoch(t, c, phone, tablet, secret)
		c.sync(d1) // the laptop revokes the phone before the tablet relays the epoch
		if err := d1.r.RevokeDevice(phone.r.DeviceKey(), d1.lk); err != nil {
			t.Fatal(err)
		}
		c.flush(d1)
		c.tolerate = []error{feed.ErrCutOff}
		c.sync(d1, tablet)
		if h := d1.r.epochs[ep.ID]; h != nil {
			t.Logf("seed %d: the laptop holds the phone's epoch (from %v)", seed, h.giver == tablet.r.DeviceKey())
		}
		if h := tablet.r.epochs[ep.ID]; h == nil || !tablet.r.historical(h) {
			t.Fatalf("seed %d: setup: the tablet does not hold the phone's epoch as history", seed)
		}
		// A new device, linked after the revocation. The phone's feed reaches it first.
		d := c.newPeer("new", c.g, acct)
		c.approve(d1, d)
		for _, raw := range c.wire {
			if e := decode(t, raw); phoneFirst && e.Author != tablet.r.DeviceKey() {
				c.receive(d, raw)
			}
		}
		c.sync(d)
		if err := d.r.AnnounceOwner(d.lk); err != nil {
			t.Fatal(err)
		}
		c.flush(d)
		c.sync(d1, tablet, d)
		c.sync(d1, tablet, d)
		if d.r.epochs[ep.ID] == nil {
			t.Fatalf("seed %d: setup: the new device was not handed the phone's epoch", seed)
		}
		if !d.r.tainted(ep.ID) {
			t.Errorf("seed %d: the new device holds the revoked phone's epoch untainted (holders: phone %v, tablet %v, laptop %v, itself %v)", seed, d.r.holders[ep.ID][phone.r.DeviceKey()], d.r.holders[ep.ID][tablet.r.DeviceKey()], d.r.holders[ep.ID][d1.r.DeviceKey()], d.r.holders[ep.ID][d.r.DeviceKey()])
		}
		start := len(c.wire)
		if err := d.r.Post(&state.Event{Profile: &state.Profile{Name: "secret"}}, d.lk); err != nil {
			t.Fatal(err)
		}
		c.flush(d)
		for _, raw := range c.wire[start:] {
			if ev, err := phone.r.openMetadata(decode(t, raw)); err == nil && ev.Profile != nil {
				writes++
				t.Errorf("seed %d: the REVOKED PHONE reads what the new device wrote: %q", seed, ev.Profile.Name)
			}
		}
	}
	t.Logf("leaks: %d/20", writes)
}

// TestHolderFloodDoesNotHideLeakedRecord: a device that counts (the phone,
// before it is found out) fills the holder table with made-up epoch IDs
// (noteHolders takes any ID a counting author names). Every epoch made
// after has unknown holders; SealedWhereCut then says false for a key record
// sealed in an epoch the phone was handed, so rotationDue (§5.9 "a key is
// due") never fires and the account stays on a key the revoked phone read.
var floods = []bool{false, true}

func TestHolderFloodDoesNotHideLeakedRecord(t *testing.T) {
	for _, flood := range floods {
		f := newRevokeFixture(t, group.KindAccount, 11)
		c := f.c
		if flood {
			floodHolders(t, c, f.d2, f.d1, 5000)
		}
		boundedSync(c, 6)
		// Concurrently: the laptop revokes the phone; the tablet, which has
		// not seen it, moves the account to a new key.
		f.revoke(f.d1, f.d2)
		next, _ := keys.Generate(c.rnd)
		seed := next.Seed()
		rec := keys.NewSuccession(f.aliceAcct, next)
		if err := f.other.r.Post(&state.Event{Succeeded: &state.Succeeded{Record: rec, Seed: &seed}}, f.other.lk); err != nil {
			t.Fatal(err)
		}
		recEntry := c.flush(f.other).Entries
		var seq uint64
		for _, e := range recEntry {
			if e.Author == f.other.r.DeviceKey() && e.Kind == feed.KindMetadata {
				if ev, err := f.other.r.openMetadata(e); err == nil && ev.Succeeded != nil {
					seq = e.Seq
				}
			}
		}
		c.tolerate = []error{feed.ErrCutOff}
		boundedSync(c, 6)
		raw := c.entryOf(f.other.r.DeviceKey(), seq)
		ev, err := f.d2.r.openMetadata(decode(t, raw))
		phoneRead := err == nil && ev.Succeeded != nil
		due := f.d1.r.SealedWhereCut(f.other.r.DeviceKey(), seq, f.d1.lk)
		var eid group.EpochID
		copy(eid[:], decode(t, raw).Payload)
		hs := f.d1.r.holders[eid]
		cutHolders := 0
		for d := range hs {
			if _, cut := f.d1.r.State().Cutoff(d); cut {
				cutHolders++
			}
		}
		t.Logf("flood=%v: record in epoch 0: %v; holders known %v (%d, cut %d); tablet epochs %d", flood, eid == f.d1.r.zero, hs != nil, len(hs), cutHolders, len(f.other.r.epochs))
		t.Logf("flood=%v: the phone reads the tablet's new key: %v; the laptop sees it sealed where cut: %v", flood, phoneRead, due)
		if phoneRead && !due {
			t.Errorf("flood=%v: the revoked phone read the record of the new key, yet the laptop does not see it as sealed where cut (rotationDue stays false)", flood)
		}
	}
}
