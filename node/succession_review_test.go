package node_test

import (
	"errors"
	"testing"

	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/node"
)

// TestRotationRepairedAfterCrash: a revocation committed without its new
// key (a crash, an older version, a failure) is repaired by every device's
// reconcile (§5.9: the key is due): the account does not stay on the key the
// thief holds, nor move contacts back to it when the thief had rotated
// (a review found both).
func TestRotationRepairedAfterCrash(t *testing.T) {
	for _, thiefRotated := range []bool{false, true} {
		c := newCluster(t, 1, 0.2, false)
		laptop := c.add("alice", nil)
		phone := c.add("alice", laptop)
		tablet := c.add("alice", laptop)
		bob := c.add("bob", nil)
		c.run()
		contacts(t, c, laptop, bob)
		first := laptop.n.AccountKey()
		thief := accountPair(t, phone)
		if thiefRotated {
			if _, err := phone.n.RotateAccountKey(); err != nil {
				t.Fatal(err)
			}
			c.run()
		}
		if err := laptop.n.RevokeOnlyForTest(phone.n.DeviceKey()); err != nil {
			t.Fatal(err)
		}
		laptop.restart()
		c.run()
		if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil { // the user retries
			t.Fatal(err)
		}
		c.run()
		forged, err := link.NewContact(thief, [32]byte{9}, "alice")
		if err != nil {
			t.Fatal(err)
		}
		cur := laptop.n.AccountKey()
		_, reqErr := bob.n.RequestContact(forged)
		if cur == first || tablet.n.AccountKey() == first || !errors.Is(reqErr, node.ErrKeySucceeded) {
			t.Errorf("thiefRotated=%v: after a crash and a retry the account key is the first one the thief holds (laptop %v, tablet %v, first %v); bob's view of alice %v; bob takes the thief's link: %v",
				thiefRotated, cur == first, tablet.n.AccountKey() == first, first, bob.n.ContactKey(first) == first, reqErr)
		}
	}
}

// TestConcurrentRotationDoesNotEndOnALeakedKey: a sibling that has not yet
// seen a revocation rotates too (it revokes another device at the same
// time), sealing its record in an epoch the revoked phone holds. If that
// record wins, the key is due again (§5.9), and the account ends on a key
// the phone never read (a review found it ending on the leaked one).
func TestConcurrentRotationDoesNotEndOnALeakedKey(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		c := newCluster(t, seed, 0.2, false)
		laptop := c.add("alice", nil)
		phone := c.add("alice", laptop)
		tablet := c.add("alice", laptop)
		desktop := c.add("alice", laptop)
		c.run()
		// No delivery between the two revocations: concurrent.
		if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil {
			t.Fatal(err)
		}
		if err := tablet.n.RevokeDevice(desktop.n.DeviceKey()); err != nil {
			t.Fatal(err)
		}
		c.run()
		cur := laptop.n.AccountKey()
		if tablet.n.AccountKey() != cur {
			t.Fatalf("seed %d: devices diverge", seed)
		}
		if _, ok := phone.n.AccountStateForTest().AccountSeeds()[cur]; ok {
			t.Fatalf("seed %d: the revoked phone holds the seed of the account's current key %v", seed, cur)
		}
	}
}

// TestStaleSiblingsContactMovesOn: a sibling that has not synced the
// revocation yet (the tablet) makes a contact with the key it knows, which
// the thief holds. That group stays derived from it (§5.9 lists the limit),
// but once the tablet syncs, the account moves on there too: dave takes
// alice's new key and refuses a link the thief signs with the old one.
func TestStaleSiblingsContactMovesOn(t *testing.T) {
	c := newCluster(t, 1, 0.2, false)
	laptop := c.add("alice", nil)
	phone := c.add("alice", laptop)
	tablet := c.add("alice", laptop)
	dave := c.add("dave", nil)
	c.run()
	thief := accountPair(t, phone)
	if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil {
		t.Fatal(err)
	}
	// The tablet, offline, adds dave before it syncs.
	topic, err := tablet.n.AddContact(dave.n.AccountKey(), "dave")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dave.n.AddContact(tablet.n.AccountKey(), "alice"); err != nil {
		t.Fatal(err)
	}
	c.run()
	if g, err := group.Contact(thief, dave.n.AccountKey()); err != nil || g.Keys.Topic != topic {
		t.Fatalf("setup: the group is not the one of the old key (%v)", err)
	}
	cur := laptop.n.AccountKey()
	if got := dave.n.ContactKey(thief.Public()); got != cur {
		t.Fatalf("dave has alice's key as %v, want %v", got, cur)
	}
	forged, err := link.NewContact(thief, [32]byte{9}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dave.n.RequestContact(forged); !errors.Is(err, node.ErrKeySucceeded) {
		t.Fatalf("dave takes the thief's link: %v", err)
	}
}

// TestContactKeptWhenItsSuccessionIsVoided: the tablet takes the thief's
// rotation (K_X) and adds dave with it; the laptop, which had not seen the
// rotation, revokes the phone below it, so the record and its seed drop
// out. The contact record carries the seed of the key it was made with
// (§5.1 type 8): every device still joins the group and moves it on, and
// dave ends with alice's current key (a review found the contact stranded
// on the thief's key).
func TestContactKeptWhenItsSuccessionIsVoided(t *testing.T) {
	c := newCluster(t, 1, 0.2, false)
	laptop := c.add("alice", nil)
	phone := c.add("alice", laptop)
	tablet := c.add("alice", laptop)
	dave := c.add("dave", nil)
	c.run()
	laptop.ep.SetOnline(false)
	kx, err := phone.n.RotateAccountKey()
	if err != nil {
		t.Fatal(err)
	}
	c.run()
	if tablet.n.AccountKey() != kx {
		t.Fatal("setup: the tablet did not take the thief's key")
	}
	topic, err := tablet.n.AddContact(dave.n.AccountKey(), "dave")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dave.n.AddContact(kx, "alice"); err != nil {
		t.Fatal(err)
	}
	c.run()
	if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil { // offline: its cut-off is below the record
		t.Fatal(err)
	}
	laptop.ep.SetOnline(true)
	c.run()
	cur := laptop.n.AccountKey()
	if cur == kx || tablet.n.AccountKey() != cur {
		t.Fatalf("setup: account key %v, tablet %v, thief %v", cur, tablet.n.AccountKey(), kx)
	}
	if got := dave.n.ContactKey(kx); got != cur {
		t.Errorf("dave still takes alice's key as %v (the thief's K_X: %v), not %v", got, got == kx, cur)
	}
	if _, ok := tablet.n.AccountStateForTest().AccountSeeds()[kx]; !ok {
		t.Errorf("the account group no longer holds the seed of K_X, which names alice in her group with dave")
	}
	joined := false
	for _, g := range laptop.n.Topics() {
		joined = joined || g.Topic == topic
	}
	if _, ok := laptop.n.AccountStateForTest().AccountSeeds()[kx]; !ok {
		t.Errorf("the laptop does not hold K_X's seed")
	}
	if !joined {
		t.Errorf("the laptop cannot join alice's contact group with dave")
	}
}

// TestDeviceLinkedAfterRevocationLeaksNothing: a device linked after a
// revocation must read the revocation — sealed in an epoch the revoked
// device made, which the siblings hand on as history (§3.4) — before it
// hands epochs on; else it gave the revoker's new epoch, and the new
// account seed, to the revoked phone (a review found it).
func TestDeviceLinkedAfterRevocationLeaksNothing(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		c := newCluster(t, seed, 0.2, false)
		laptop := c.add("alice", nil)
		phone := c.add("alice", laptop)
		c.add("alice", laptop)
		c.run()
		if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil {
			t.Fatal(err)
		}
		c.run()
		cur := laptop.n.AccountKey()
		if _, ok := phone.n.AccountStateForTest().AccountSeeds()[cur]; ok {
			t.Fatalf("seed %d: leak before the link", seed)
		}
		c.add("alice", laptop) // a new device, linked after the revocation
		c.run()
		if _, ok := phone.n.AccountStateForTest().AccountSeeds()[cur]; ok {
			t.Fatalf("seed %d: the revoked phone holds the seed of the account's current key after a new device was linked", seed)
		}
	}
}
