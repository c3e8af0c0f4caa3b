package messenger_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/messenger"
)

func TestSmoke(t *testing.T) {
	w := newWorld(t, 1)
	alice, bob := w.add("alice", nil), w.add("bob", nil)
	w.run()
	ct := must[[32]byte](t)(alice.n.AddContact(bob.n.AccountKey(), "bob"))
	must[[32]byte](t)(bob.n.AddContact(alice.n.AccountKey(), "alice"))
	w.run()
	id := must[[32]byte](t)(alice.m.SendText(ct, "hello bob", nil))
	w.run()
	if _, err := bob.m.SendText(ct, "hi alice", &id); err != nil {
		t.Fatal(err)
	}
	if err := bob.m.React(ct, id, "👍", false); err != nil {
		t.Fatal(err)
	}
	w.run()
	if err := alice.m.Edit(ct, id, "hello bob!"); err != nil {
		t.Fatal(err)
	}
	w.run()
	for _, d := range []*dev{alice, bob} {
		h, err := d.m.History(ct, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range h {
			t.Logf("%s: %s %q edited=%v reply=%q reactions=%+v own=%v", d.name, it.Name, it.Body, it.Edited, it.ReplyText, it.Reactions, it.Own)
		}
		cs, err := d.m.Conversations()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			t.Logf("%s: conv %q unread %d", d.name, c.Name, c.Unread)
		}
		res, err := d.m.Search("hello", 10)
		t.Logf("%s: search %d %v", d.name, len(res), err)
	}
}

// TestPeopleAndLinks: the contact list, a group's members with its creator,
// a group link that another account joins with, and leaving.
func TestPeopleAndLinks(t *testing.T) {
	w := newWorld(t, 2)
	alice, bob := w.add("alice", nil), w.add("bob", nil)
	w.run()
	ct := must[[32]byte](t)(alice.n.AddContact(bob.n.AccountKey(), "bob"))
	gt := must[[32]byte](t)(alice.n.CreateGroup("climbing"))
	w.run()
	cs, err := alice.m.Contacts()
	if err != nil || len(cs) != 1 || cs[0].Name != "bob" || cs[0].Topic == nil || *cs[0].Topic != ct {
		t.Fatalf("contacts %+v, %v", cs, err)
	}
	l, err := alice.m.InvitationLink(gt)
	if err != nil {
		t.Fatal(err)
	}
	back, err := link.ParseGroup(l.URL())
	if err != nil {
		t.Fatal(err)
	}
	inv, err := replica.DecodeInvitation(back.Invitation)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.n.Join(inv); err != nil {
		t.Fatal(err)
	}
	w.run()
	ms, err := bob.m.Members(gt)
	if err != nil || len(ms) != 2 || !ms[0].Creator || ms[0].Name != "alice" || !ms[1].Self {
		t.Fatalf("bob sees members %+v, %v", ms, err)
	}
	if _, err := alice.m.InvitationLink(ct); !errors.Is(err, messenger.ErrNotInvitation) {
		t.Errorf("a link for a 1:1 conversation: %v", err)
	}
	if err := bob.m.Leave(gt); err != nil {
		t.Fatal(err)
	}
	w.run()
	ms, _ = alice.m.Members(gt)
	if len(ms) != 2 || !ms[1].Removed {
		t.Errorf("alice sees %+v after bob left", ms)
	}
	convs, _ := bob.m.Conversations()
	for _, c := range convs {
		if c.Topic == gt {
			t.Error("bob still lists the group he left")
		}
	}
}

// TestSearchShownText: an edited message is found by the words it shows,
// by the same rules as any text (punctuation splits words, case and
// diacritics do not count), and no longer by the words edited away; what a
// person types never makes Search fail (a NUL, FTS syntax).
func TestSearchShownText(t *testing.T) {
	w := newWorld(t, 3)
	alice, bob := w.add("alice", nil), w.add("bob", nil)
	w.run()
	ct := must[[32]byte](t)(alice.n.AddContact(bob.n.AccountKey(), "bob"))
	must[[32]byte](t)(bob.n.AddContact(alice.n.AccountKey(), "alice"))
	w.run()
	sent := must[[32]byte](t)(alice.m.SendText(ct, "see you at the Café,tomorrow", nil))
	edited := must[[32]byte](t)(alice.m.SendText(ct, "lunch at noon", nil))
	w.run()
	ok(t, alice.m.Edit(ct, edited, "see you at the Café,tomorrow"))
	w.run()
	for _, d := range []*dev{alice, bob} {
		for q, want := range map[string][][32]byte{
			"cafe":     {sent, edited},
			"TOMORROW": {sent, edited},
			"café tom": {sent, edited},
			"lunch":    nil,
		} {
			var got [][32]byte
			for _, it := range must[[]messenger.Interaction](t)(d.m.Search(q, 10)) {
				got = append(got, it.ID)
			}
			slices.SortFunc(got, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
			slices.SortFunc(want, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
			if !slices.Equal(got, want) {
				t.Errorf("%s: search %q found %d messages, want %d", d.name, q, len(got), len(want))
			}
		}
		for _, q := range []string{"hel\x00lo", `"`, "NEAR(a b)", "a:b", "(", "-x", "*", "\xff"} {
			if _, err := d.m.Search(q, 10); err != nil {
				t.Errorf("%s: search %q: %v", d.name, q, err)
			}
		}
	}
}

// TestConversationsLatestFirst: the conversation list puts first the one
// whose last message this device stored last. A busy group's Lamport
// clocks run far ahead of a new contact's: ordering by them kept a new
// contact's first message below the group.
func TestConversationsLatestFirst(t *testing.T) {
	w := newWorld(t, 4)
	alice, bob, carol := w.add("alice", nil), w.add("bob", nil), w.add("carol", nil)
	w.run()
	busy := must[[32]byte](t)(alice.n.CreateGroup("busy"))
	ok(t, second(bob.n.Join(must[*replica.Invitation](t)(alice.n.Invite(busy)))))
	w.run()
	for i := range 30 {
		must[[32]byte](t)(bob.m.SendText(busy, fmt.Sprint("message ", i), nil))
	}
	w.run()
	ca := must[[32]byte](t)(alice.n.AddContact(carol.n.AccountKey(), "carol"))
	must[[32]byte](t)(carol.n.AddContact(alice.n.AccountKey(), "alice"))
	w.run()
	first := func(want string) {
		t.Helper()
		cs := must[[]messenger.Conversation](t)(alice.m.Conversations())
		if len(cs) == 0 || cs[0].Name != want {
			var names []string
			for _, c := range cs {
				names = append(names, c.Name)
			}
			t.Errorf("alice's conversations %q, want %s first", names, want)
		}
	}
	first("busy")
	must[[32]byte](t)(carol.m.SendText(ca, "hello alice", nil))
	w.run()
	first("carol")
	must[[32]byte](t)(bob.m.SendText(busy, "and one more", nil))
	w.run()
	first("busy")
}
