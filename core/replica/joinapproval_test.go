package replica

import (
	"errors"
	"slices"
	"testing"

	"github.com/berty-go/berty/core/feed"
)

// TestJoinApproval: in a group whose admin requires it (§5.5), a stranger
// holding a member's link reads and writes nothing until an admin admits
// her; a member who is no admin can neither admit her nor lift the rule;
// once admitted she reads what is written after and the others read her;
// a declined joiner never gets a key.
func TestJoinApproval(t *testing.T) {
	c := newCluster(t, 61)
	alice := c.creator("alice")
	bob := c.join(alice, "bob")
	c.sync()
	c.send(bob, "bob is in")
	c.sync()

	if err := bob.r.SetJoinApproval(true, bob.lk); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("bob, no admin, requires approval: %v, want ErrNotAdmin", err)
	}
	if err := alice.r.SetJoinApproval(true, alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	if !bob.r.State().JoinsNeedApproval() {
		t.Fatal("bob does not see that joins need approval")
	}

	carol := c.join(bob, "carol") // through bob's link: bob is no admin
	c.sync()
	if _, err := carol.r.Send([]byte("let me in"), carol.lk); !errors.Is(err, ErrWaitingForKeys) {
		t.Fatalf("carol sends before anyone admitted her: %v, want ErrWaitingForKeys", err)
	}
	for _, p := range []*peer{alice, bob} {
		s := p.r.State()
		if s.Member(carol.r.MemberKey()) != nil || s.Device(carol.r.DeviceKey()) != nil {
			t.Fatalf("%s counts carol before an admin admitted her", p.name)
		}
		if w := s.Awaiting(); len(w) != 1 || w[0].Member != carol.r.MemberKey() || w[0].Inviter != bob.r.MemberKey() {
			t.Fatalf("%s: waiting joins %+v, want carol's through bob's link", p.name, w)
		}
	}
	c.send(alice, "while carol waits")
	c.sync()
	if carol.hasBody("while carol waits") || carol.hasBody("bob is in") {
		t.Fatal("carol reads the group before an admin admitted her")
	}
	if err := bob.r.DecideJoin(carol.r.MemberKey(), true, bob.lk); !errors.Is(err, ErrNotAdmin) {
		t.Fatalf("bob, no admin, admits carol: %v, want ErrNotAdmin", err)
	}

	if err := alice.r.DecideJoin(carol.r.MemberKey(), true, alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	c.flush(bob) // bob hands carol his chain on learning she is in
	c.sync()
	// Every replica — carol's own, once let in — says a member joined:
	// what tells a client to show her as in.
	for _, p := range []*peer{alice, bob, carol} {
		if !slices.ContainsFunc(eventsOf(p.events, EventMemberJoined), func(ev Event) bool { return ev.Member == carol.r.MemberKey() }) {
			t.Errorf("%s reports no EventMemberJoined for carol's admission", p.name)
		}
	}
	c.send(carol, "carol here")
	c.send(alice, "welcome carol")
	c.send(bob, "hi carol")
	c.sync()
	for _, p := range []*peer{alice, bob} {
		if !p.hasBody("carol here") {
			t.Errorf("%s does not read carol once admitted", p.name)
		}
	}
	if !carol.hasBody("welcome carol") || !carol.hasBody("hi carol") {
		t.Error("carol, admitted, does not read what is written after")
	}
	if carol.hasBody("while carol waits") {
		t.Error("carol reads what was written while she waited")
	}
	if err := alice.r.DecideJoin(carol.r.MemberKey(), false, alice.lk); !errors.Is(err, ErrNotAwaiting) {
		t.Errorf("declining carol once she is in: %v, want ErrNotAwaiting", err)
	}

	dave := c.join(bob, "dave")
	c.sync()
	if err := alice.r.DecideJoin(dave.r.MemberKey(), false, alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	c.send(alice, "after dave was declined")
	c.sync()
	if dave.hasBody("after dave was declined") {
		t.Error("dave, declined, reads the group")
	}
	if _, err := dave.r.Send([]byte("still here"), dave.lk); !errors.Is(err, ErrWaitingForKeys) {
		t.Errorf("dave, declined, sends: %v", err)
	}
	for _, p := range []*peer{alice, bob, carol} {
		if !p.r.State().Declined(dave.r.MemberKey()) || p.r.State().Member(dave.r.MemberKey()) != nil {
			t.Errorf("%s does not see dave declined", p.name)
		}
	}
	if !slices.Equal(sortedPublics(alice.r.State().ActiveDevices()), sortedPublics(carol.r.State().ActiveDevices())) {
		t.Error("alice and carol disagree on the group's devices")
	}
}

// TestJoinApprovalEndsOldLinks (review): a week-long link that bob, no
// admin, made before alice required approval does not let a stranger in
// afterwards — an honest join names only the link's record and so sorts
// before the setting: turning approval on ends older links (§5.5).
func TestJoinApprovalEndsOldLinks(t *testing.T) {
	c := newCluster(t, 61)
	alice := c.creator("alice")
	bob := c.join(alice, "bob")
	c.sync()
	inv, err := bob.r.Invite(bob.lk)
	if err != nil {
		t.Fatal(err)
	}
	c.flush(bob)
	c.sync()
	for range 5 {
		c.send(alice, "chatter")
		c.send(bob, "chatter")
		c.sync()
	}
	if err := alice.r.SetJoinApproval(true, alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	mallory := c.join2(inv, "mallory")
	c.tolerate = []error{feed.ErrCutOff} // her key update, past the cut-off that drops her
	c.sync()
	c.flush(alice)
	c.flush(bob)
	c.sync()
	c.send(alice, "secret after the rule")
	c.sync()
	for _, p := range []*peer{alice, bob} {
		if m := p.r.State().Member(mallory.r.MemberKey()); m != nil && !m.Removed {
			t.Errorf("%s counts mallory, who used a link made before the rule, with no admin's decision", p.name)
		}
	}
	if mallory.hasBody("secret after the rule") {
		t.Error("mallory reads the group without any admin admitting her")
	}
	if m := alice.r.State().Member(bob.r.MemberKey()); m == nil || m.Removed {
		t.Error("bob, whom alice saw, is out after the rule")
	}
}
