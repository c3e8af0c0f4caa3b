package messenger_test

import (
	"testing"
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
