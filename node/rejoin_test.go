package node_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/berty-go/berty/node"
)

// TestJoinAgain: bob, who has two devices, leaves a group; an admin removes
// carol. The link they joined with ended with those removals, and their
// nodes say so; with a new link each joins again as a new membership (§3.2),
// bob's second device following. They read what is written after they are
// back, not what was written while they were out, and the others read them.
func TestJoinAgain(t *testing.T) {
	c := newCluster(t, 5, 0, false)
	alice, bob, carol := c.add("alice", nil), c.add("bob", nil), c.add("carol", nil)
	bob2 := c.add("bob's laptop", bob)
	gt, err := alice.n.CreateGroup("g")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := alice.n.Invite(gt)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{bob, carol} {
		if _, err := d.n.Join(inv); err != nil {
			t.Fatal(err)
		}
	}
	c.run()
	if _, err := bob.n.Join(inv); err != nil {
		t.Errorf("joining a group one is in: %v, want a no-op", err)
	}
	oldBob, _ := bob.n.MemberKey(gt)
	oldCarol, _ := carol.n.MemberKey(gt)
	if err := bob.n.Leave(gt); err != nil {
		t.Fatal(err)
	}
	if err := alice.n.Remove(gt, oldCarol); err != nil {
		t.Fatal(err)
	}
	c.run()
	alice.send(gt, "while they are out")
	c.run()
	for _, d := range []*device{bob, carol} {
		if _, err := d.n.Join(inv); !errors.Is(err, node.ErrInvitationEnded) {
			t.Errorf("%s joining again with the old link: %v, want ErrInvitationEnded", d.name, err)
		}
	}

	inv2, err := alice.n.Invite(gt)
	if err != nil {
		t.Fatal(err)
	}
	c.run()
	for _, d := range []*device{bob, carol} {
		if _, err := d.n.Join(inv2); err != nil {
			t.Fatalf("%s joining again with a new link: %v", d.name, err)
		}
	}
	c.run()
	gi, err := alice.n.Group(gt)
	if err != nil {
		t.Fatal(err)
	}
	newBob, _ := bob.n.MemberKey(gt)
	newCarol, _ := carol.n.MemberKey(gt)
	if k, _ := bob2.n.MemberKey(gt); k != newBob {
		t.Error("bob's laptop did not follow bob into his new membership")
	}
	for _, x := range []struct {
		key     [32]byte
		removed bool
		devices int
	}{{oldBob, true, 0}, {oldCarol, true, 0}, {newBob, false, 2}, {newCarol, false, 1}} {
		m, ok := gi.Member(x.key)
		if !ok || m.Removed != x.removed || (!x.removed && m.Devices != x.devices) {
			t.Errorf("alice sees member %x as %+v (found %v), want removed=%v with %d devices", x.key[:4], m, ok, x.removed, x.devices)
		}
	}
	alice.send(gt, "welcome back")
	bob2.send(gt, "from bob's laptop")
	carol.send(gt, "carol again")
	c.run()
	for _, d := range []*device{alice, bob, bob2, carol} {
		got := d.bodies(gt)
		for _, want := range []string{"welcome back", "from bob's laptop", "carol again"} {
			if !slices.Contains(got, want) {
				t.Errorf("%s does not read %q: %q", d.name, want, got)
			}
		}
		if d != alice && slices.Contains(got, "while they are out") {
			t.Errorf("%s reads what was written while it was out", d.name)
		}
	}
}
