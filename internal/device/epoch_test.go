package device_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/berty-go/berty/core/replica"
)

// TestRemovedMemberIsCutOffTheNetwork: after a removal the group moves to
// the new epoch's network (§3.4, §10). The removed member keeps every key
// she held — epoch 0's network key included, as any link holder has it —
// and stays connected to everyone, yet she gets nothing written after the
// removal, by gossip or by sync: she cannot name the new gossip topic, and
// every sync she takes part in knows her device: she is served up to her
// removal (so that she learns it), and refused as a responder. A member who was
// offline through the removal comes back under the old epoch, meets a
// member under epoch 0's network, and catches up onto the new one.
func TestRemovedMemberIsCutOffTheNetwork(t *testing.T) {
	alice, bob, carol, dave := newDev(t, "alice"), newDev(t, "bob"), newDev(t, "carol"), newDev(t, "dave")
	all := []*dev{alice, bob, carol, dave}
	gt := group(t, all...)
	for _, x := range all { // once let in and handed the keys, everyone writes
		x.until("the group's keys", func() bool {
			_, err := x.d.Node.Send(gt, []byte("hello from "+x.name))
			if err != nil && !errors.Is(err, replica.ErrWaitingForKeys) {
				t.Fatal(err)
			}
			return err == nil
		})
	}
	for _, x := range all {
		x.until("everyone's hello", func() bool { return x.count(gt) == 4 })
	}
	before := alice.d.Host.Networks(gt)
	if len(before) != 2 {
		t.Fatalf("alice's group is on %d networks, want its epoch's and epoch 0's", len(before))
	}
	vec := func(x *dev) map[string]uint64 {
		v, err := x.d.Node.Vector(gt)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]uint64{}
		for d, s := range v {
			out[fmt.Sprint(d)] = s
		}
		return out
	}
	for _, x := range []*dev{bob, carol, dave} { // all quiet: the same entries everywhere
		x.until("alice's entries", func() bool { return maps.Equal(vec(x), vec(alice)) })
	}

	// Dave goes offline; alice removes carol and writes.
	for _, x := range []*dev{alice, bob, carol} {
		if err := dave.d.Host.Disconnect(x.d.Host.ID()); err != nil {
			t.Fatal(err)
		}
	}
	carolKey, err := carol.d.Node.MemberKey(gt)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.d.Node.Remove(gt, carolKey); err != nil {
		t.Fatal(err)
	}
	atRemove := vec(alice) // the removal, the new epoch and its keys
	after := alice.d.Host.Networks(gt)
	if after[0] == before[0] || after[len(after)-1] != before[len(before)-1] {
		t.Fatalf("after the removal alice publishes on %x (before %x); want a new network, and epoch 0's kept", after[0][:4], before[0][:4])
	}
	if _, err := alice.d.Node.Send(gt, []byte("after the removal")); err != nil {
		t.Fatal(err)
	}
	bob.until("the message after the removal", func() bool { return slices.Contains(bob.bodies(gt), "after the removal") })

	// Dave comes back connected to bob only: still on the old epoch, bob on
	// the new one; they meet under epoch 0's network.
	connect(t, dave, bob)
	dave.until("the message after the removal", func() bool { return slices.Contains(dave.bodies(gt), "after the removal") })
	dave.until("the new epoch's network", func() bool {
		got := dave.d.Host.Networks(gt)
		return got[0] == after[0]
	})

	// Carol, connected to alice and bob all along, is served what sorts up
	// to her removal — she learns she is out — and nothing after: not the
	// new epoch's keys, not the message.
	// (The removal's batch ends with the new epoch's keys, sealed to the
	// others: carol gets it whole, or the unsigned removal before them
	// could never be appended, §4.5.)
	carol.until("her removal", func() bool {
		gi, err := carol.d.Node.Group(gt)
		if err != nil {
			return false
		}
		m, ok := gi.Member(carolKey)
		return ok && m.Removed
	})
	base := alice.d.Host.Stats()
	carol.d.Host.SyncNow(gt) // carol asks alice and bob again
	alice.d.Host.SyncNow(gt) // and alice asks carol: she refuses the removed device
	alice.until("carol's syncs", func() bool {
		st := alice.d.Host.Stats()
		return st.SyncCut > base.SyncCut && st.SyncErrors > base.SyncErrors
	})
	got := vec(carol)
	for d, s := range got {
		if s > atRemove[d] {
			t.Errorf("carol holds device %s's feed up to %d, beyond the %d entries written up to the removal", d, s, atRemove[d])
		}
	}
	if dev := fmt.Sprint(alice.groupDevice(t, gt)); got[dev] >= vec(alice)[dev] {
		t.Errorf("carol holds alice's feed up to %d: the message written after the removal included", got[dev])
	}
	if got := carol.d.Host.Networks(gt); slices.Contains(got, after[0]) {
		t.Error("carol is on the new epoch's network")
	}
	if slices.Contains(carol.bodies(gt), "after the removal") {
		t.Error("carol read the message written after her removal")
	}
}
