package node_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store"
)

// TestRevokeDevice: alice has two devices and bob is her contact and in a
// group with her. Her first device revokes the second: the revocation
// reaches every group (the first device posts it everywhere), the revoked
// device knows it and can no longer send, and what alice and bob write
// afterwards is not readable on it, while it still holds what came before.
func TestRevokeDevice(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		c := newCluster(t, seed, 0.3, false)
		alice := c.add("alice", nil)
		bob := c.add("bob", nil)
		c.run()
		alice2 := c.add("alice", alice)
		c.run()
		ct, err := alice.n.AddContact(bob.n.AccountKey(), "bob")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.n.AddContact(alice.n.AccountKey(), "alice"); err != nil {
			t.Fatal(err)
		}
		gt, err := alice.n.CreateGroup("g")
		if err != nil {
			t.Fatal(err)
		}
		inv, err := alice.n.Invite(gt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.n.Join(inv); err != nil {
			t.Fatal(err)
		}
		c.run()
		for _, topic := range [][32]byte{ct, gt} {
			bob.send(topic, "before")
			alice2.send(topic, "alice2 before")
		}
		c.run()
		for _, topic := range [][32]byte{ct, gt} {
			if got := alice2.bodies(topic); !slices.Contains(got, "before") {
				t.Fatalf("seed %d: alice's second device does not read bob before the revocation: %q", seed, got)
			}
		}
		if devs := alice.n.Devices(); len(devs) != 2 {
			t.Fatalf("seed %d: alice sees %d devices, want 2", seed, len(devs))
		}

		if err := alice.n.RevokeDevice(alice.n.DeviceKey()); !errors.Is(err, replica.ErrRevokeSelf) {
			t.Errorf("self-revocation: %v", err)
		}
		if err := alice.n.RevokeDevice(bob.n.DeviceKey()); !errors.Is(err, replica.ErrNoSuchDevice) {
			t.Errorf("revoking bob's device: %v", err)
		}
		if err := alice.n.RevokeDevice(alice2.n.DeviceKey()); err != nil {
			t.Fatal(err)
		}
		c.run()
		if !alice2.n.Revoked() {
			t.Fatalf("seed %d: the revoked device does not know it", seed)
		}
		if _, err := alice2.n.Send(ct, []byte("x")); !errors.Is(err, node.ErrRevoked) {
			t.Errorf("seed %d: a revoked device sends: %v", seed, err)
		}
		for _, topic := range [][32]byte{ct, gt} {
			bob.send(topic, "after, from bob")
			alice.send(topic, "after, from alice")
		}
		c.run()
		for _, topic := range [][32]byte{ct, gt} {
			got := alice2.bodies(topic)
			if slices.Contains(got, "after, from bob") || slices.Contains(got, "after, from alice") {
				t.Errorf("seed %d: the revoked device reads a message written after the revocation: %q", seed, got)
			}
			if !slices.Contains(got, "before") {
				t.Errorf("seed %d: the revoked device lost what came before: %q", seed, got)
			}
			for _, d := range []*device{alice, bob} {
				if got := d.bodies(topic); !slices.Contains(got, "after, from bob") || !slices.Contains(got, "after, from alice") || !slices.Contains(got, "alice2 before") {
					t.Errorf("seed %d: %s reads %q", seed, d.name, got)
				}
			}
		}
		devs := alice.n.Devices()
		if len(devs) != 2 || devs[0].Revoked || !devs[1].Revoked || devs[1].Key != alice2.n.DeviceKey() {
			t.Errorf("seed %d: alice's devices after the revocation: %+v", seed, devs)
		}

		// Whoever holds the revoked device also holds alice's account
		// secret, and makes a new device with it. Nobody approves it: it
		// never becomes a device of the account, joins nothing and reads
		// nothing new.
		thief := c.open("thief", alice2, false)
		c.run()
		for _, topic := range [][32]byte{ct, gt} {
			alice.send(topic, "after the theft")
		}
		c.run()
		if thief.n.Linked() {
			t.Errorf("seed %d: a device nobody approved is a device of the account", seed)
		}
		for _, topic := range [][32]byte{ct, gt} {
			if got, err := thief.n.Messages(topic, store.Cursor{}, 100); err == nil && len(got) > 0 {
				t.Errorf("seed %d: the thief's device reads %d messages", seed, len(got))
			}
		}
	}
}
