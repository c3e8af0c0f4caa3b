package node_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/replica"
)

// TestRevocationFindsDecoysAndHelpers: alice's phone is compromised while
// still trusted. Its modified client records a decoy as its key in a group
// (the last record is what a sibling would look up), and lets in there a
// helper device it made from the account secret, which no other device of
// the account knows. When alice revokes the phone from her laptop, the
// phone's real key and the helper are revoked in the group as well (§5.6),
// and neither reads what is written after; the laptop stays.
func TestRevocationFindsDecoysAndHelpers(t *testing.T) {
	c := newCluster(t, 11, 0, false)
	laptop := c.add("laptop", nil)
	phone := c.add("phone", laptop)
	bob := c.add("bob", nil)
	gt, err := laptop.n.CreateGroup("g")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := laptop.n.Invite(gt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.n.Join(inv); err != nil {
		t.Fatal(err)
	}
	c.run()
	laptopKey, _ := laptop.n.DeviceKeyIn(gt)
	phoneKey, _ := phone.n.DeviceKeyIn(gt)
	alice, _ := laptop.n.MemberKey(gt)
	devicesOf := func(d *device) []keys.Public {
		gi, err := d.n.Group(gt)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := gi.Member(alice)
		return m.DeviceKeys
	}
	if got := devicesOf(bob); len(got) != 2 || !slices.Contains(got, phoneKey) {
		t.Fatalf("bob sees alice's devices %x, want the laptop and the phone", got)
	}

	// The compromised phone: a decoy record, a helper let in.
	if err := phone.n.RecordGroupKeyForTest(inv.Group().ID, keys.Public{0xde, 0xc0, 0x1}); err != nil {
		t.Fatal(err)
	}
	link, err := phone.n.Invite(gt)
	if err != nil {
		t.Fatal(err)
	}
	helper := c.open("helper", phone, false)
	// The helper's announce goes out; recording the group on the account
	// group, where the helper does not count, fails.
	if _, err := helper.n.Join(link); !errors.Is(err, replica.ErrNotJoined) {
		t.Fatalf("the helper joins: %v", err)
	}
	c.run()
	helperKey, _ := helper.n.DeviceKeyIn(gt)
	if err := phone.n.ApproveInGroupForTest(gt, helperKey); err != nil {
		t.Fatal(err)
	}
	c.run()
	if got := devicesOf(bob); len(got) != 3 || !slices.Contains(got, helperKey) {
		t.Fatalf("bob sees alice's devices %x, want the helper among three", got)
	}

	if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil {
		t.Fatal(err)
	}
	c.run()
	for _, d := range []*device{laptop, bob} {
		if got := devicesOf(d); !slices.Equal(got, []keys.Public{laptopKey}) {
			t.Errorf("%s sees alice's devices %x after the phone's revocation, want only the laptop's %x", d.name, got, laptopKey)
		}
	}
	laptop.send(gt, "after the revocation")
	bob.send(gt, "bob, after the revocation")
	c.run()
	for _, d := range []*device{phone, helper} {
		for _, b := range d.bodies(gt) {
			if b == "after the revocation" || b == "bob, after the revocation" {
				t.Errorf("%s reads %q", d.name, b)
			}
		}
	}
	if !slices.Contains(bob.bodies(gt), "after the revocation") {
		t.Error("bob does not read the laptop after the revocation")
	}
}
