package node_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestScenarioConverges runs four accounts, one with two devices, through
// contacts, a group, a restart and a removal, under shuffled and duplicated
// delivery, and checks what users would: every device shows the same
// conversation in the same order, and the removed member reads nothing
// written after the removal.
func TestScenarioConverges(t *testing.T) {
	for _, tc := range []struct {
		real  bool
		seeds int
	}{{real: false, seeds: 12}, {real: true, seeds: 3}} {
		for seed := uint64(1); seed <= uint64(tc.seeds); seed++ {
			name := fmt.Sprintf("mem/seed=%d", seed)
			if tc.real {
				name = fmt.Sprintf("sqlite/seed=%d", seed)
			}
			t.Run(name, func(t *testing.T) { scenario(t, seed, tc.real) })
		}
	}
}

func scenario(t *testing.T, seed uint64, real bool) {
	c := newCluster(t, seed, 0.3, real)
	alice := c.add("alice", nil)
	bob := c.add("bob", nil)
	carol := c.add("carol", nil)
	dave := c.add("dave", nil)

	// Contact chat, with the first message sent before the other side exists.
	ab, err := alice.n.AddContact(bob.n.AccountKey(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	alice.send(ab, "a1")
	if _, err := bob.n.AddContact(alice.n.AccountKey(), "alice"); err != nil {
		t.Fatal(err)
	}
	bob.send(ab, "b1")

	// A group with everyone; people write while others are still joining.
	gt, err := alice.n.CreateGroup("crew")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := alice.n.Invite(gt)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{bob, carol, dave} {
		if _, err := d.n.Join(inv); err != nil {
			t.Fatalf("%s joins: %v", d.name, err)
		}
	}
	c.run()
	for _, d := range []*device{alice, bob, carol, dave} {
		d.send(gt, d.name+" hello")
	}
	// alice's second device arrives and follows the account group.
	alice2 := c.add("alice2", alice)
	c.run()
	c.run()
	alice2.send(gt, "alice2 hello")
	alice2.send(ab, "a2 from second device")

	// carol crashes mid-scenario and comes back from her store.
	c.hub.Step()
	carol.restart()
	c.run()
	for _, d := range []*device{alice, bob, carol, dave, alice2} {
		d.send(gt, d.name+" round 2")
	}
	c.run()

	// alice removes dave; after everyone has seen it, dave reads nothing new.
	daveKey, err := dave.n.MemberKey(gt)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.n.Remove(gt, daveKey); err != nil {
		t.Fatal(err)
	}
	c.run()
	daveBefore := dave.bodies(gt)
	for _, d := range []*device{alice, bob, carol, alice2} {
		d.send(gt, d.name+" after removal")
	}
	c.run()

	// Same conversation, same order, on every device that is in it. A device
	// that joins a multi-member group later (alice2) reads from when the
	// others learned of it: not the greetings sent before it existed.
	want := alice.bodies(gt)
	for _, d := range []*device{bob, carol} {
		if got := d.bodies(gt); !slices.Equal(got, want) {
			t.Errorf("%s sees\n  %q\nalice sees\n  %q", d.name, got, want)
		}
	}
	early := []string{"alice hello", "bob hello", "carol hello", "dave hello"}
	want2 := slices.DeleteFunc(slices.Clone(want), func(b string) bool { return slices.Contains(early, b) })
	if got := alice2.bodies(gt); !slices.Equal(got, want2) {
		t.Errorf("alice2 sees\n  %q\nwant\n  %q", got, want2)
	}
	for _, body := range []string{"alice hello", "dave hello", "alice2 hello", "carol round 2", "bob after removal", "alice2 after removal"} {
		if !slices.Contains(want, body) {
			t.Errorf("message %q missing from the group: %q", body, want)
		}
	}
	if got := len(want); got != 4+1+5+4 {
		t.Errorf("group holds %d messages, want 14: %q", got, want)
	}
	for _, b := range dave.bodies(gt) {
		if strings.HasSuffix(b, "after removal") {
			t.Errorf("dave, removed, read %q", b)
		}
	}
	if n := len(dave.bodies(gt)); n != len(daveBefore) {
		t.Errorf("dave read %d new messages after his removal", n-len(daveBefore))
	}
	if dave.undec < 4 {
		t.Errorf("dave saw %d undecryptable messages after removal, want at least 4", dave.undec)
	}
	// Version vectors agree among current members.
	va, _ := alice.n.Vector(gt)
	for _, d := range []*device{bob, carol, alice2} {
		v, _ := d.n.Vector(gt)
		if fmt.Sprint(v) != fmt.Sprint(va) {
			t.Errorf("%s's version vector %v differs from alice's %v", d.name, v, va)
		}
	}
	// The contact conversation, including the second device's message.
	cw := alice.bodies(ab)
	for _, d := range []*device{bob, alice2} {
		if got := d.bodies(ab); !slices.Equal(got, cw) {
			t.Errorf("%s's contact conversation %q, alice's %q", d.name, got, cw)
		}
	}
	if len(cw) != 3 {
		t.Errorf("contact conversation %q, want a1, b1 and the second device's message", cw)
	}
	gi, _ := bob.n.Group(gt)
	if len(gi.Members) != 4 || gi.Members[0].Devices != 2 {
		t.Errorf("bob sees members %+v, want 4 with alice on 2 devices", gi.Members)
	}
}
