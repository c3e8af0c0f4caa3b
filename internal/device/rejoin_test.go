package device_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/berty-go/berty/core/replica"
)

// TestRejoinOverTheNetwork: on libp2p, with no periodic sync to fall back
// on, bob leaves a group and comes back with a new link (a new membership,
// §3.2) — once straight in, then twice through an admin's approval (§5.5). Each
// time he reads what is written after he is back and not what was written
// while he was out, and alice reads him: nothing waits for a timer.
func TestRejoinOverTheNetwork(t *testing.T) {
	alice, bob := newDev(t, "alice"), newDev(t, "bob")
	gt := group(t, alice, bob)
	for round, approval := range []bool{false, true, true} {
		if err := bob.d.Node.Leave(gt); err != nil {
			t.Fatal(err)
		}
		out := "while bob is out " + string(rune('A'+round))
		alice.until("bob's leave", func() bool {
			gi, err := alice.d.Node.Group(gt)
			if err != nil {
				return false
			}
			for _, m := range gi.Members {
				if !m.Removed && m.Key != mustMember(t, alice, gt) {
					return false
				}
			}
			return true
		})
		if _, err := alice.d.Node.Send(gt, []byte(out)); err != nil {
			t.Fatal(err)
		}
		if approval && round == 1 {
			if err := alice.d.Node.SetJoinApproval(gt, true); err != nil {
				t.Fatal(err)
			}
		}
		inv, err := alice.d.Node.Invite(gt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bob.d.Node.Join(inv); err != nil {
			t.Fatal(err)
		}
		if approval {
			alice.until("bob's join to wait", func() bool {
				gi, err := alice.d.Node.Group(gt)
				return err == nil && len(gi.Awaiting) == 1
			})
			gi, _ := alice.d.Node.Group(gt)
			if err := alice.d.Node.DecideJoin(gt, gi.Awaiting[0].Member, true); err != nil {
				t.Fatal(err)
			}
		}
		back := "bob is back " + string(rune('A'+round))
		bob.until("the group's keys again", func() bool {
			_, err := bob.d.Node.Send(gt, []byte(back))
			if err != nil && !errors.Is(err, replica.ErrWaitingForKeys) {
				t.Fatal(err)
			}
			return err == nil
		})
		alice.until("bob's message", func() bool { return slices.Contains(alice.bodies(gt), back) })
		welcome := "welcome back " + string(rune('A'+round))
		if _, err := alice.d.Node.Send(gt, []byte(welcome)); err != nil {
			t.Fatal(err)
		}
		bob.until("alice's welcome", func() bool { return slices.Contains(bob.bodies(gt), welcome) })
		if slices.Contains(bob.bodies(gt), out) {
			t.Errorf("bob reads %q, written while he was out", out)
		}
	}
}

func mustMember(t *testing.T, x *dev, gt [32]byte) [32]byte {
	k, err := x.d.Node.MemberKey(gt)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
