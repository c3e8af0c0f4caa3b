package node_test

import (
	"slices"
	"testing"

	"github.com/berty-go/berty/core/keys"
)

// TestRevocationPhoneFirst (review): the phone was alice's first device and
// linked the laptop, which linked the tablet — all honest. When alice
// revokes the phone from the laptop while the tablet's record is late
// there, the tablet is a current device of the account: the laptop waits
// for its record and does not take it for the phone's helper (it once did,
// as every device descends from the first one).
func TestRevocationPhoneFirst(t *testing.T) {
	f := newAlicePhoneFirst(t, 41)
	c, laptop, phone, bob, gt, devicesOf := f.c, f.laptop, f.phone, f.bob, f.gt, f.devicesOf
	var tabletDev keys.Public
	release := lateAccountEntries(laptop, &tabletDev, false)
	tablet := c.add("alice", laptop) // linked by the laptop, honest
	tabletDev = tablet.n.DeviceKey()
	c.run()
	tabletKey, _ := tablet.n.DeviceKeyIn(gt)
	if got := devicesOf(bob); len(got) != 3 || !slices.Contains(got, tabletKey) {
		t.Fatalf("bob sees alice's devices %x, want the tablet among three", got)
	}
	if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil {
		t.Fatal(err)
	}
	c.run()
	release()
	c.run()
	for _, d := range []*device{laptop, bob, tablet} {
		if got := devicesOf(d); !slices.Contains(got, tabletKey) {
			t.Errorf("%s: the honest tablet (linked by the laptop) was revoked in the group: %x", d.name, got)
		}
	}
}

// TestRevocationAfterAbortedLink (review): the laptop approved a device
// that never came (a linking given up). That approval must not hold up the
// search for the phone's helpers for ever: the helper is revoked.
func TestRevocationAfterAbortedLink(t *testing.T) {
	f := newAliceWithPhone(t, 43, "laptop", "phone")
	c, laptop, phone, bob, gt, devicesOf := f.c, f.laptop, f.phone, f.bob, f.gt, f.devicesOf
	laptopKey, _ := laptop.n.DeviceKeyIn(gt)
	// An aborted linking, long ago, by the honest laptop.
	aborted := keys.Public{0xab, 0x0e}
	if err := laptop.n.ApproveDevice(aborted); err != nil {
		t.Fatal(err)
	}
	c.run()
	// The compromised phone lets a helper in the group.
	_, helperKey := f.letInHelper(t)
	if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil {
		t.Fatal(err)
	}
	c.run()
	laptop.restart() // and after a restart
	c.run()
	for _, d := range []*device{laptop, bob} {
		if got := devicesOf(d); !slices.Equal(got, []keys.Public{laptopKey}) {
			t.Errorf("%s sees alice's devices %x, want only the laptop's %x (the phone's helper %x stays)", d.name, got, laptopKey, helperKey)
		}
	}
}

// TestRevokedDevicesNameIsNotFollowed (review): the phone renamed the
// account "Mallory" before alice revoked it. The laptop does not follow a
// name a revoked device set: it keeps the account's name, and bob sees it.
func TestRevokedDevicesNameIsNotFollowed(t *testing.T) {
	f := newAliceWithPhone(t, 44, "alice", "alice")
	c, laptop, phone, bob, gt := f.c, f.laptop, f.phone, f.bob, f.gt
	ak, _ := laptop.n.MemberKey(gt)
	if err := phone.n.SetName("Mallory"); err != nil {
		t.Fatal(err)
	}
	c.run()
	if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil {
		t.Fatal(err)
	}
	c.run()
	laptop.restart()
	c.run()
	got, _ := bob.n.MemberName(gt, ak)
	if laptop.n.Name() == "Mallory" || got == "Mallory" {
		t.Errorf("after the phone's revocation the laptop calls the account %q and bob sees %q: the revoked device's name is not corrected", laptop.n.Name(), got)
	}
}

// TestRevocationForgedRecord (review): the compromised phone records, as
// its own, the key an honest tablet writes with in a group (nothing proves
// a record's author holds the key), while the tablet's own record is late
// at the laptop (and the phone's client leaves it out of what it depends
// on). Revoking the phone must not revoke the tablet there: the phone's
// records wait, like its helpers, until every current device has one.
func TestRevocationForgedRecord(t *testing.T) {
	f := newAliceWithPhone(t, 31, "laptop", "phone")
	c, laptop, phone, bob, gt, devicesOf := f.c, f.laptop, f.phone, f.bob, f.gt, f.devicesOf
	desk := c.add("desk", laptop) // honest
	c.run()
	var tabletDev keys.Public
	releaseLaptop := lateAccountEntries(laptop, &tabletDev, false)
	releasePhone := lateAccountEntries(phone, &tabletDev, false)
	tablet := c.add("tablet", desk) // honest, linked by the desk
	tabletDev = tablet.n.DeviceKey()
	c.run()
	tabletKey, _ := tablet.n.DeviceKeyIn(gt)
	if got := devicesOf(bob); len(got) != 4 || !slices.Contains(got, tabletKey) {
		t.Fatalf("bob sees alice's devices %x, want the tablet among four", got)
	}
	if err := phone.n.RecordGroupKeyForTest(f.groupID, tabletKey); err != nil {
		t.Fatal(err)
	}
	c.run()
	as := laptop.n.AccountStateForTest()
	if len(as.GroupDevices(tabletDev, f.groupID)) != 0 || !slices.Contains(as.GroupDevices(phone.n.DeviceKey(), f.groupID), tabletKey) {
		t.Fatal("setup: the laptop should hold the phone's forged record and not the tablet's own")
	}
	if err := laptop.n.RevokeDevice(phone.n.DeviceKey()); err != nil {
		t.Fatal(err)
	}
	c.run()
	releaseLaptop()
	releasePhone()
	c.run()
	phoneKey, _ := phone.n.DeviceKeyIn(gt)
	for _, d := range []*device{laptop, desk, bob, tablet} {
		got := devicesOf(d)
		if !slices.Contains(got, tabletKey) {
			t.Errorf("%s: the honest tablet was revoked in the group through the phone's forged record", d.name)
		}
		if slices.Contains(got, phoneKey) {
			t.Errorf("%s: the phone still counts in the group once every record is in", d.name)
		}
	}
	laptop.send(gt, "after")
	c.run()
	if !slices.Contains(tablet.bodies(gt), "after") {
		t.Error("the honest tablet no longer reads the group")
	}
}
