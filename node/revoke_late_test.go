package node_test

import (
	"slices"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/node"
)

// TestRevocationWithLateRecords (review): alice's tablet is linked through
// her phone, records its key in a group, and the phone approves it there;
// alice then revokes the phone from her laptop, whose view of the account
// group is behind (the account group travels between alice's devices only,
// the group also through bob).
//   - If the laptop knows the tablet as a device of the account (the
//     phone's approval, the tablet's first batch: its announce) but has not
//     yet its record (a later batch),
//     the laptop must not take it for a helper of the phone: it waits for
//     the record, and the tablet stays in the group.
//   - If the laptop had seen nothing of the tablet when it revoked the
//     phone, the phone's approval of the tablet is past the phone's cut-off
//     and does not count (§5.6): the tablet is out of the account, and is
//     revoked in the group as well — the same outcome everywhere, as for a
//     join concurrent with a removal; alice links it again.
func TestRevocationWithLateRecords(t *testing.T) {
	for _, late := range []string{"the tablet's record", "everything of the tablet"} {
		t.Run(late, func(t *testing.T) {
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
						if late == "everything of the tablet" || (err == nil && e.Author == tabletDev && e.Seq > firstBatch) {
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
			tablet := c.add("alice", phone) // linked with the phone
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
			for _, d := range []*device{laptop, bob, tablet} {
				got := devicesOf(d)
				if in := slices.Contains(got, tabletKey); in != inAccount {
					t.Errorf("%s sees the tablet in the group: %v; in the account: %v", d.name, in, inAccount)
				}
				if phoneKey, _ := phone.n.DeviceKeyIn(gt); slices.Contains(got, phoneKey) {
					t.Errorf("%s: the phone still counts in the group", d.name)
				}
			}
			if want := late == "the tablet's record"; inAccount != want {
				t.Errorf("the tablet is in the account: %v, want %v", inAccount, want)
			}
			laptop.send(gt, "after")
			c.run()
			if got := slices.Contains(tablet.bodies(gt), "after"); got != inAccount {
				t.Errorf("the tablet reads the group after the revocation: %v, want %v", got, inAccount)
			}
		})
	}
}
