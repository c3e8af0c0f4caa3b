package replica

// Device revocation (§5.6) at the replica level. Alice has two devices, d1
// and d2 (which d1 approved, §5.7); one more device reads and writes in the
// group: bob's in a multi-member or a contact group, alice's third device
// (approved by d1 too) in her account group.
// d1 revokes d2. Once the revocation is in, nothing d2 writes past its
// cut-off counts anywhere, every remaining device starts a chain sealed only
// to the devices that remain (d2 cannot read what is written afterwards), and
// everything from before the revocation stays readable everywhere — after a
// restart from the snapshot too, and whatever order the entries arrive in.

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/state"
)

// revokeFixture is a group where alice has devices d1 and d2 and other is a
// third device: bob's (multi-member and contact groups) or alice's own
// (account group). d1 is alice's first device and approved the others.
type revokeFixture struct {
	kind      group.Kind
	c         *cluster
	aliceAcct *keys.Pair
	d1, d2    *peer
	other     *peer
}

var revokeKinds = []group.Kind{group.KindMulti, group.KindContact, group.KindAccount}

// newRevokeFixture makes the group and syncs it: every device holds every
// other's chain.
func newRevokeFixture(t *testing.T, kind group.Kind, seed uint64) *revokeFixture {
	t.Helper()
	c := newCluster(t, seed)
	f := &revokeFixture{kind: kind, c: c}
	// owner announces a device of an owner group. A later device of the
	// same account syncs first, so that its announce sorts after the first
	// device's, and needs that device's approval (§5.7): approver gives it
	// before the announce.
	owner := func(name string, g *group.Group, acct *keys.Pair, approver *peer) *peer {
		p := c.newPeer(name, g, acct)
		if approver != nil {
			c.approve(approver, p)
			c.sync(p)
		}
		if err := p.r.AnnounceOwner(p.lk); err != nil {
			t.Fatalf("%s: announce: %v", name, err)
		}
		c.flush(p)
		return p
	}
	switch kind {
	case group.KindMulti:
		f.d1 = c.creator("alice d1")
		f.aliceAcct = f.d1.cfg.Account
		f.other = c.join(f.d1, "bob")
		c.sync()
		g := *c.g
		g.IDSeed = nil // a linked device gets the group from the account group, not the group key
		f.d2 = c.newPeer("alice d2", &g, f.aliceAcct)
		c.sync(f.d2) // a linked device syncs the group before announcing (AnnounceMember)
		if err := f.d2.r.AnnounceMember(f.d2.lk); err != nil {
			t.Fatal(err)
		}
		c.flush(f.d2)
		c.sync(f.d1)
		c.approve(f.d1, f.d2) // after the announce, which waited for it
	case group.KindContact:
		f.aliceAcct = c.newKey()
		bob := c.newKey()
		ga, err := group.Contact(f.aliceAcct, bob.Public())
		if err != nil {
			t.Fatal(err)
		}
		gb, err := group.Contact(bob, f.aliceAcct.Public())
		if err != nil {
			t.Fatal(err)
		}
		c.g = ga
		f.d1 = owner("alice d1", ga, f.aliceAcct, nil)
		f.d2 = owner("alice d2", ga, f.aliceAcct, f.d1)
		f.other = owner("bob", gb, bob, nil)
	case group.KindAccount:
		f.aliceAcct = c.newKey()
		c.g = group.Account(f.aliceAcct)
		f.d1 = owner("alice d1", c.g, f.aliceAcct, nil)
		f.d2 = owner("alice d2", c.g, f.aliceAcct, f.d1)
		f.other = owner("alice d3", c.g, f.aliceAcct, f.d1)
	}
	c.sync()
	for _, p := range f.peers() {
		if n := len(p.r.State().ActiveDevices()); n != 3 {
			t.Fatalf("%s: %d active devices after setup, want 3", p.name, n)
		}
	}
	return f
}

func (f *revokeFixture) peers() []*peer { return []*peer{f.d1, f.d2, f.other} }

func (f *revokeFixture) alice() keys.Public { return f.d1.r.MemberKey() }

// revoke has by revoke target's device and flushes; it returns the Ready.
func (f *revokeFixture) revoke(by, target *peer) Ready {
	f.c.t.Helper()
	if err := by.r.RevokeDevice(target.r.DeviceKey(), by.lk); err != nil {
		f.c.t.Fatalf("%s revokes %s: %v", by.name, target.name, err)
	}
	return f.c.flush(by)
}

// checkRevoked checks what p's state says of d2: revoked at cutoff, no
// longer one of alice's devices nor active, and d1 still is.
func (f *revokeFixture) checkRevoked(t *testing.T, p *peer, cutoff uint64) {
	t.Helper()
	s := p.r.State()
	d1, d2 := f.d1.r.DeviceKey(), f.d2.r.DeviceKey()
	m := s.Member(f.alice())
	if m == nil || m.Removed || !slices.Contains(m.Devices, d1) || slices.Contains(m.Devices, d2) {
		t.Fatalf("%s: alice %+v, want a member with d1 and without d2", p.name, m)
	}
	if c, ok := m.Revoked[d2]; !ok || c != cutoff {
		t.Errorf("%s: alice's revoked devices %v, want d2 at %d", p.name, m.Revoked, cutoff)
	}
	if c, ok := s.Cutoff(d2); !ok || c != cutoff {
		t.Errorf("%s: d2's cut-off %d (%v), want %d", p.name, c, ok, cutoff)
	}
	if !s.Writable(d2, cutoff) || s.Writable(d2, cutoff+1) {
		t.Errorf("%s: d2 writable at its cut-off %d: %v, past it: %v", p.name, cutoff, s.Writable(d2, cutoff), s.Writable(d2, cutoff+1))
	}
	if _, ok := s.Cutoff(d1); ok {
		t.Errorf("%s: d1 is cut off", p.name)
	}
	if act := s.ActiveDevices(); slices.Contains(act, d2) || !slices.Contains(act, d1) || !slices.Contains(act, f.other.r.DeviceKey()) {
		t.Errorf("%s: active devices %v, want d1 and %s without d2", p.name, act, f.other.name)
	}
}

// keyRecipients returns, for each chain-key entry among raws, its author
// and the devices its boxes are sealed to.
func keyRecipients(t *testing.T, p *peer, raws [][]byte) map[keys.Public][]keys.Public {
	t.Helper()
	out := map[keys.Public][]keys.Public{}
	for _, raw := range raws {
		e := decode(t, raw)
		if e.Kind != feed.KindMetadata {
			continue
		}
		ev, err := p.r.openMetadata(e)
		if errors.Is(err, errUnknownEpoch) {
			continue // key distributions are in epoch 0, which every device holds
		}
		if err != nil {
			t.Fatalf("open %s: %v", describe(e), err)
		}
		if ev.Keys == nil {
			continue
		}
		for _, b := range ev.Keys.Boxes {
			out[e.Author] = append(out[e.Author], b.Recipient)
		}
	}
	return out
}

// checkSealedTo checks that the chain keys among raws go to the remaining
// devices only, and that every author in want handed its chain to the
// devices listed for it.
func (f *revokeFixture) checkSealedTo(t *testing.T, raws [][]byte, want map[*peer][]*peer) {
	t.Helper()
	got := keyRecipients(t, f.d1, raws)
	d2 := f.d2.r.DeviceKey()
	for author, to := range got {
		if slices.Contains(to, d2) {
			t.Errorf("chain key of %s sealed to revoked d2 (recipients %v)", author, to)
		}
	}
	for author, tos := range want {
		for _, to := range tos {
			if !slices.Contains(got[author.r.DeviceKey()], to.r.DeviceKey()) {
				t.Errorf("%s gave no chain key to %s after the revocation (recipients %v)", author.name, to.name, got[author.r.DeviceKey()])
			}
		}
	}
}

// undecryptable returns the messages p reported it could not open.
func undecryptable(p *peer) map[msgKey]bool {
	out := map[msgKey]bool{}
	for _, e := range eventsOf(p.events, EventUndecryptable) {
		out[msgKey{e.Device, e.Seq}] = true
	}
	return out
}

// TestRevokeDevice: after the revocation is in everywhere, d1 and the other
// device read each other's new messages and d2 reads none of them (they are
// undecryptable to it); it can no longer send; what everyone wrote before
// stays readable everywhere.
func TestRevokeDevice(t *testing.T) {
	for i, kind := range revokeKinds {
		t.Run(kind.String(), func(t *testing.T) {
			f := newRevokeFixture(t, kind, 300+uint64(i))
			c := f.c
			before := []string{"d1 before", "d2 before", "other before"}
			for j, p := range f.peers() {
				c.send(p, before[j])
			}
			c.sync()
			for _, p := range f.peers() {
				for _, b := range before {
					if !p.hasBody(b) {
						t.Fatalf("%s does not read %q before the revocation", p.name, b)
					}
				}
			}
			cutoff := f.d1.r.Vector()[f.d2.r.DeviceKey()]
			start := len(c.wire)
			rd := f.revoke(f.d1, f.d2)
			evs := eventsOf(rd.Events, EventDeviceRevoked)
			if len(evs) != 1 || evs[0].Member != f.alice() || evs[0].Device != f.d2.r.DeviceKey() {
				t.Fatalf("d1's revocation events %+v, want one for alice's d2", rd.Events)
			}
			if len(eventsOf(rd.Events, EventRotated)) == 0 {
				t.Fatalf("d1 did not start a new chain when revoking: events %+v", rd.Events)
			}
			f.checkRevoked(t, f.d1, cutoff)

			c.tolerate = []error{feed.ErrCutOff}
			evStart := map[*peer]int{}
			for _, p := range f.peers() {
				evStart[p] = len(p.events)
			}
			c.sync()
			for _, p := range f.peers() {
				f.checkRevoked(t, p, cutoff)
				if p == f.d1 {
					continue
				}
				evs := eventsOf(p.events[evStart[p]:], EventDeviceRevoked)
				if len(evs) != 1 || evs[0].Member != f.alice() || evs[0].Device != f.d2.r.DeviceKey() {
					t.Errorf("%s: revocation events %+v, want one for alice's d2", p.name, evs)
				}
			}
			if len(eventsOf(f.other.events[evStart[f.other]:], EventRotated)) == 0 {
				t.Errorf("%s did not start a new chain on the revocation", f.other.name)
			}
			f.checkSealedTo(t, c.wire[start:], map[*peer][]*peer{f.d1: {f.other}, f.other: {f.d1}})

			if _, err := f.d2.r.Send([]byte("d2 revoked"), f.d2.lk); !errors.Is(err, ErrNotMember) {
				t.Errorf("revoked d2 sends: %v, want ErrNotMember", err)
			}
			if rd := c.flush(f.d2); len(rd.Outbox) != 0 {
				t.Errorf("revoked d2 published %d entries", len(rd.Outbox))
			}

			a := c.send(f.d1, "d1 after")
			o := c.send(f.other, "other after")
			c.sync()
			if !f.other.hasBody("d1 after") || !f.d1.hasBody("other after") {
				t.Fatal("d1 and the remaining device do not read each other after the revocation")
			}
			if f.d2.hasBody("d1 after") || f.d2.hasBody("other after") {
				t.Fatal("revoked d2 reads messages written after its revocation")
			}
			undec := undecryptable(f.d2)
			if !undec[msgKey{f.d1.r.DeviceKey(), a.Seq}] || !undec[msgKey{f.other.r.DeviceKey(), o.Seq}] {
				t.Errorf("d2 got no EventUndecryptable for the messages after its revocation: %+v", eventsOf(f.d2.events, EventUndecryptable))
			}
			for _, p := range f.peers() {
				for _, b := range before {
					if !p.hasBody(b) {
						t.Errorf("%s lost %q, written before the revocation", p.name, b)
					}
				}
				if p != f.d2 && len(undecryptable(p)) != 0 {
					t.Errorf("%s has undecryptable messages: %+v", p.name, eventsOf(p.events, EventUndecryptable))
				}
			}
		})
	}
}

// TestRevokedDeviceWritesPastCutoff: d2 keeps writing while d1 revokes it,
// then after it has the revocation too (forcing entries out). Its entries up
// to the cut-off (what d1 had seen) count everywhere; the ones past it are
// refused by a replica that has the revocation, and truncated by one that
// read them first.
func TestRevokedDeviceWritesPastCutoff(t *testing.T) {
	for i, kind := range revokeKinds {
		t.Run(kind.String(), func(t *testing.T) {
			f := newRevokeFixture(t, kind, 310+uint64(i))
			c := f.c
			d2 := f.d2.r.DeviceKey()
			seen := c.send(f.d2, "d2 seen by d1")
			c.receive(f.d1, c.entryOf(d2, seen.Seq))
			early := c.send(f.d2, "d2 concurrent, other reads it")
			rawEarly := c.entryOf(d2, early.Seq)
			late := c.send(f.d2, "d2 concurrent, unseen")
			rawLate := c.entryOf(d2, late.Seq)
			cutoff := f.d1.r.Vector()[d2]
			if cutoff != seen.Seq {
				t.Fatalf("d1 has d2 up to %d, want %d", cutoff, seen.Seq)
			}
			// The other device reads one of d2's concurrent messages before
			// the revocation reaches it.
			for _, raw := range [][]byte{c.entryOf(d2, seen.Seq), rawEarly} {
				c.receive(f.other, raw)
			}
			if !f.other.hasBody("d2 concurrent, other reads it") {
				t.Fatal("the other device does not read d2 before the revocation: not the case under test")
			}
			rd := f.revoke(f.d1, f.d2)
			c.tolerate = []error{feed.ErrCutOff}
			c.deliverAll(f.other, outboxOf(rd))
			f.checkRevoked(t, f.other, cutoff)
			if f.other.hasBody("d2 concurrent, other reads it") || f.other.truncated == 0 {
				t.Error("the other device keeps d2's message past the cut-off it read before the revocation")
			}
			for _, p := range []*peer{f.d1, f.other} {
				expectRejected(t, c, p, rawLate, feed.Refused, feed.ErrCutOff)
				expectRejected(t, c, p, rawEarly, feed.Refused, feed.ErrCutOff)
			}

			// d2 gets the revocation: its own entries past the cut-off go.
			c.sync()
			f.checkRevoked(t, f.d2, cutoff)
			if v := f.d2.r.Vector()[d2]; v != cutoff {
				t.Errorf("d2: its own feed at %d after its revocation, want the cut-off %d", v, cutoff)
			}
			// d2 ignores the revocation and writes anyway.
			forced := forceMessage(t, c, f.d2, bytes.Repeat([]byte{9}, 80))
			for _, p := range []*peer{f.d1, f.other} {
				expectRejected(t, c, p, forced, feed.Refused, feed.ErrCutOff)
			}
			c.sync()
			for _, p := range f.peers() {
				if !p.hasBody("d2 seen by d1") {
					t.Errorf("%s lost d2's message within its cut-off", p.name)
				}
				for _, b := range []string{"d2 concurrent, other reads it", "d2 concurrent, unseen"} {
					if p.hasBody(b) {
						t.Errorf("%s delivers %q, past d2's cut-off", p.name, b)
					}
				}
				if p == f.d2 {
					continue // its storage has what it forced out
				}
				if v := p.r.Vector()[d2]; v != cutoff {
					t.Errorf("%s: d2's feed at %d, want the cut-off %d", p.name, v, cutoff)
				}
				if p.r.Held() != 0 {
					t.Errorf("%s holds %d entries", p.name, p.r.Held())
				}
			}
		})
	}
}

// TestRevokeDeviceChecks: only another current device of the same member
// revokes. RevokeDevice refuses another member's device, the device itself,
// an unknown key, a device revoked already, and a revoked device's own
// attempt, writing nothing; a revocation forged past those checks (bob's,
// a self-revocation) is written but ignored by every replica.
func TestRevokeDeviceChecks(t *testing.T) {
	for i, kind := range revokeKinds {
		t.Run(kind.String(), func(t *testing.T) {
			f := newRevokeFixture(t, kind, 320+uint64(i))
			c := f.c
			d1, d2 := f.d1.r.DeviceKey(), f.d2.r.DeviceKey()
			refused := func(p *peer, device keys.Public, want error, what string) {
				t.Helper()
				if err := p.r.RevokeDevice(device, p.lk); !errors.Is(err, want) {
					t.Errorf("%s revokes %s: %v, want %v", p.name, what, err, want)
				}
				if rd := c.flush(p); len(rd.Outbox) != 0 || len(rd.Entries) != 0 {
					t.Errorf("%s revokes %s: %d entries published", p.name, what, len(rd.Outbox))
				}
			}
			refused(f.d1, d1, ErrRevokeSelf, "itself")
			refused(f.d1, c.newKey().Public(), ErrNoSuchDevice, "an unknown key")
			if kind == group.KindMulti {
				// The sibling's own key is not its key in the group.
				refused(f.d1, f.d2.cfg.Device.Public(), ErrNoSuchDevice, "d2's account-level key")
			}
			if kind != group.KindAccount {
				refused(f.other, d2, ErrNoSuchDevice, "alice's d2")
				refused(f.d1, f.other.r.DeviceKey(), ErrNoSuchDevice, "bob's device")
			}

			// Forged revocations: bob's of alice's d2 (where bob is another
			// member), and d2's of itself.
			var forgers []*peer
			if kind != group.KindAccount {
				forgers = append(forgers, f.other)
			}
			forgers = append(forgers, f.d2)
			for _, p := range forgers {
				if _, err := p.r.postMetadata(&state.Event{Revoked: &state.DeviceRevoked{Device: d2, Seq: 1}}, 0, nil); err != nil {
					t.Fatal(err)
				}
				c.flush(p)
			}
			c.sync()
			for _, p := range f.peers() {
				m := p.r.State().Member(f.alice())
				if len(m.Revoked) != 0 || !slices.Contains(m.Devices, d2) {
					t.Errorf("%s: a forged revocation counted: alice %+v", p.name, m)
				}
				if _, ok := p.r.State().Cutoff(d2); ok || len(eventsOf(p.events, EventDeviceRevoked)) != 0 {
					t.Errorf("%s: d2 cut off by a forged revocation (events %+v)", p.name, eventsOf(p.events, EventDeviceRevoked))
				}
			}
			c.send(f.d2, "d2 still counts")
			c.sync()
			for _, p := range f.peers() {
				if !p.hasBody("d2 still counts") {
					t.Errorf("%s does not read d2 after forged revocations", p.name)
				}
			}

			// A valid revocation; then neither a second one nor a
			// counter-revocation by the revoked device goes through.
			cutoff := f.d1.r.Vector()[d2]
			f.revoke(f.d1, f.d2)
			c.tolerate = []error{feed.ErrCutOff}
			c.sync()
			refused(f.d1, d2, ErrNoSuchDevice, "d2 again")
			refused(f.d2, d1, ErrNotMember, "d1, once revoked")
			c.sync()
			for _, p := range f.peers() {
				f.checkRevoked(t, p, cutoff)
			}
		})
	}
}

// TestRevocationSurvivesRestart: every replica restarts from its snapshot
// after the revocation — the other device in the middle of ingesting it,
// losing what it had not persisted — and still refuses d2 past its cut-off,
// reports the revocation once, and seals its next chains (the rotation it
// owed, a periodic one) to the remaining devices only.
func TestRevocationSurvivesRestart(t *testing.T) {
	for i, kind := range revokeKinds {
		t.Run(kind.String(), func(t *testing.T) {
			f := newRevokeFixture(t, kind, 330+uint64(i))
			c := f.c
			c.send(f.d2, "d2 before")
			c.sync()
			cutoff := f.d1.r.Vector()[f.d2.r.DeviceKey()]
			rd := f.revoke(f.d1, f.d2)
			start := len(c.wire)
			// The other device crashes while ingesting the revocation:
			// nothing of it was persisted, and it gets it again.
			for _, e := range rd.Outbox {
				if _, err := f.other.r.Receive(e.Encoded, f.other.lk); err != nil {
					t.Fatal(err)
				}
			}
			c.restart(f.other)
			if m := f.other.r.State().Member(f.alice()); len(m.Revoked) != 0 {
				t.Fatal("the restarted replica kept a revocation it never persisted")
			}
			c.tolerate = []error{feed.ErrCutOff}
			c.sync()
			f.checkRevoked(t, f.other, cutoff)
			f.checkSealedTo(t, c.wire[start:], map[*peer][]*peer{f.other: {f.d1}})

			for _, p := range f.peers() {
				c.restart(p)
				f.checkRevoked(t, p, cutoff)
			}
			forced := forceMessage(t, c, f.d2, bytes.Repeat([]byte{3}, 80))
			for _, p := range []*peer{f.d1, f.other} {
				expectRejected(t, c, p, forced, feed.Refused, feed.ErrCutOff)
			}
			// A metadata op after the restart: the replicas re-check
			// membership, and must not take the revocation for a new one.
			if err := f.d1.r.Post(&state.Event{Info: &state.GroupInfo{Name: "after the restart"}}, f.d1.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(f.d1)
			c.sync()
			// A periodic rotation after the restart.
			start = len(c.wire)
			for _, p := range []*peer{f.d1, f.other} {
				if err := p.r.Tick(DefaultRotateAfter+1, p.lk); err != nil {
					t.Fatal(err)
				}
				if rd := c.flush(p); len(eventsOf(rd.Events, EventRotated)) == 0 {
					t.Fatalf("%s: no rotation on Tick", p.name)
				}
			}
			f.checkSealedTo(t, c.wire[start:], map[*peer][]*peer{f.d1: {f.other}, f.other: {f.d1}})
			c.send(f.d1, "d1 after the restart")
			c.send(f.other, "other after the restart")
			c.sync()
			if !f.other.hasBody("d1 after the restart") || !f.d1.hasBody("other after the restart") {
				t.Error("the remaining devices do not read each other after the restart")
			}
			if f.d2.hasBody("d1 after the restart") || f.d2.hasBody("other after the restart") {
				t.Error("revoked d2 reads messages written after the restart")
			}
			for _, p := range f.peers() {
				if !p.hasBody("d2 before") {
					t.Errorf("%s lost d2's message from before the revocation", p.name)
				}
				if n := len(eventsOf(p.events, EventDeviceRevoked)); p != f.d2 && n != 1 {
					t.Errorf("%s reported the revocation %d times", p.name, n)
				}
			}
		})
	}
}

// revokeView renders what a replica must agree on after the revocation: its
// version vector, members with devices, cut-offs and revoked devices, and
// the messages it has delivered.
func revokeView(names map[keys.Public]string, p *peer) string {
	var b strings.Builder
	vec := p.r.Vector()
	for _, d := range sortedPublics(mapKeys(vec)) {
		if d == p.r.DeviceKey() {
			// How many key distributions p wrote itself depends on the order
			// it learnt the others' epochs in; what it reads does not.
			continue
		}
		fmt.Fprintf(&b, "%s:%d ", names[d], vec[d])
	}
	b.WriteString("\n")
	for _, m := range p.r.State().Members() {
		fmt.Fprintf(&b, "member removed=%v devices=", m.Removed)
		for _, d := range m.Devices {
			fmt.Fprintf(&b, "%s,", names[d])
		}
		b.WriteString(" revoked=")
		for _, d := range sortedPublics(mapKeys(m.Revoked)) {
			fmt.Fprintf(&b, "%s:%d,", names[d], m.Revoked[d])
		}
		b.WriteString("\n")
	}
	cuts := p.r.State().Cutoffs()
	for _, d := range sortedPublics(mapKeys(cuts)) {
		fmt.Fprintf(&b, "cut %s:%d\n", names[d], cuts[d])
	}
	var msgs []string
	for k, m := range p.msgs {
		msgs = append(msgs, fmt.Sprintf("%s/%d %q", names[k.author], k.seq, m.Body))
	}
	sort.Strings(msgs)
	b.WriteString(strings.Join(msgs, "\n"))
	return b.String()
}

func mapKeys[V any](m map[keys.Public]V) []keys.Public {
	out := make([]keys.Public, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRevocationAnyOrder: d2 writes within its cut-off and past it while d1
// revokes it and writes on its new chain. An observer (the other device as
// it was before all this) gets these entries in publication order, reversed,
// and shuffled with duplicates: it ends in the same state with the same
// messages every time — d2's up to its cut-off, d1's new one, nothing past
// the cut-off — whether it read d2's late messages first (then truncated
// them) or refused them.
func TestRevocationAnyOrder(t *testing.T) {
	for i, kind := range revokeKinds {
		t.Run(kind.String(), func(t *testing.T) {
			f := newRevokeFixture(t, kind, 340+uint64(i))
			c := f.c
			c.tolerate = []error{feed.ErrCutOff}
			c.send(f.d2, "d2 before")
			c.sync()
			cp := f.other.checkpoint()
			d2 := f.d2.r.DeviceKey()

			start := len(c.wire)
			within := c.send(f.d2, "d2 within")
			c.receive(f.d1, c.entryOf(d2, within.Seq))
			c.send(f.d2, "d2 past 1")
			c.send(f.d2, "d2 past 2")
			f.revoke(f.d1, f.d2)
			c.send(f.d1, "d1 after")
			burst := append([][]byte(nil), c.wire[start:]...)

			names := map[keys.Public]string{}
			for _, p := range f.peers() {
				names[p.r.DeviceKey()] = p.name
			}
			ref := c.fork(cp, "in order", nil)
			c.deliverAll(ref, burst)
			want := revokeView(names, ref)
			f.checkRevoked(t, ref, within.Seq)
			for _, b := range []string{"d2 before", "d2 within", "d1 after"} {
				if !ref.hasBody(b) {
					t.Fatalf("%q not delivered in publication order", b)
				}
			}
			if ref.hasBody("d2 past 1") || ref.hasBody("d2 past 2") {
				t.Fatal("d2's messages past its cut-off delivered in publication order")
			}

			orders := [][]int{make([]int, len(burst)), make([]int, len(burst))}
			for j := range burst {
				orders[0][j], orders[1][j] = j, len(burst)-1-j
			}
			orders = orders[1:] // publication order is ref
			rnd := rand.New(seededRand(uint64(i)))
			for range 30 {
				var o []int
				for j := range burst {
					for range 1 + rnd.IntN(2) {
						o = append(o, j)
					}
				}
				rnd.Shuffle(len(o), func(a, b int) { o[a], o[b] = o[b], o[a] })
				orders = append(orders, o)
			}
			truncated, refused := 0, 0
			for n, order := range orders {
				obs := c.fork(cp, fmt.Sprintf("order %d", n), nil)
				for _, j := range order {
					if _, err := c.receive(obs, burst[j]); errors.Is(err, feed.ErrCutOff) {
						refused++
					}
				}
				truncated += obs.truncated
				if got := revokeView(names, obs); got != want {
					t.Fatalf("order %v gives\n%s\npublication order gives\n%s", order, got, want)
				}
				if obs.r.Held() != 0 {
					t.Errorf("order %v: %d entries still held", order, obs.r.Held())
				}
			}
			if truncated == 0 || refused == 0 {
				t.Fatalf("%d truncated messages, %d refused entries over %d orders: not the cases under test", truncated, refused, len(orders))
			}
		})
	}
}

// TestRemovalKeepsRevokedDeviceHistory: alice's d1 revokes d2, then bob, an
// admin, removes alice. d2's messages from before its revocation counted
// and were read by everyone; alice's removal must not take them back: d2
// stays cut at its revocation's cut-off, not at 0 because the removal no
// longer sees it among alice's devices.
func TestRemovalKeepsRevokedDeviceHistory(t *testing.T) {
	f := newRevokeFixture(t, group.KindMulti, 350)
	c := f.c
	bob := f.other
	if err := f.d1.r.GrantAdmin(bob.r.MemberKey(), f.d1.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(f.d1)
	c.send(f.d2, "d2 before its revocation")
	c.sync()
	cutoff := f.d1.r.Vector()[f.d2.r.DeviceKey()]
	f.revoke(f.d1, f.d2)
	c.tolerate = []error{feed.ErrCutOff}
	c.sync()
	c.remove(bob, f.d1)
	c.sync()
	for _, p := range f.peers() {
		if p == f.d2 {
			// Revoked, d2 holds no epoch written after its revocation: it
			// does not even read that alice was removed (§3.4).
			if m := p.r.State().Member(f.alice()); m == nil || m.Removed {
				t.Errorf("d2, revoked, read alice's removal: %+v", m)
			}
			continue
		}
		if m := p.r.State().Member(f.alice()); m == nil || !m.Removed {
			t.Fatalf("%s: alice %+v, want removed", p.name, m)
		}
		if c, ok := p.r.State().Cutoff(f.d2.r.DeviceKey()); !ok || c != cutoff {
			t.Errorf("%s: d2 cut at %d (%v) after alice's removal, want its revocation's cut-off %d", p.name, c, ok, cutoff)
		}
		if !p.hasBody("d2 before its revocation") {
			t.Errorf("%s lost d2's message from before its revocation when alice was removed", p.name)
		}
	}
}

// TestRevokedDeviceCannotComeBack: a revoked device that ignores its
// revocation (a stolen phone) still holds the account secret. It makes a new
// device key, announces it as one more device of alice, and approves it
// (§5.7) — an approval past its cut-off, which counts nowhere; the new
// device approves itself too, which counts for nothing either. The remaining
// devices must not hand it their chains: its announce waits for an approval
// everywhere, it is no active device and cannot send, and what they write
// after the revocation stays unreadable to whoever holds the revoked device.
//
// Before device approvals a certificate signed by the (per-group) member key
// was all a later device's announce needed (ProofMember, ProofOwner), and
// this test failed: revocation only bound a device that obeyed it.
func TestRevokedDeviceCannotComeBack(t *testing.T) {
	for i, kind := range revokeKinds {
		t.Run(kind.String(), func(t *testing.T) {
			f := newRevokeFixture(t, kind, 360+uint64(i))
			c := f.c
			f.revoke(f.d1, f.d2)
			c.tolerate = []error{feed.ErrCutOff}
			c.sync()
			start := len(c.wire)
			// The thief's new device, with the account key pair d2 holds.
			thief := c.newPeer("d2 under a new key", f.d2.cfg.Group, f.d2.cfg.Account)
			tk := thief.r.DeviceKey()
			c.sync(thief)
			var err error
			if kind == group.KindMulti {
				err = thief.r.AnnounceMember(thief.lk)
			} else {
				err = thief.r.AnnounceOwner(thief.lk)
			}
			if err != nil {
				t.Fatalf("the thief's announce: %v", err) // valid signatures: it waits, it is not refused
			}
			c.flush(thief)
			// The stolen phone certifies the new key. Its replica refuses
			// (d2 is no current device), so it writes the approval itself.
			if err := f.d2.r.ApproveDevice(tk, f.d2.lk); !errors.Is(err, ErrNotMember) {
				t.Errorf("revoked d2 approves a device: %v, want ErrNotMember", err)
			}
			c.flush(f.d2)
			for _, by := range []*peer{f.d2, thief} {
				if _, err := by.r.postMetadata(&state.Event{Approved: &state.DeviceApproved{Device: tk}}, 0, nil); err != nil {
					t.Fatal(err)
				}
				c.flush(by)
			}
			c.sync()
			c.send(f.d1, "d1 after the revocation")
			c.send(f.other, "other after the revocation")
			c.sync()
			if thief.hasBody("d1 after the revocation") || thief.hasBody("other after the revocation") {
				t.Errorf("the revoked device's holder reads the group again under a new device key (alice's devices at d1: %v)",
					f.d1.r.State().Member(f.alice()).Devices)
			}
			for _, p := range []*peer{f.d1, f.other} {
				s := p.r.State()
				if s.Device(tk) != nil || !s.Pending(tk) || slices.Contains(s.ActiveDevices(), tk) {
					t.Errorf("%s: the thief's device counts (device %v, waiting %v, active devices %v)",
						p.name, s.Device(tk) != nil, s.Pending(tk), s.ActiveDevices())
				}
			}
			for author, to := range keyRecipients(t, f.d1, c.wire[start:]) {
				if slices.Contains(to, tk) {
					t.Errorf("chain key of %s sealed to the thief's device", author)
				}
			}
			// The thief's own replica may not know it waits: in a
			// multi-member group the revocation is sealed in an epoch it
			// lacks, so it reads only d2's approval. Whatever it then
			// writes, no one reads.
			if _, err := thief.r.Send([]byte("thief"), thief.lk); err == nil {
				c.flush(thief)
				c.sync()
			} else if !errors.Is(err, ErrNotApproved) {
				t.Errorf("the thief's device sends: %v, want ErrNotApproved or nothing read", err)
			}
			for _, p := range []*peer{f.d1, f.other} {
				if p.hasBody("thief") {
					t.Errorf("%s reads the thief's message", p.name)
				}
			}
		})
	}
}

// TestRevokedDeviceCannotBecomeItsSibling is finding 2 of the v1 review: a
// device's key in a multi-member group derived from the account secret, so
// a revoked phone — which keeps that secret — computed its siblings' keys,
// opened the boxes sealed to them and could sign as them. Now the key
// derives from the device's own secret (§3.2): whatever the phone derives
// from the account secret is not d1's key, and opens none of the boxes
// sealed to d1, before or after the revocation.
func TestRevokedDeviceCannotBecomeItsSibling(t *testing.T) {
	f := newRevokeFixture(t, group.KindMulti, 370)
	c := f.c
	f.revoke(f.d1, f.d2)
	c.tolerate = []error{feed.ErrCutOff}
	c.sync()
	c.send(f.d1, "d1 after the revocation")
	c.send(f.other, "other after the revocation")
	c.sync()
	d1 := f.d1.r.DeviceKey()
	gid, d1own := f.d1.cfg.Group.ID, f.d1.cfg.Device.Public()
	var guesses []*keys.Pair
	for _, salt := range [][]byte{append(gid[:], d1own[:]...), gid[:]} {
		for _, label := range []string{"berty/v1/device-key", "berty/v2/device-key"} {
			guesses = append(guesses, f.aliceAcct.Derive(salt, label))
		}
	}
	for _, g := range guesses {
		if g.Public() == d1 {
			t.Fatal("the revoked phone computes d1's key in the group from the account secret")
		}
	}
	opened := 0
	for _, raw := range c.wire {
		e := decode(t, raw)
		if e.Kind != feed.KindMetadata {
			continue
		}
		ev, err := f.d1.r.openMetadata(e)
		if err != nil || ev.Keys == nil {
			continue
		}
		for _, b := range ev.Keys.Boxes {
			if b.Recipient != d1 {
				continue
			}
			for _, g := range guesses {
				if _, err := seal.OpenBox(g.LegacyAgreement(), b.Sealed, chainKeyAD(&f.d1.r.g.Keys.Topic, e.Author, ev.Keys.Epoch)); err == nil {
					opened++
				}
			}
		}
	}
	if opened != 0 {
		t.Errorf("the revoked phone opened %d boxes sealed to d1", opened)
	}
	if f.d2.hasBody("d1 after the revocation") || f.d2.hasBody("other after the revocation") {
		t.Error("the revoked phone reads what was written after its revocation")
	}
}
