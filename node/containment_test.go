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
// and neither reads what is written after; the laptop stays. A device the
// phone approved on the account group, which never records a key, does not
// hold that up.
func TestRevocationFindsDecoysAndHelpers(t *testing.T) {
	f := newAliceWithPhone(t, 11, "laptop", "phone")
	c, laptop, phone, bob, gt, devicesOf := f.c, f.laptop, f.phone, f.bob, f.gt, f.devicesOf
	laptopKey, _ := laptop.n.DeviceKeyIn(gt)
	phoneKey, _ := phone.n.DeviceKeyIn(gt)
	if got := devicesOf(bob); len(got) != 2 || !slices.Contains(got, phoneKey) {
		t.Fatalf("bob sees alice's devices %x, want the laptop and the phone", got)
	}

	// The compromised phone: a decoy record, a helper let in.
	if err := phone.n.RecordGroupKeyForTest(f.groupID, keys.Public{0xde, 0xc0, 0x1}); err != nil {
		t.Fatal(err)
	}
	helper, helperKey := f.letInHelper(t)
	if got := devicesOf(bob); len(got) != 3 || !slices.Contains(got, helperKey) {
		t.Fatalf("bob sees alice's devices %x, want the helper among three", got)
	}
	// And it approves, on the account group, a device that will never
	// announce itself nor record a key: the search for its helpers must
	// not wait for that one's record (a review found the wait).
	if err := phone.n.ApproveDevice(keys.Public{0x9e, 0x57}); err != nil {
		t.Fatal(err)
	}
	c.run()

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

// aliceWithPhone is alice's laptop and her phone (the one linked by the
// other), and bob, in a group the laptop created.
type aliceWithPhone struct {
	c                  *cluster
	laptop, phone, bob *device
	gt                 [32]byte
	groupID            keys.Public
	alice              keys.Public // her member key in the group
}

func newAliceWithPhone(t *testing.T, seed uint64, laptopName, phoneName string) *aliceWithPhone {
	t.Helper()
	c := newCluster(t, seed, 0, false)
	f := &aliceWithPhone{c: c, laptop: c.add(laptopName, nil)}
	f.phone = c.add(phoneName, f.laptop)
	return f.withGroup(t)
}

// newAlicePhoneFirst is newAliceWithPhone where the phone is alice's
// first device and linked the laptop.
func newAlicePhoneFirst(t *testing.T, seed uint64) *aliceWithPhone {
	t.Helper()
	c := newCluster(t, seed, 0, false)
	f := &aliceWithPhone{c: c}
	f.phone = c.add("alice", nil)
	f.laptop = c.add("alice", f.phone)
	return f.withGroup(t)
}

// withGroup adds bob, and the group the laptop creates and bob joins.
func (f *aliceWithPhone) withGroup(t *testing.T) *aliceWithPhone {
	t.Helper()
	c := f.c
	f.bob = c.add("bob", nil)
	c.run()
	var err error
	if f.gt, err = f.laptop.n.CreateGroup("g"); err != nil {
		t.Fatal(err)
	}
	inv, err := f.laptop.n.Invite(f.gt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.bob.n.Join(inv); err != nil {
		t.Fatal(err)
	}
	c.run()
	f.groupID = inv.Group().ID
	f.alice, _ = f.laptop.n.MemberKey(f.gt)
	return f
}

// devicesOf lists alice's devices in the group as d sees them.
func (f *aliceWithPhone) devicesOf(d *device) []keys.Public {
	d.t.Helper()
	gi, err := d.n.Group(f.gt)
	if err != nil {
		d.t.Fatal(err)
	}
	m, _ := gi.Member(f.alice)
	return m.DeviceKeys
}

// letInHelper is what a compromised phone does: a device made from the
// account secret, which no other device of the account knows, joins the
// group (its node cannot record the group on the account group, where it
// does not count) and the phone approves it there. It returns the helper
// and its key in the group.
func (f *aliceWithPhone) letInHelper(t *testing.T) (*device, keys.Public) {
	t.Helper()
	link, err := f.phone.n.Invite(f.gt)
	if err != nil {
		t.Fatal(err)
	}
	helper := f.c.open("helper", f.phone, false)
	if _, err := helper.n.Join(link); !errors.Is(err, replica.ErrNotJoined) {
		t.Fatalf("the helper joins: %v", err)
	}
	f.c.run()
	key, _ := helper.n.DeviceKeyIn(f.gt)
	if err := f.phone.n.ApproveInGroupForTest(f.gt, key); err != nil {
		t.Fatal(err)
	}
	f.c.run()
	return helper, key
}
