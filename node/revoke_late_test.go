package node_test

import (
	"slices"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/node"
)

// TestRevocationWithLateRecords (review): alice links a tablet, which
// records its key in a group, where her phone approves it; alice then
// revokes the phone from her laptop, whose view of the account group is
// behind (the account group travels between alice's devices only, the
// group also through bob). Late are either the tablet's record (a later
// batch than its announce) or everything of the account group (§5.6):
//   - linked by the laptop: the laptop waits for the tablet's record before
//     it looks for the phone's helpers, and the tablet stays (a review found
//     an honest sibling revoked for good here);
//   - linked by the phone, everything late: the phone's approval of the
//     tablet is past the phone's cut-off: the tablet is out of the account,
//     and out of the group — the same outcome everywhere; alice links it
//     again;
//   - linked by the phone, the record late: the tablet stays in the account
//     but is revoked in the group, like any device the phone let in there
//     whose record is not known: a device linked through a revoked device
//     does not hold up the search for its helpers, since it may be one.
func TestRevocationWithLateRecords(t *testing.T) {
	for _, tc := range []struct {
		linkedBy, late     string
		inAccount, inGroup bool
	}{
		{"laptop", "the tablet's record", true, true},
		{"laptop", "everything of the account group", true, true},
		{"phone", "everything of the account group", false, false},
		{"phone", "the tablet's record", true, false},
	} {
		late := tc.late
		t.Run(tc.linkedBy+", late: "+late, func(t *testing.T) {
			f := newAliceWithPhone(t, 31, "alice", "alice")
			c, laptop, phone, bob, gt, devicesOf := f.c, f.laptop, f.phone, f.bob, f.gt, f.devicesOf
			acct := laptop.n.AccountTopic()
			var held [][]byte
			var tabletDev keys.Public
			// The tablet's first batch (its announce, signed at its last
			// entry) goes through in the first variant; what it writes
			// after — its record in the group — is late.
			var firstBatch uint64
			laptop.ep.SetDeliver(func(topic [32]byte, raws [][]byte) error {
				if topic == acct {
					for _, raw := range raws {
						if e, err := feed.Decode(raw); err == nil && e.Author == tabletDev && e.Signed && firstBatch == 0 {
							firstBatch = e.Seq
						}
					}
					var now [][]byte
					for _, raw := range raws {
						e, err := feed.Decode(raw)
						if late == "everything of the account group" || (err == nil && e.Author == tabletDev && e.Seq > firstBatch) {
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
			laptop.ep.SetDeliver(laptop.deliver)
			if _, err := laptop.n.Receive(acct, held); err != nil {
				t.Fatal(err)
			}
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
