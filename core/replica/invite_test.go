package replica

import (
	"errors"
	"testing"

	"github.com/berty-go/berty/core/feed"
)

// TestRevokedInvitationAdmitsNoOne: alice revokes a link she shared; a
// fresh joiner that never synced uses it afterwards: its announce names only
// the invitation's record, so it sorts before the revocation, yet it must
// not count (the revocation lists who alice saw join: §5.5). A joiner that
// synced first sorts after the revocation and does not count either. Dave, who joined
// with the link before the revocation and whom alice saw, stays. Before v2
// an invitation could be neither revoked nor expired.
func TestRevokedInvitationAdmitsNoOne(t *testing.T) {
	for _, how := range []string{"fresh joiner", "joiner that synced"} {
		t.Run(how, func(t *testing.T) {
			c := newCluster(t, 49)
			c.configure = func(cfg *Config) { cfg.Now = 1_000_000 }
			alice := c.creator("alice")
			bob := c.join(alice, "bob")
			c.sync()
			link, err := alice.r.InviteFor(3600, alice.lk)
			if err != nil {
				t.Fatal(err)
			}
			c.flush(alice)
			c.sync()
			dave := c.newPeer("dave", link.Group(), nil)
			if err := dave.r.AnnounceInvited(link, dave.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(dave)
			c.sync()
			if err := alice.r.RevokeInvitation(link.InviteKey(), alice.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(alice)
			if err := alice.r.RevokeInvitation(link.InviteKey(), alice.lk); !errors.Is(err, ErrNoSuchInvitation) {
				t.Errorf("revoking it again: %v, want ErrNoSuchInvitation", err)
			}
			erin := c.newPeer("erin", link.Group(), nil)
			if how == "joiner that synced" {
				c.sync(erin)
			}
			if err := erin.r.AnnounceInvited(link, erin.lk); err != nil {
				t.Fatal(err)
			}
			c.flush(erin)
			// Erin's key update, after her announce, is past the cut-off
			// that drops her.
			c.tolerate = []error{feed.ErrCutOff}
			c.sync()
			for _, p := range []*peer{alice, bob, dave} {
				if m := p.r.State().Member(erin.r.MemberKey()); m != nil && !m.Removed {
					t.Errorf("%s: erin (%s) joined with a revoked link", p.name, how)
				}
				if m := p.r.State().Member(dave.r.MemberKey()); m == nil || m.Removed {
					t.Errorf("%s: dave, who joined before the link was revoked, is out: %+v", p.name, m)
				}
			}
			c.send(alice, "after the link was revoked")
			c.sync()
			if erin.hasBody("after the link was revoked") {
				t.Error("erin reads the group")
			}
		})
	}
}
