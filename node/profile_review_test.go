package node_test

import "testing"

// TestRenameBackReachesEveryDevice (review): the laptop names the account
// "alice"; the phone renames it "Ally"; the laptop renames it back to
// "alice". Its own last profile on the account group was "alice" already:
// a device that posted only once per name lost the rename everywhere (its
// next followName took "Ally" back). On the account group a device posts
// whenever its member shows another name.
func TestRenameBackReachesEveryDevice(t *testing.T) {
	c := newCluster(t, 21, 0, false)
	laptop := c.add("alice", nil)
	phone := c.add("alice", laptop)
	c.run()
	if err := phone.n.SetName("Ally"); err != nil {
		t.Fatal(err)
	}
	c.run()
	if got := laptop.n.Name(); got != "Ally" {
		t.Fatalf("the laptop calls the account %q after the phone's rename, want Ally", got)
	}
	if err := laptop.n.SetName("alice"); err != nil {
		t.Fatal(err)
	}
	c.run()
	laptop.restart() // any later reconcile does it: followName reads the account group
	c.run()
	for i, d := range []*device{laptop, phone} {
		if got := d.n.Name(); got != "alice" {
			t.Errorf("%s calls the account %q after the laptop renamed it back to alice", []string{"laptop", "phone"}[i], got)
		}
	}
}

// TestNameAfterRevocation (review): the phone renames the account
// "Mallory"; alice revokes the phone and names the account "Alice L."
// again. The laptop's own last profile in the group is "Alice L." already,
// but the name on show was set by a device that no longer counts: it posts
// it again, and bob sees "Alice L.".
func TestNameAfterRevocation(t *testing.T) {
	f := newAliceWithPhone(t, 22, "alice", "alice")
	c, laptop, phone, bob, gt := f.c, f.laptop, f.phone, f.bob, f.gt
	ak, _ := laptop.n.MemberKey(gt)
	if err := laptop.n.SetName("Alice L."); err != nil {
		t.Fatal(err)
	}
	c.run()
	if got, _ := bob.n.MemberName(gt, ak); got != "Alice L." {
		t.Fatalf("bob sees %q", got)
	}
	if err := phone.n.SetName("Mallory"); err != nil {
		t.Fatal(err)
	}
	c.run()
	got0, _ := bob.n.MemberName(gt, ak)
	t.Logf("before revocation bob sees %q, laptop %q", got0, laptop.n.Name())
	if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil {
		t.Fatal(err)
	}
	c.run()
	got1, _ := bob.n.MemberName(gt, ak)
	t.Logf("after revocation bob sees %q, laptop %q", got1, laptop.n.Name())
	if err := laptop.n.SetName("Alice L."); err != nil {
		t.Fatal(err)
	}
	c.run()
	if got, _ := bob.n.MemberName(gt, ak); got != "Alice L." {
		t.Errorf("after the revocation and the rename, bob sees alice as %q (laptop calls itself %q)", got, laptop.n.Name())
	}
}
