package node_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store/mem"
)

// TestProfile: alice's name reaches her contact and her group, a member who
// joins after the rename sees it (it is metadata, not a message), and her
// second device follows it.
func TestProfile(t *testing.T) {
	c := newCluster(t, 4, 0.3, false)
	alice, bob, carol := c.add("alice", nil), c.add("bob", nil), c.add("carol", nil)
	c.run()
	alice2 := c.add("alice", alice)
	ct, err := alice.n.AddContact(bob.n.AccountKey(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.n.AddContact(alice.n.AccountKey(), "alice"); err != nil {
		t.Fatal(err)
	}
	gt, err := alice.n.CreateGroup("g")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := alice.n.Invite(gt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.n.Join(inv); err != nil {
		t.Fatal(err)
	}
	c.run()
	if err := alice.n.SetName("Alice Liddell"); err != nil {
		t.Fatal(err)
	}
	c.run()
	if _, err := carol.n.Join(inv); err != nil { // after the rename
		t.Fatal(err)
	}
	c.run()
	ak, _ := alice.n.MemberKey(gt)
	for _, v := range []struct {
		who   *device
		topic [32]byte
		key   [32]byte
	}{{bob, ct, alice.n.AccountKey()}, {bob, gt, ak}, {carol, gt, ak}} {
		if got, err := v.who.n.MemberName(v.topic, v.key); err != nil || got != "Alice Liddell" {
			t.Errorf("%s sees alice as %q (%v)", v.who.name, got, err)
		}
	}
	if alice2.n.Name() != "Alice Liddell" {
		t.Errorf("alice's second device calls her %q", alice2.n.Name())
	}
	for _, bad := range []string{string(make([]byte, 65)), "", "  ", "\xff"} {
		if err := alice.n.SetName(bad); !errors.Is(err, node.ErrBadName) {
			t.Errorf("name %q: %v, want ErrBadName", bad, err)
		}
	}
	for _, bad := range []string{strings.Repeat("n", 65), " ", "\xff"} {
		if _, err := node.Open(node.Config{Store: mem.New(), Name: bad}); !errors.Is(err, node.ErrBadName) {
			t.Errorf("a new account named %q: %v, want ErrBadName", bad, err)
		}
	}
	for _, bad := range []string{strings.Repeat("g", 257), "", " \t", "caf\xe9"} {
		if _, err := alice.n.CreateGroup(bad); !errors.Is(err, node.ErrBadGroupName) {
			t.Errorf("group name %q: %v, want ErrBadGroupName", bad, err)
		}
	}
}
