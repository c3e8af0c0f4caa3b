package node_test

import (
	"errors"
	"testing"
	"time"

	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/node"
)

// TestInvitationExpiresAndRevokes: a group link admits for its lifetime
// only. A joiner's node refuses an expired link with a clear error; the
// inviter's node revokes its expired links on its ticks; a link revoked by
// hand admits no one after, whoever uses it.
func TestInvitationExpiresAndRevokes(t *testing.T) {
	c := newCluster(t, 50, 0, false)
	alice, bob, carol := c.add("alice", nil), c.add("bob", nil), c.add("carol", nil)
	gt, err := alice.n.CreateGroup("crew")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.n.InviteFor(gt, 30*time.Second); !errors.Is(err, node.ErrBadTTL) {
		t.Errorf("a 30 s link: %v, want ErrBadTTL", err)
	}
	short, err := alice.n.InviteFor(gt, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.run()
	c.skew = 2 * time.Hour
	if _, err := bob.n.Join(short); !errors.Is(err, node.ErrInvitationExpired) {
		t.Fatalf("bob joins with an expired link: %v, want ErrInvitationExpired", err)
	}
	if err := alice.n.Tick(); err != nil {
		t.Fatal(err)
	}
	c.run()

	long, err := alice.n.Invite(gt) // a week
	if err != nil {
		t.Fatal(err)
	}
	c.run()
	if err := alice.n.RevokeInvitation(long); err != nil {
		t.Fatal(err)
	}
	if err := alice.n.RevokeInvitation(long); !errors.Is(err, replica.ErrNoSuchInvitation) {
		t.Errorf("revoking twice: %v, want ErrNoSuchInvitation", err)
	}
	c.run()
	if _, err := carol.n.Join(long); err != nil {
		t.Fatal(err) // her node cannot know it was revoked: the group decides
	}
	c.run()
	gi, err := alice.n.Group(gt)
	if err != nil {
		t.Fatal(err)
	}
	ck, _ := carol.n.MemberKey(gt)
	for _, m := range gi.Members {
		if m.Key == ck && !m.Removed {
			t.Errorf("carol joined with a revoked link")
		}
	}
	if _, err := carol.n.Send(gt, []byte("let me in")); !errors.Is(err, replica.ErrWaitingForKeys) {
		t.Errorf("carol sends: %v, want ErrWaitingForKeys", err)
	}
}
