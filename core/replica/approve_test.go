package replica

// Device approval (§5.7) at the replica level. A member's first device in a
// group counts without approval; every later one counts only once a current
// device of the same member approves it, before or after its announce. Until
// then it cannot send, no replica seals a chain key to it or takes one from
// it, and nothing it writes is delivered.

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/ratchet"
	"github.com/berty-go/berty/core/state"
)

// approve has by approve target's device in the group (§5.7) and flushes;
// it returns the Ready.
func (c *cluster) approve(by, target *peer) Ready {
	c.t.Helper()
	if err := by.r.ApproveDevice(target.r.DeviceKey(), by.lk); err != nil {
		c.t.Fatalf("%s approves %s: %v", by.name, target.name, err)
	}
	return c.flush(by)
}

// approveFixture is a synced group where alice's first device d1 and one
// more device read and write: bob's (multi-member and contact groups) or
// alice's d3, approved by d1 (account group).
type approveFixture struct {
	kind  group.Kind
	c     *cluster
	acct  *keys.Pair   // alice's account
	g     *group.Group // the group as alice's later devices get it
	d1    *peer
	other *peer
}

func newApproveFixture(t *testing.T, kind group.Kind, seed uint64) *approveFixture {
	t.Helper()
	c := newCluster(t, seed)
	f := &approveFixture{kind: kind, c: c}
	owner := func(name string, g *group.Group, acct *keys.Pair) *peer {
		p := c.newPeer(name, g, acct)
		if err := p.r.AnnounceOwner(p.lk); err != nil {
			t.Fatalf("%s: announce: %v", name, err)
		}
		c.flush(p)
		return p
	}
	switch kind {
	case group.KindMulti:
		f.d1 = c.creator("alice d1")
		f.acct = f.d1.cfg.Account
		f.other = c.join(f.d1, "bob")
		g := *c.g
		g.IDSeed = nil // a linked device gets the group from the account group, not the group key
		f.g = &g
	case group.KindContact:
		f.acct = c.newKey()
		bob := c.newKey()
		ga, err := group.Contact(f.acct, bob.Public())
		if err != nil {
			t.Fatal(err)
		}
		gb, err := group.Contact(bob, f.acct.Public())
		if err != nil {
			t.Fatal(err)
		}
		c.g, f.g = ga, ga
		f.d1 = owner("alice d1", ga, f.acct)
		f.other = owner("bob", gb, bob)
	case group.KindAccount:
		f.acct = c.newKey()
		c.g = group.Account(f.acct)
		f.g = c.g
		f.d1 = owner("alice d1", c.g, f.acct)
		c.sync()
		f.other = f.newDevice("alice d3")
		c.approve(f.d1, f.other)
		c.sync(f.other)
		f.announce(f.other)
	}
	c.sync()
	for _, p := range f.readers() {
		if n := len(p.r.State().ActiveDevices()); n != 2 {
			t.Fatalf("%s: %d active devices after setup, want 2", p.name, n)
		}
	}
	return f
}

func (f *approveFixture) readers() []*peer { return []*peer{f.d1, f.other} }

// newDevice makes one more device of alice's account, synced with the group
// (a linked device syncs before it announces) but not announced.
func (f *approveFixture) newDevice(name string) *peer {
	f.c.t.Helper()
	p := f.c.newPeer(name, f.g, f.acct)
	f.c.sync(p)
	return p
}

// announce writes p's announce with the proof of alice's later devices in
// the group's kind, and flushes.
func (f *approveFixture) announce(p *peer) {
	f.c.t.Helper()
	var err error
	if f.kind == group.KindMulti {
		err = p.r.AnnounceMember(p.lk)
	} else {
		err = p.r.AnnounceOwner(p.lk)
	}
	if err != nil {
		f.c.t.Fatalf("%s: announce: %v", p.name, err)
	}
	f.c.flush(p)
}

// checkWaiting checks that p's replica does not count dev: its announce
// waits, it is no device and no active device, p holds no chain of it.
func checkWaiting(t *testing.T, p *peer, dev keys.Public, what string) {
	t.Helper()
	s := p.r.State()
	if s.Device(dev) != nil || !s.Pending(dev) || slices.Contains(s.ActiveDevices(), dev) || s.Writable(dev, 2) {
		t.Errorf("%s: %s counts (device %v, waiting %v, active devices %v)", p.name, what, s.Device(dev) != nil, s.Pending(dev), s.ActiveDevices())
	}
	if p.r.recv[dev] != nil {
		t.Errorf("%s took the chain key of %s", p.name, what)
	}
}

// checkSealedToNone checks that no chain key among raws is sealed to dev.
func checkSealedToNone(t *testing.T, p *peer, raws [][]byte, dev keys.Public, what string) {
	t.Helper()
	for author, to := range keyRecipients(t, p, raws) {
		if slices.Contains(to, dev) {
			t.Errorf("chain key of %s sealed to %s", author, what)
		}
	}
}

// forgeChainAndMessage makes p start a chain, seal it to the devices it
// sees as active and write a message on it, whatever its own checks say: a
// device that waits for an approval and writes anyway.
func forgeChainAndMessage(t *testing.T, c *cluster, p *peer, body string) [][]byte {
	t.Helper()
	if err := p.r.newEpoch(); err != nil {
		t.Fatal(err)
	}
	if err := p.r.distribute(p.lk); err != nil {
		t.Fatal(err)
	}
	self := p.r.DeviceKey()
	_, err := p.r.appendLocal(feed.KindMessage, 0, nil, func(seq uint64) ([]byte, error) {
		return ratchet.SealMessage(p.r.send, &p.r.g.Keys.Header, p.r.binding(self, seq), []byte(body), p.r.cfg.Rand)
	})
	if err != nil {
		t.Fatal(err)
	}
	rd := c.flush(p)
	if len(keyRecipients(t, p, outboxOf(rd))[self]) == 0 {
		t.Fatalf("%s sealed its forged chain to nobody: not the case under test", p.name)
	}
	return outboxOf(rd)
}

// TestDeviceApproval: alice's second device d2 announces itself. Until d1
// approves it, it cannot send, the other replicas seal no chain key to it,
// it reads nothing, and a chain and message it forges anyway are neither
// taken nor delivered. Once approved — the approval written before its
// announce or after it — it sends and reads new messages, and the others
// read it. In every kind of group.
func TestDeviceApproval(t *testing.T) {
	for i, kind := range revokeKinds {
		for _, before := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/approval before the announce=%v", kind, before), func(t *testing.T) {
				seed := 400 + 10*uint64(i)
				if before {
					seed++
				}
				f := newApproveFixture(t, kind, seed)
				c := f.c
				d2 := f.newDevice("alice d2")
				dk := d2.r.DeviceKey()
				start := len(c.wire)
				if before {
					c.approve(f.d1, d2)
					if !f.d1.r.State().Approved(dk, f.d1.r.MemberKey()) {
						t.Fatal("d1 holds no approval for d2 before its announce")
					}
					c.sync(d2)
				}
				f.announce(d2)
				c.sync()
				if !before {
					f.checkWaits(t, d2, start)
					c.approve(f.d1, d2)
					c.sync()
				}
				for _, p := range append(f.readers(), d2) {
					s := p.r.State()
					if s.Device(dk) == nil || s.Pending(dk) || s.Approved(dk, f.d1.r.MemberKey()) || !slices.Contains(s.ActiveDevices(), dk) {
						t.Fatalf("%s: approved d2 does not count (waiting %v, active devices %v)", p.name, s.Pending(dk), s.ActiveDevices())
					}
				}
				c.send(d2, "d2 approved")
				c.send(f.d1, "d1 after the approval")
				c.send(f.other, "other after the approval")
				c.sync()
				for _, p := range append(f.readers(), d2) {
					for _, b := range []string{"d2 approved", "d1 after the approval", "other after the approval"} {
						if !p.hasBody(b) {
							t.Errorf("%s does not read %q", p.name, b)
						}
					}
					if p != d2 && len(undecryptable(p)) != 0 {
						t.Errorf("%s has undecryptable messages: %+v", p.name, eventsOf(p.events, EventUndecryptable))
					}
				}
			})
		}
	}
}

// checkWaits checks a device whose announce is in everywhere and that no
// device approved: everything published since start (its announce on) and
// everything it would write.
func (f *approveFixture) checkWaits(t *testing.T, d2 *peer, start int) {
	t.Helper()
	c := f.c
	dk := d2.r.DeviceKey()
	if !d2.r.State().Pending(dk) {
		t.Fatal("d2 does not know it waits for an approval")
	}
	if _, err := d2.r.Send([]byte("d2 waits"), d2.lk); !errors.Is(err, ErrNotApproved) {
		t.Errorf("d2 sends before its approval: %v, want ErrNotApproved", err)
	}
	if rd := c.flush(d2); len(rd.Outbox) != 0 {
		t.Errorf("d2 published %d entries before its approval", len(rd.Outbox))
	}
	c.send(f.d1, "d1 while d2 waits")
	c.send(f.other, "other while d2 waits")
	c.sync()
	for _, p := range f.readers() {
		checkWaiting(t, p, dk, "d2")
	}
	checkSealedToNone(t, f.d1, c.wire[start:], dk, "d2, not approved")
	if d2.hasBody("d1 while d2 waits") || d2.hasBody("other while d2 waits") {
		t.Error("d2 reads the group before its approval")
	}
	// d2 writes a chain and a message anyway: copies of the readers get
	// them (copies, so that d2's real feed does not fork).
	forger := c.fork(d2.checkpoint(), "d2 forging", nil)
	forged := forgeChainAndMessage(t, c, forger, "d2 forged while waiting")
	for _, p := range f.readers() {
		obs := c.fork(p.checkpoint(), p.name+" observing", nil)
		c.deliverAll(obs, forged)
		if obs.r.Vector()[dk] != forger.r.Vector()[dk] {
			t.Fatalf("%s did not ingest d2's forged entries: not the case under test", obs.name)
		}
		if obs.hasBody("d2 forged while waiting") {
			t.Errorf("%s delivers the message of d2, not approved", p.name)
		}
		checkWaiting(t, obs, dk, "d2")
	}
}

// TestUnapprovedDeviceAnyOrder: a thief holds alice's account key (a stolen
// backup) and announces a device of alice, which no device of hers ever
// approves; it approves itself, forges a chain sealed to alice's devices and
// writes on it. Meanwhile d1 approves alice's real new device d2, and both
// write. An observer (the other device as it was before all this) that gets
// all this in publication order,
// reversed, and shuffled with duplicates ends in the same state every time,
// with d2 counted and the thief waiting; it seals no chain key to the thief
// nor delivers its message; and the thief, getting the same entries in any
// order, reads nothing.
func TestUnapprovedDeviceAnyOrder(t *testing.T) {
	for i, kind := range revokeKinds {
		t.Run(kind.String(), func(t *testing.T) {
			f := newApproveFixture(t, kind, 500+uint64(i))
			c := f.c
			d2 := f.newDevice("alice d2")
			thief := f.newDevice("thief")
			tk, dk := thief.r.DeviceKey(), d2.r.DeviceKey()
			cpOther := f.other.checkpoint()
			start := len(c.wire)

			f.announce(thief)
			if _, err := thief.r.postMetadata(&state.Event{Approved: &state.DeviceApproved{Device: tk}}, 0, nil); err != nil {
				t.Fatal(err)
			}
			c.flush(thief)
			forgeChainAndMessage(t, c, thief, "thief")
			cpThief := thief.checkpoint() // its own entries, and nothing of what follows
			c.approve(f.d1, d2)
			c.sync(d2)
			f.announce(d2)
			// The other device stays out: the observers are copies of it
			// from before, whose own entries must not fork its feed.
			writers := []*peer{f.d1, d2, thief}
			c.sync(writers...)
			c.send(d2, "d2")
			c.send(f.d1, "d1")
			c.sync(writers...)
			burst := append([][]byte(nil), c.wire[start:]...)

			names := map[keys.Public]string{tk: "thief", dk: "d2"}
			for _, p := range f.readers() {
				names[p.r.DeviceKey()] = p.name
			}
			check := func(obs *peer, order string) string {
				t.Helper()
				s := obs.r.State()
				if s.Device(dk) == nil || !slices.Contains(s.ActiveDevices(), dk) {
					t.Fatalf("%s: d2 does not count", order)
				}
				checkWaiting(t, obs, tk, "the thief's device")
				var own [][]byte
				for k, e := range obs.stored {
					if k.author == obs.r.DeviceKey() {
						own = append(own, e.Encoded)
					}
				}
				checkSealedToNone(t, obs, own, tk, "the thief's device")
				for _, b := range []string{"d2", "d1"} {
					if !obs.hasBody(b) {
						t.Errorf("%s: %q not delivered", order, b)
					}
				}
				if obs.hasBody("thief") {
					t.Errorf("%s: the thief's message delivered", order)
				}
				if obs.r.Held() != 0 {
					t.Errorf("%s: %d entries still held", order, obs.r.Held())
				}
				return revokeView(names, obs)
			}
			ref := c.fork(cpOther, "in order", nil)
			c.deliverAll(ref, burst)
			want := check(ref, "publication order")
			checkSealedToNone(t, f.d1, c.wire, tk, "the thief's device")
			if len(thief.msgs) != 0 {
				t.Errorf("the thief read %d messages", len(thief.msgs))
			}

			orders := [][]int{make([]int, len(burst))}
			for j := range burst {
				orders[0][j] = len(burst) - 1 - j
			}
			rnd := rand.New(seededRand(uint64(500 + i)))
			for range 20 {
				var o []int
				for j := range burst {
					for range 1 + rnd.IntN(2) {
						o = append(o, j)
					}
				}
				rnd.Shuffle(len(o), func(a, b int) { o[a], o[b] = o[b], o[a] })
				orders = append(orders, o)
			}
			for n, order := range orders {
				name := fmt.Sprintf("order %d", n)
				obs := c.fork(cpOther, name, nil)
				th := c.fork(cpThief, "thief "+name, nil)
				for _, j := range order {
					c.receive(obs, burst[j])
					c.receive(th, burst[j])
				}
				if got := check(obs, name); got != want {
					t.Fatalf("%s %v gives\n%s\npublication order gives\n%s", name, order, got, want)
				}
				if len(th.msgs) != 0 || len(th.r.recv) != 0 {
					t.Errorf("%s: the thief read %d messages and holds %d chains", name, len(th.msgs), len(th.r.recv))
				}
			}
		})
	}
}

// TestConcurrentFirstDevicesChainKey: alice's d1 and d2 announce themselves
// in a contact group at once, each believing it is her first device (both
// accepted the same contact request). The one whose announce sorts first
// counts; the other, the loser, had already handed its chain to bob before it
// saw the winner, and bob, who had both announces, did not take a chain from
// a device that waits. Once the winner approves the loser, bob must read
// what the loser writes.
func TestConcurrentFirstDevicesChainKey(t *testing.T) {
	c := newCluster(t, 600)
	acct, bobAcct := c.newKey(), c.newKey()
	ga, err := group.Contact(acct, bobAcct.Public())
	if err != nil {
		t.Fatal(err)
	}
	gb, err := group.Contact(bobAcct, acct.Public())
	if err != nil {
		t.Fatal(err)
	}
	c.g = ga
	// owner announces a device; it returns the announce and what follows it
	// in the same batch (its key update, §6.4).
	owner := func(name string, g *group.Group, acct *keys.Pair) (*peer, *feed.Entry, []*feed.Entry) {
		p := c.newPeer(name, g, acct)
		if err := p.r.AnnounceOwner(p.lk); err != nil {
			t.Fatal(err)
		}
		out := c.flush(p).Outbox
		return p, out[0], out
	}
	d1, a1, _ := owner("alice d1", ga, acct)
	d2, a2, _ := owner("alice d2", ga, acct)
	bob, _, bobBatch := owner("bob", gb, bobAcct)
	if a1.Lamport != a2.Lamport {
		t.Fatalf("announces at lamport %d and %d: not concurrent", a1.Lamport, a2.Lamport)
	}
	winner, loser := d1, d2
	if bytes.Compare(a2.ID[:], a1.ID[:]) < 0 {
		winner, loser = d2, d1
	}
	// The loser sees bob before the winner: it hands bob its chain.
	for _, e := range bobBatch {
		if _, err := loser.r.Receive(e.Encoded, loser.lk); err != nil {
			t.Fatal(err)
		}
	}
	rd := c.flush(loser)
	if to := keyRecipients(t, loser, outboxOf(rd))[loser.r.DeviceKey()]; !slices.Contains(to, bob.r.DeviceKey()) {
		t.Fatalf("the loser did not hand bob its chain (recipients %v): not the case under test", to)
	}
	c.sync()
	if !loser.r.State().Pending(loser.r.DeviceKey()) || !bob.r.State().Pending(loser.r.DeviceKey()) {
		t.Fatal("the loser does not wait for an approval: not the case under test")
	}
	c.approve(winner, loser)
	c.sync()
	c.send(loser, "from the loser")
	c.send(winner, "from the winner")
	c.send(bob, "from bob")
	c.sync()
	for _, p := range []*peer{winner, loser, bob} {
		for _, b := range []string{"from the loser", "from the winner", "from bob"} {
			if !p.hasBody(b) {
				t.Errorf("%s does not read %q (undecryptable: %v)", p.name, b, undecryptable(p))
			}
		}
	}
}

// TestApproveDeviceChecks: only a current device of the member approves,
// and approving a device twice, or one already in, writes nothing. A device
// that waits, or a revoked one, cannot approve; a revoked device cannot be
// approved back in; another member's approval of alice's device (bob's,
// in the multi-member and contact groups) is written but counts for nothing.
func TestApproveDeviceChecks(t *testing.T) {
	for i, kind := range revokeKinds {
		t.Run(kind.String(), func(t *testing.T) {
			f := newApproveFixture(t, kind, 700+uint64(i))
			c := f.c
			nothing := func(p *peer, what string) {
				t.Helper()
				if rd := c.flush(p); len(rd.Outbox) != 0 || len(rd.Entries) != 0 {
					t.Errorf("%s %s: %d entries published", p.name, what, len(rd.Outbox))
				}
			}
			d2 := f.newDevice("alice d2")
			dk := d2.r.DeviceKey()
			if err := d2.r.ApproveDevice(f.d1.r.DeviceKey(), d2.lk); !errors.Is(err, ErrNotMember) {
				t.Errorf("d2 approves before announcing: %v, want ErrNotMember", err)
			}
			nothing(d2, "approves before announcing")
			f.announce(d2)
			c.sync()
			d3 := f.newDevice("alice d3")
			if err := d2.r.ApproveDevice(d3.r.DeviceKey(), d2.lk); !errors.Is(err, ErrNotMember) {
				t.Errorf("d2, waiting, approves d3: %v, want ErrNotMember", err)
			}
			nothing(d2, "approves while waiting")
			if kind != group.KindAccount {
				c.approve(f.other, d2) // bob's approval of alice's device
				c.sync()
				for _, p := range append(f.readers(), d2) {
					checkWaiting(t, p, dk, "d2, approved by bob")
				}
			}
			c.approve(f.d1, d2)
			if err := f.d1.r.ApproveDevice(dk, f.d1.lk); err != nil {
				t.Errorf("d1 approves d2 again: %v", err)
			}
			nothing(f.d1, "approves d2 again")
			if err := f.d1.r.ApproveDevice(f.d1.r.DeviceKey(), f.d1.lk); err != nil {
				t.Errorf("d1 approves itself: %v", err)
			}
			nothing(f.d1, "approves itself")
			c.sync()
			if err := f.d1.r.RevokeDevice(dk, f.d1.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(f.d1)
			c.tolerate = []error{feed.ErrCutOff}
			c.sync()
			if err := f.d1.r.ApproveDevice(dk, f.d1.lk); !errors.Is(err, ErrRevokedDevice) {
				t.Errorf("d1 approves revoked d2: %v, want ErrRevokedDevice", err)
			}
			nothing(f.d1, "approves revoked d2")
			if err := d2.r.ApproveDevice(d3.r.DeviceKey(), d2.lk); !errors.Is(err, ErrNotMember) {
				t.Errorf("revoked d2 approves d3: %v, want ErrNotMember", err)
			}
			nothing(d2, "approves d3 once revoked")
		})
	}
}

// TestApprovalNotBlockedByAnotherMember: d1 approves alice's new device d2
// before its announce; bob, another member, approves the same key with an
// earlier clock (concurrently here; a member who read d1's approval can as
// well write his own at a clock just past his last entry). Bob's approval
// must not take the place of d1's: d2 counts once it announces.
func TestApprovalNotBlockedByAnotherMember(t *testing.T) {
	f := newApproveFixture(t, group.KindMulti, 800)
	c := f.c
	d2 := f.newDevice("alice d2")
	for i := range 3 {
		c.send(f.d1, fmt.Sprintf("d1 %d", i)) // d1's clock runs ahead of bob's
	}
	byD1 := c.approve(f.d1, d2).Outbox[0]
	byBob := c.approve(f.other, d2).Outbox[0]
	if byBob.Lamport >= byD1.Lamport {
		t.Fatalf("bob's approval at lamport %d, d1's at %d: not the case under test", byBob.Lamport, byD1.Lamport)
	}
	c.sync()
	f.announce(d2)
	c.sync()
	for _, p := range append(f.readers(), d2) {
		if s := p.r.State(); s.Device(d2.r.DeviceKey()) == nil {
			t.Errorf("%s: d2, approved by d1, does not count (waiting %v)", p.name, s.Pending(d2.r.DeviceKey()))
		}
	}
	if err := f.d1.r.ApproveDevice(d2.r.DeviceKey(), f.d1.lk); err != nil {
		t.Fatal(err)
	}
	if rd := c.flush(f.d1); len(rd.Outbox) == 0 && f.d1.r.State().Device(d2.r.DeviceKey()) == nil {
		t.Error("d1 cannot approve d2 again: its ApproveDevice takes bob's approval for its own")
	}
}
