package replica

import (
	"errors"
	"fmt"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
)

// TestAdversarialOldLinkAfterRemoval is finding 3 of the v1 review, as a
// user would try it: alice made a group link before removing carol; carol,
// removed, makes a fresh account and joins with that old link. Whether her
// announce sorts before the removal (it names only the invitation's record,
// as if written long ago) or after it (she synced first), she must not
// become a member, must not read what is written after the removal, and
// what she writes is delivered to no one (§5.2, §5.3).
func TestAdversarialOldLinkAfterRemoval(t *testing.T) {
	for _, syncedFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("synced first=%v", syncedFirst), func(t *testing.T) {
			c, alice, bob, carol := threeMembers(t, 44)
			link, err := alice.r.Invite(alice.lk) // the group link, shared before
			if err != nil {
				t.Fatal(err)
			}
			c.flush(alice)
			c.sync()
			c.send(bob, "the link is out")
			c.sync()
			c.remove(alice, carol) // its clock is past the link's record
			c.tolerate = []error{feed.ErrCutOff}
			c.sync()

			carol2 := c.newPeer("carol, new account", link.Group(), nil)
			if syncedFirst {
				c.sync(carol2)
			}
			if err := carol2.r.AnnounceInvited(link, carol2.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(carol2)
			c.sync()
			for _, p := range []*peer{alice, bob} {
				if m := p.r.State().Member(carol2.r.MemberKey()); m != nil && !m.Removed {
					t.Errorf("%s: carol's new account joined with the old link: %+v", p.name, m)
				}
			}
			c.send(alice, "after the removal")
			c.sync()
			if carol2.hasBody("after the removal") {
				t.Error("carol's new account reads what alice wrote after the removal")
			}
			if _, err := carol2.r.Send([]byte("let me in"), carol2.lk); err == nil {
				c.flush(carol2)
				c.sync()
			}
			for _, p := range []*peer{alice, bob} {
				if p.hasBody("let me in") {
					t.Errorf("%s got carol's message through the old link", p.name)
				}
			}
			// A link made after the removal still works for someone else.
			dave := c.join(alice, "dave")
			c.sync()
			if m := bob.r.State().Member(dave.r.MemberKey()); m == nil || m.Removed {
				t.Errorf("dave, invited after the removal, is not a member: %+v", m)
			}
		})
	}
}

// TestRejoin: carol leaves and bob is removed; each comes back with a new
// link as a new membership (§3.2) — new member and device keys, same
// account and same stored history. Each reads what is written after it is
// back, not what was written while it was out; the others count the new
// member and still refuse the old one; a restart keeps the membership.
func TestRejoin(t *testing.T) {
	c, alice, bob, carol := threeMembers(t, 71)
	c.tolerate = []error{feed.ErrCutOff}
	oldCarol, oldBob := carol.r.MemberKey(), bob.r.MemberKey()
	if err := carol.r.Rejoin(1); !errors.Is(err, ErrNotOver) {
		t.Fatalf("carol rejoins while a member: %v, want ErrNotOver", err)
	}
	if err := carol.r.Remove(oldCarol, carol.lk); err != nil { // leaving
		t.Fatal(err)
	}
	c.flush(carol)
	c.remove(alice, bob)
	c.sync()
	c.send(alice, "while they are out")
	c.sync()

	for i, p := range []*peer{carol, bob} {
		link, err := alice.r.Invite(alice.lk)
		if err != nil {
			t.Fatal(err)
		}
		c.flush(alice)
		c.sync()
		if err := p.r.Rejoin(0); err == nil {
			t.Fatalf("%s rejoins as an older membership", p.name)
		}
		if err := p.r.Rejoin(uint32(i + 1)); err != nil {
			t.Fatalf("%s rejoins: %v", p.name, err)
		}
		if err := p.r.AnnounceInvited(link, p.lk); err != nil {
			t.Fatalf("%s announces again: %v", p.name, err)
		}
		c.flush(p)
		c.sync()
		c.flush(alice)
		c.sync()
		c.restart(p)
		if p.r.Membership() != uint32(i+1) {
			t.Errorf("%s after a restart: membership %d, want %d", p.name, p.r.Membership(), i+1)
		}
	}
	c.send(alice, "welcome back")
	c.send(carol, "carol again")
	c.send(bob, "bob again")
	c.sync()
	for _, p := range []*peer{alice, bob, carol} {
		s := p.r.State()
		for _, old := range []keys.Public{oldCarol, oldBob} {
			if m := s.Member(old); m == nil || !m.Removed {
				t.Errorf("%s: an old membership counts again: %+v", p.name, m)
			}
		}
		for _, q := range []*peer{bob, carol} {
			if m := s.Member(q.r.MemberKey()); m == nil || m.Removed || q.r.MemberKey() == oldBob || q.r.MemberKey() == oldCarol {
				t.Errorf("%s: %s's new membership: %+v", p.name, q.name, m)
			}
		}
		for _, body := range []string{"welcome back", "carol again", "bob again"} {
			if !p.hasBody(body) {
				t.Errorf("%s does not read %q", p.name, body)
			}
		}
	}
	for _, p := range []*peer{bob, carol} {
		if p.hasBody("while they are out") {
			t.Errorf("%s reads what was written while it was out", p.name)
		}
	}
}
