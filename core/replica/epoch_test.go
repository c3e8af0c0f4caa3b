package replica

import (
	"errors"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/state"
)

// unreadable checks that p can open none of the metadata entries in raws but
// announces, approvals, key distributions and key updates (epoch 0), and returns how
// many it could not.
func unreadable(t *testing.T, p *peer, raws [][]byte, what string) int {
	t.Helper()
	n := 0
	for _, raw := range raws {
		e := decode(t, raw)
		if e.Kind != feed.KindMetadata || e.Author == p.r.DeviceKey() {
			continue
		}
		ev, err := p.r.openMetadata(e)
		switch {
		case errors.Is(err, errUnknownEpoch):
			n++
		case err != nil:
			t.Errorf("%s: open %s: %v", what, describe(e), err)
		case ev.Announce == nil && ev.Keys == nil && ev.Approved == nil && ev.Update == nil:
			t.Errorf("%s reads a type %d event of %s", what, ev.Type(), describe(e))
		}
	}
	return n
}

// TestAdversarialRemovedMemberReadsNoMetadata: after carol's removal she
// still holds the group secret and every epoch she was given, and she syncs
// every entry (the replication key has not moved). She must read nothing
// that is written after the removal: not the group's new name, not a
// profile, not the next removal, not an invitation (§3.4). Before v2 she
// read them all under the group's one metadata key.
func TestAdversarialRemovedMemberReadsNoMetadata(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 45)
	post := func(p *peer, ev *state.Event) {
		t.Helper()
		if err := p.r.Post(ev, p.lk); err != nil {
			t.Fatal(err)
		}
		c.flush(p)
	}
	post(alice, &state.Event{Info: &state.GroupInfo{Name: "before"}})
	c.sync()
	if carol.r.State().Name() != "before" {
		t.Fatal("setup: carol does not read the group's name while a member")
	}
	c.remove(alice, carol)
	c.tolerate = []error{feed.ErrCutOff}
	c.sync()
	start := len(c.wire)
	post(alice, &state.Event{Info: &state.GroupInfo{Name: "after carol"}})
	post(bob, &state.Event{Profile: &state.Profile{Name: "bob, renamed"}})
	if _, err := alice.r.Invite(alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	dave := c.join(alice, "dave")
	c.sync()
	c.remove(alice, dave)
	c.sync()
	c.sync(carol) // she syncs everything, as the replication key allows
	if carol.r.State().Name() != "before" {
		t.Errorf("removed carol reads the group's new name %q", carol.r.State().Name())
	}
	if m := carol.r.State().Member(bob.r.MemberKey()); m != nil && m.Name != "" {
		t.Errorf("removed carol reads bob's new profile %q", m.Name)
	}
	if n := unreadable(t, carol, c.wire[start:], "removed carol"); n < 5 {
		t.Errorf("only %d metadata entries after the removal were sealed out of carol's reach, want the 5 written", n)
	}
	for _, p := range []*peer{alice, bob} {
		if p.r.State().Name() != "after carol" {
			t.Errorf("%s: name %q, want the new one", p.name, p.r.State().Name())
		}
	}
	if dave.r.State().Name() != "after carol" || dave.r.State().Member(carol.r.MemberKey()) == nil {
		t.Errorf("dave, who joined after, does not read the group's history (name %q)", dave.r.State().Name())
	}
}

// TestAdversarialLinkHolderReadsNoMetadata: a stranger holds a group link
// and so the group secret, but never joins (or is never let in). It reads
// the device announces — pseudonymous certificates, which every joiner must
// read to fold the group — and nothing else: not the group's name, not the
// members' names, not the invitation records.
func TestAdversarialLinkHolderReadsNoMetadata(t *testing.T) {
	c, alice, bob, _ := threeMembers(t, 46)
	if err := alice.r.Post(&state.Event{Info: &state.GroupInfo{Name: "secret plans"}}, alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	if err := bob.r.Post(&state.Event{Profile: &state.Profile{Name: "Bob Builder"}}, bob.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(bob)
	c.sync()
	stranger := newMallory(c)
	c.sync(stranger)
	if stranger.r.State().Name() != "" {
		t.Errorf("a link holder reads the group's name %q", stranger.r.State().Name())
	}
	if n := unreadable(t, stranger, c.wire, "a link holder"); n < 4 {
		t.Errorf("only %d metadata entries were sealed out of a link holder's reach", n)
	}
}

// TestAdversarialRevokedDeviceReadsNoAccountRecords: alice's phone is
// revoked in her account group. The account group records the groups she
// joins — with their secrets — and her contacts; what is recorded after the
// revocation must be sealed out of the phone's reach, or the phone would
// learn the secret of every group she joins later.
func TestAdversarialRevokedDeviceReadsNoAccountRecords(t *testing.T) {
	f := newRevokeFixture(t, group.KindAccount, 47)
	c := f.c
	f.revoke(f.d1, f.d2)
	c.tolerate = []error{feed.ErrCutOff}
	c.sync()
	start := len(c.wire)
	joined := &state.GroupJoined{Kind: uint8(group.KindMulti), Name: "joined after"}
	joined.ID[0], joined.Secret[0] = 1, 2
	if err := f.d1.r.Post(&state.Event{Joined: joined}, f.d1.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(f.d1)
	c.sync()
	if _, ok := f.d2.r.State().Groups()[joined.ID]; ok {
		t.Error("the revoked phone reads a group joined after its revocation, secret included")
	}
	if n := unreadable(t, f.d2, c.wire[start:], "the revoked phone"); n < 1 {
		t.Error("the group record was not sealed out of the revoked phone's reach")
	}
	for _, p := range f.peers() {
		if p == f.d2 {
			continue
		}
		if _, ok := p.r.State().Groups()[joined.ID]; !ok {
			t.Errorf("%s does not read the group record", p.name)
		}
	}
}

// TestJoinerWaitsForKeys: a joiner reads its invitation's record only once a
// member hands it the epochs (§5.2): until then Send says it waits to be let
// in, rather than that it is no member; after one round trip with the
// inviter, it writes and everyone reads it.
func TestJoinerWaitsForKeys(t *testing.T) {
	c := newCluster(t, 48)
	alice := c.creator("alice")
	bob := c.join(alice, "bob")
	if _, err := bob.r.Send([]byte("too soon"), bob.lk); !errors.Is(err, ErrWaitingForKeys) {
		t.Fatalf("bob sends before anyone let him in: %v, want ErrWaitingForKeys", err)
	}
	c.sync()
	c.send(bob, "hi")
	c.sync()
	if !alice.hasBody("hi") {
		t.Error("alice does not read bob once he was let in")
	}
}
