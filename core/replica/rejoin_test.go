package replica

import (
	"fmt"
	"testing"

	"github.com/berty-go/berty/core/feed"
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
