package replica

import (
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/state"
)

// agreePair makes alice and bob, the two members of a group of the given
// kind, with one device each, synced; a rotation is due after 10 seconds.
func agreePair(t *testing.T, kind group.Kind, seed uint64, conf func(*Config)) (c *cluster, alice, bob *peer) {
	t.Helper()
	c = newCluster(t, seed)
	c.configure = func(cfg *Config) {
		cfg.RotateAfter = 10
		if conf != nil {
			conf(cfg)
		}
	}
	if kind == group.KindMulti {
		alice = c.creator("alice")
		bob = c.join(alice, "bob")
	} else {
		aAcct, bAcct := c.newKey(), c.newKey()
		ga, err := group.Contact(aAcct, bAcct.Public())
		if err != nil {
			t.Fatal(err)
		}
		gb, err := group.Contact(bAcct, aAcct.Public())
		if err != nil {
			t.Fatal(err)
		}
		c.g = ga
		alice, bob = c.newPeer("alice", ga, aAcct), c.newPeer("bob", gb, bAcct)
		for _, p := range []*peer{alice, bob} {
			if err := p.r.AnnounceOwner(p.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(p)
		}
	}
	c.sync()
	return c, alice, bob
}

// sealedBox is a chain-key box as published, with what opens it.
type sealedBox struct {
	keys *state.ChainKeys
	box  state.Box
	ad   []byte
}

// boxesTo returns the chain-key boxes addressed to device that author
// published so far.
func boxesTo(t *testing.T, c *cluster, p *peer, author, device keys.Public) []sealedBox {
	t.Helper()
	var out []sealedBox
	for _, raw := range c.wire {
		e := decode(t, raw)
		if e.Author != author || e.Kind != feed.KindMetadata {
			continue
		}
		ev, err := p.r.openMetadata(e)
		if err != nil || ev.Keys == nil {
			continue
		}
		for _, b := range ev.Keys.Boxes {
			if b.Recipient == device {
				out = append(out, sealedBox{ev.Keys, b, chainKeyAD(&p.r.g.Keys.Topic, author, ev.Keys.Epoch)})
			}
		}
	}
	return out
}

// opensAny reports how many of the boxes some key of a replica restored from
// snap — whatever seq the box names — or the key its device seed derives
// opens: what a thief holding the device's seed and its stored state can
// read.
func opensAny(t *testing.T, p *peer, snap []byte, boxes []sealedBox) int {
	t.Helper()
	r, err := New(p.cfg, snap)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range boxes {
		opened := false
		for _, k := range r.own {
			if k.hybrid != nil {
				if _, err := seal.OpenHybrid(k.hybrid, b.box.Sealed, b.ad); err == nil {
					opened = true
				}
			}
		}
		if _, err := seal.OpenBox(r.device.LegacyAgreement(), b.box.Sealed, b.ad); err == nil {
			opened = true
		}
		if opened {
			n++
		}
	}
	return n
}

func tick(t *testing.T, c *cluster, p *peer, now int64) {
	t.Helper()
	if err := p.r.Tick(now, p.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(p)
}

// TestForwardSecrecyAfterKeyUpdate (§6.4): bob's chain reached alice in
// boxes sealed to her key. Once alice has replaced that key and bob has
// shown (by writing) that he saw the replacement, alice deletes it: her
// stored state and her device seed, stolen then, open none of those boxes,
// so the messages bob sent before cannot be read from them. Before the
// update the same theft opens them (the test can fail). In every kind of
// group.
func TestForwardSecrecyAfterKeyUpdate(t *testing.T) {
	for _, kind := range []group.Kind{group.KindMulti, group.KindContact} {
		c, alice, bob := agreePair(t, kind, 91, nil)
		c.send(bob, "before the update")
		c.sync()
		if !alice.hasBody("before the update") {
			t.Fatalf("kind %d: setup: alice does not read bob", kind)
		}
		boxes := boxesTo(t, c, alice, bob.r.DeviceKey(), alice.r.DeviceKey())
		if len(boxes) == 0 {
			t.Fatalf("kind %d: setup: no box from bob to alice", kind)
		}
		if n := opensAny(t, alice, alice.snap, boxes); n != len(boxes) {
			t.Fatalf("kind %d: before any update, alice's stored state opens %d of bob's %d boxes, want all", kind, n, len(boxes))
		}
		// Alice rotates: a new chain and a new key-agreement key.
		tick(t, c, alice, 100)
		if len(alice.r.own) != 2 {
			t.Fatalf("kind %d: after her rotation alice holds %d keys, want the new and the old one (bob has not seen the update)", kind, len(alice.r.own))
		}
		c.sync()
		if n := opensAny(t, alice, alice.snap, boxes); n != len(boxes) {
			t.Fatalf("kind %d: alice deleted her old key before bob wrote anything after her update (%d of %d boxes open)", kind, n, len(boxes))
		}
		// Bob writes: his entry depends on alice's update.
		c.send(bob, "after the update")
		c.sync()
		if !alice.hasBody("after the update") {
			t.Fatalf("kind %d: alice does not read bob after her key update", kind)
		}
		if len(alice.r.own) != 1 {
			t.Fatalf("kind %d: alice still holds %d keys once bob has seen her update", kind, len(alice.r.own))
		}
		if n := opensAny(t, alice, alice.snap, boxes); n != 0 {
			t.Errorf("kind %d: a thief with alice's seed and stored state opens %d of bob's %d boxes from before her update", kind, n, len(boxes))
		}
	}
}

// TestPostCompromiseRecovery (§6.4): a thief copies alice's whole state
// (seeds and storage) at time T and keeps receiving every entry. Alice then
// rotates (a new chain and a new key) and bob, after her, rotates too: the
// thief reads neither what alice writes after her rotation nor what bob
// writes after his. What bob writes between T and his rotation is the
// thief's to read: the recovery takes one rotation of each side.
func TestPostCompromiseRecovery(t *testing.T) {
	for _, kind := range []group.Kind{group.KindMulti, group.KindContact} {
		c, alice, bob := agreePair(t, kind, 92, nil)
		c.send(bob, "known to the thief")
		c.send(alice, "alice before")
		c.sync()
		thief := c.fork(alice.checkpoint(), "thief", nil)
		c.send(bob, "before bob's rotation")
		tick(t, c, alice, 100)
		c.sync()
		c.send(alice, "alice after her rotation")
		tick(t, c, bob, 100)
		c.send(bob, "bob after his rotation")
		c.sync()
		for _, body := range []string{"alice after her rotation", "bob after his rotation", "before bob's rotation"} {
			if !alice.hasBody(body) && !alice.sentBody(body) {
				t.Fatalf("kind %d: alice does not have %q", kind, body)
			}
		}
		c.lenient = true
		c.deliverAll(thief, c.wire)
		if !thief.hasBody("before bob's rotation") {
			t.Errorf("kind %d: the thief does not read bob's message from before his rotation: the test's thief cannot read at all", kind)
		}
		for _, body := range []string{"alice after her rotation", "bob after his rotation"} {
			if thief.hasBody(body) {
				t.Errorf("kind %d: the thief reads %q, written after alice's and bob's rotations", kind, body)
			}
		}
	}
}

func (p *peer) sentBody(body string) bool {
	for _, b := range p.sent {
		if b == body {
			return true
		}
	}
	return false
}

// TestLostBoxAskedAgain (§6.4): bob was away for longer than alice keeps a
// replaced key; his box of that time, sealed to the key alice had deleted,
// does not open. Alice's next key update names him, and he hands his chain
// again — from where he first gave it to her, also in a multi-member group
// (a review found the first version handing it from its current position
// there) — so alice reads what he wrote while away.
func TestLostBoxAskedAgain(t *testing.T) {
	for _, kind := range []group.Kind{group.KindContact, group.KindMulti} {
		c, alice, bob := agreePair(t, kind, 93, func(cfg *Config) { cfg.AgreeKeep = 50 })
		c.send(bob, "hello")
		c.sync()
		tick(t, c, alice, 100) // a rotation: a new key; bob does not see it
		tick(t, c, alice, 200) // another; the first key, replaced at 100, goes
		if len(alice.r.own) != 2 {
			t.Fatalf("kind %d: setup: alice holds %d keys, want 2 (the first deleted by age)", kind, len(alice.r.own))
		}
		start := len(c.wire)
		tick(t, c, bob, 100) // bob rotates, sealing to the key alice deleted
		c.send(bob, "while apart")
		c.deliverAll(alice, c.wire[start:])
		if alice.hasBody("while apart") {
			t.Fatalf("kind %d: setup: alice opened a box sealed to a key she deleted", kind)
		}
		c.sync()
		c.send(bob, "after")
		c.sync()
		if !alice.hasBody("while apart") || !alice.hasBody("after") {
			t.Errorf("kind %d: alice reads %q of bob, want what he wrote under the lost box and after", kind, alice.bodiesFrom(bob.r.DeviceKey()))
		}
		if len(alice.r.lost) != 0 {
			t.Errorf("kind %d: alice still lists %d lost boxes", kind, len(alice.r.lost))
		}
	}
}

// TestKeyUpdateDecoding: a key update with a low-order X25519 key, an
// ML-KEM key whose coefficients are not reduced, or its lost
// devices out of order, is refused at decoding (§5.1).
func TestKeyUpdateDecoding(t *testing.T) {
	k, err := seal.GenerateHybrid(seededRand(1))
	if err != nil {
		t.Fatal(err)
	}
	var key [seal.HybridPublicSize]byte
	copy(key[:], k.Public().Bytes())
	good := &state.Event{Update: &state.KeyUpdate{Key: key}}
	if _, err := state.Decode(good.Encode()); err != nil {
		t.Fatalf("a valid key update does not decode: %v", err)
	}
	low := key
	copy(low[:32], []byte{1})
	for i := 1; i < 32; i++ {
		low[i] = 0
	}
	if _, err := state.Decode((&state.Event{Update: &state.KeyUpdate{Key: low}}).Encode()); err == nil {
		t.Error("a key update with a small-order X25519 key decodes")
	}
	bad := key
	for i := 32; i < len(bad); i++ {
		bad[i] = 0xff
	}
	if _, err := state.Decode((&state.Event{Update: &state.KeyUpdate{Key: bad}}).Encode()); err == nil {
		t.Error("a key update with an ML-KEM key out of range decodes")
	}
	a, b := keys.Public{1}, keys.Public{2}
	unordered := &state.Event{Update: &state.KeyUpdate{Key: key, Lost: []keys.Public{b, a}}}
	if _, err := state.Decode(unordered.Encode()); err == nil {
		t.Error("a key update whose lost devices are out of order decodes")
	}
}

// TestAnnounceAloneThenKey (§6.4): a sync may show a newcomer's announce
// alone (§10.2); its key update comes after. Alice sends between the two:
// carol, who counted in alice's view already, must read that message once
// her key arrives. (With sealing only to key updates, alice first handed
// carol the chain from where it stood when the key came: the daemon test
// TestPermissionDenied lost alice's first message so.)
func TestAnnounceAloneThenKey(t *testing.T) {
	c := newCluster(t, 95)
	alice := c.creator("alice")
	bob := c.join(alice, "bob")
	c.sync()
	start := len(c.wire)
	carol := c.join(alice, "carol")
	c.sync(carol) // carol reads the group's history
	var announce []byte
	for _, raw := range c.wire[start:] {
		if e := decode(t, raw); e.Author == carol.r.DeviceKey() && e.Seq == 1 {
			announce = raw
		}
	}
	if announce == nil {
		t.Fatal("setup: no announce of carol")
	}
	c.receive(alice, announce)
	if alice.r.State().Device(carol.r.DeviceKey()) == nil {
		t.Fatal("setup: carol does not count at alice from her announce alone")
	}
	c.send(alice, "before carol's key")
	c.sync()
	c.send(alice, "after")
	c.sync()
	for _, b := range []string{"before carol's key", "after"} {
		if !carol.hasBody(b) {
			t.Errorf("carol does not read %q (she reads %q)", b, carol.bodiesFrom(alice.r.DeviceKey()))
		}
	}
	if !bob.hasBody("before carol's key") {
		t.Error("bob does not read alice")
	}
}
