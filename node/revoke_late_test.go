package node_test

import (
	"slices"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/node"
)

// TestRevocationWithLateRecords (reviews): alice links a tablet, which
// records its key in a group, where her phone approves it; alice then
// revokes the phone from her laptop, whose view of the account group is
// behind (the account group travels between alice's devices only, the
// group also through bob). Late are either the tablet's record (a later
// batch than its announce) or everything of the account group (§5.6):
//   - the tablet's record late: the tablet is a current device of the
//     account, and the laptop waits for its record before it looks for the
//     phone's helpers — whoever linked it (a review found an honest sibling
//     revoked for good here, and a second one the same when the phone was
//     alice's first device);
//   - everything late, linked by the phone: the phone's approval of the
//     tablet is past the phone's cut-off: the tablet is out of the account
//     and out of the group — the same outcome everywhere; alice links it
//     again;
//   - everything late, linked by the laptop: the laptop has approved the
//     tablet but not seen its announce; an approval does not hold the
//     search up (one whose device never comes would hold it for ever), so
//     the tablet, let into the group by the phone, is revoked there: it
//     stays in the account and can join the group again (§3.2).
func TestRevocationWithLateRecords(t *testing.T) {
	for _, tc := range []struct {
		linkedBy, late     string
		inAccount, inGroup bool
	}{
		{"laptop", "the tablet's record", true, true},
		{"laptop", "everything of the account group", true, false},
		{"phone", "everything of the account group", false, false},
		{"phone", "the tablet's record", true, true},
	} {
		late := tc.late
		t.Run(tc.linkedBy+", late: "+late, func(t *testing.T) {
			f := newAliceWithPhone(t, 31, "alice", "alice")
			c, laptop, phone, bob, gt, devicesOf := f.c, f.laptop, f.phone, f.bob, f.gt, f.devicesOf
			var tabletDev keys.Public
			release := lateAccountEntries(laptop, &tabletDev, late == "everything of the account group")
			linker := phone
			if tc.linkedBy == "laptop" {
				linker = laptop
			}
			tablet := c.add("alice", linker)
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
			inAccount := slices.ContainsFunc(laptop.n.Devices(), func(d node.DeviceInfo) bool { return d.Key == tabletDev && !d.Revoked })
			if inAccount != tc.inAccount {
				t.Errorf("the tablet is in the account: %v, want %v", inAccount, tc.inAccount)
			}
			phoneKey, _ := phone.n.DeviceKeyIn(gt)
			for _, d := range []*device{laptop, bob, tablet} {
				got := devicesOf(d)
				if in := slices.Contains(got, tabletKey); in != tc.inGroup {
					t.Errorf("%s sees the tablet in the group: %v, want %v", d.name, in, tc.inGroup)
				}
				if slices.Contains(got, phoneKey) {
					t.Errorf("%s: the phone still counts in the group", d.name)
				}
			}
			laptop.send(gt, "after")
			c.run()
			if got := slices.Contains(tablet.bodies(gt), "after"); got != tc.inGroup {
				t.Errorf("the tablet reads the group after the revocation: %v, want %v", got, tc.inGroup)
			}
		})
	}
}

// lateAccountEntries makes the laptop receive, until release is called,
// none of the account group's entries (everything), or none of the
// tablet's after its first batch (its announce): its records in groups.
func lateAccountEntries(laptop *device, tabletDev *keys.Public, everything bool) (release func()) {
	laptop.t.Helper()
	acct := laptop.n.AccountTopic()
	var held [][]byte
	var firstBatch uint64 // the tablet's first signed entry ends its first batch (0: not seen yet, let all through)
	laptop.ep.SetDeliver(func(topic [32]byte, raws [][]byte) error {
		if topic == acct {
			for _, raw := range raws {
				if e, err := feed.Decode(raw); err == nil && e.Author == *tabletDev && e.Signed && firstBatch == 0 && e.Seq > 1 { // its announce is signed on its own (§4.5)
					firstBatch = e.Seq
				}
			}
			var now [][]byte
			for _, raw := range raws {
				if e, err := feed.Decode(raw); everything || (err == nil && e.Author == *tabletDev && firstBatch != 0 && e.Seq > firstBatch) {
					held = append(held, raw)
				} else {
					now = append(now, raw)
				}
			}
			raws = now
		}
		_, err := laptop.n.Receive(topic, raws)
		return err
	})
	return func() {
		laptop.ep.SetDeliver(laptop.deliver)
		if _, err := laptop.n.Receive(acct, held); err != nil {
			laptop.t.Fatal(err)
		}
	}
}
