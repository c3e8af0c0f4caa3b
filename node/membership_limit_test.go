package node_test

import (
	"errors"
	"testing"

	"github.com/berty-go/berty/node"
)

// TestMembershipLimit (review): each membership's device key is recorded
// on the account group, at most 16 per device and group (§5.6). Alice, with
// two devices, leaves a group and joins it again 15 times: every time the
// network goes quiet (a record the account group would not keep was once
// written again after every batch received, for ever) and her laptop is
// approved in the new membership; the 16th time, her node says it is the
// most there can be.
func TestMembershipLimit(t *testing.T) {
	c := newCluster(t, 51, 0, false)
	alice, bob := c.add("alice", nil), c.add("bob", nil)
	c.add("alice's laptop", alice)
	gt, err := bob.n.CreateGroup("g")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := bob.n.Invite(gt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.n.Join(inv); err != nil {
		t.Fatal(err)
	}
	c.run()
	quiet := func() bool { // c.run with a cap
		for range 2000 {
			ok, err := c.hub.Step()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return true
			}
		}
		return false
	}
	for k := 1; k <= 16; k++ {
		if err := alice.n.Leave(gt); err != nil {
			t.Fatal(err)
		}
		c.run()
		inv, err := bob.n.Invite(gt)
		if err != nil {
			t.Fatal(err)
		}
		c.run()
		_, err = alice.n.Join(inv)
		if k == 16 {
			if !errors.Is(err, node.ErrTooManyMemberships) {
				t.Fatalf("membership 16: %v, want ErrTooManyMemberships", err)
			}
			break
		}
		if err != nil {
			t.Fatalf("membership %d: %v", k, err)
		}
		if !quiet() {
			t.Fatalf("membership %d: 2 000 deliveries and the network is not quiet", k)
		}
		gi, err := bob.n.Group(gt)
		if err != nil {
			t.Fatal(err)
		}
		ak, _ := alice.n.MemberKey(gt)
		if m, ok := gi.Member(ak); !ok || m.Removed || m.Devices != 2 {
			t.Fatalf("membership %d: bob sees alice as %+v, want her two devices", k, m)
		}
	}
	gi, err := bob.n.Group(gt)
	if err != nil {
		t.Fatal(err)
	}
	// Alice left before the 16th try, which failed: she is out.
	current := 0
	for _, m := range gi.Members {
		if !m.Removed {
			current++
		}
	}
	if current != 1 {
		t.Errorf("bob counts %d current members, want himself only", current)
	}
}
