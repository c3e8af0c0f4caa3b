package device_test

import (
	"slices"
	"testing"

	cgroup "github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/state"
)

func (x *dev) contactState(other *dev) state.ContactState {
	for _, c := range x.d.Node.Contacts() {
		if c.Account == other.d.Node.AccountKey() {
			return c.State
		}
	}
	return 0
}

func (x *dev) link() *link.Contact {
	x.t.Helper()
	l, err := x.d.ContactLink()
	if err != nil {
		x.t.Fatal(err)
	}
	// What the user shares is text: go through it.
	back, err := link.ParseContact(l.URL())
	if err != nil {
		x.t.Fatal(err)
	}
	return back
}

// contactTopic is the contact group of two accounts.
func contactTopic(t *testing.T, a, b *dev) [32]byte {
	t.Helper()
	g, err := cgroup.Contact(keysOf(t, a), b.d.Node.AccountKey())
	if err != nil {
		t.Fatal(err)
	}
	return g.Keys.Topic
}

// chat checks that a and b are contacts who read each other.
func chat(t *testing.T, a, b *dev) {
	t.Helper()
	for _, x := range []*dev{a, b} {
		o := b
		if x == b {
			o = a
		}
		x.until("the contact accepted", func() bool { return x.contactState(o) == state.ContactAccepted })
	}
	topic := contactTopic(t, a, b)
	if _, err := a.d.Node.Send(topic, []byte("hi "+b.name)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.d.Node.Send(topic, []byte("hi "+a.name)); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*dev{a, b} {
		x.until("both messages", func() bool { return x.count(topic) == 2 })
		if got := x.bodies(topic); !slices.Contains(got, "hi "+a.name) || !slices.Contains(got, "hi "+b.name) {
			t.Fatalf("%s reads %q", x.name, got)
		}
	}
}

// TestContactRequestOverLoopback: alice shares her link while bob's device
// is not even running; bob starts, requests, alice sees the request and
// accepts; they chat both ways. Everything over real libp2p and SQLite.
func TestContactRequestOverLoopback(t *testing.T) {
	alice := newDev(t, "alice")
	l := alice.link() // bob is offline: he does not exist yet
	bob := newDev(t, "bob")
	connect(t, bob, alice)
	if st, err := bob.d.RequestContact(l); err != nil || st != state.ContactOutgoing {
		t.Fatalf("RequestContact = %v, %v", st, err)
	}
	alice.until("bob's request", func() bool { return alice.contactState(bob) == state.ContactIncoming })
	bob.until("the request delivered", func() bool { return bob.contactState(alice) == state.ContactSent })
	if c := alice.d.Node.Contacts(); len(c) != 1 || c[0].Name != "bob" {
		t.Fatalf("alice's contacts: %+v, want bob's request with his name", c)
	}
	if st, err := bob.d.RequestContact(l); err != nil || st != state.ContactSent {
		t.Fatalf("a repeated request = %v, %v; want a no-op", st, err)
	}
	if err := alice.d.Node.AcceptContact(bob.d.Node.AccountKey()); err != nil {
		t.Fatal(err)
	}
	chat(t, alice, bob)
}

// TestContactResponderComesOnlineLater: bob requests while alice is down;
// his device keeps trying and says why it waits; when alice is back the
// request goes through without bob doing anything.
func TestContactResponderComesOnlineLater(t *testing.T) {
	alice := newDev(t, "alice")
	l := alice.link()
	alice.stop()
	bob := newDev(t, "bob")
	if _, err := bob.d.RequestContact(l); err != nil {
		t.Fatal(err)
	}
	bob.until("a failed try, shown", func() bool {
		rs := bob.d.Requests()
		return len(rs) == 1 && rs[0].Attempts >= 1 && rs[0].LastError != "" && rs[0].Name == "alice"
	})
	alice.start()
	connect(t, bob, alice)
	alice.until("bob's request", func() bool { return alice.contactState(bob) == state.ContactIncoming })
	bob.until("nothing left to send", func() bool { return len(bob.d.Requests()) == 0 })
	if err := alice.d.Node.AcceptContact(bob.d.Node.AccountKey()); err != nil {
		t.Fatal(err)
	}
	chat(t, alice, bob)
}

func keysOf(t *testing.T, x *dev) *keys.Pair {
	t.Helper()
	acc, err := x.d.Store.Account()
	if err != nil {
		t.Fatal(err)
	}
	return keys.FromSeed(acc.AccountSeed)
}
