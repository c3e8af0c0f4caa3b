package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/daemon"
)

// TestEndToEnd: alice, bob and carol, three daemon processes, become
// contacts and a group through the CLI; every message reaches every member;
// bob's daemon restarts (SIGTERM, exit 0) without losing anything, and
// messages still flow both ways; `berty tail` prints the history and then
// a new message.
func TestEndToEnd(t *testing.T) {
	start := time.Now()
	alice := startDaemon(t, "alice")
	aliceID := alice.id()
	bob := startDaemon(t, "bob", aliceID.Listen[0])
	bobID := bob.id()
	carol := startDaemon(t, "carol", aliceID.Listen[0], bobID.Listen[0])
	carolID := carol.id()
	t.Logf("three daemons up in %v", time.Since(start).Round(time.Millisecond))

	// Contacts: bob and carol ask alice from her link; she accepts both.
	for _, p := range []*proc{bob, carol} {
		var r struct{ Account, State string }
		p.cliJSON(&r, "contact", "add", aliceID.Link)
		if r.Account != aliceID.Account || r.State != "outgoing" {
			t.Fatalf("berty contact add (%s): %+v", p.name, r)
		}
	}
	type contact struct{ Account, Name, State, Topic string }
	contacts := func(p *proc) map[string]contact {
		var cs []contact
		p.cliJSON(&cs, "contact", "list")
		m := map[string]contact{}
		for _, c := range cs {
			m[c.Account] = c
		}
		return m
	}
	incoming := bv1.ContactState_CONTACT_STATE_INCOMING
	alice.until("bob's and carol's requests", func() bool {
		return alice.contactState(bobID.Account) == incoming && alice.contactState(carolID.Account) == incoming
	})
	cs := contacts(alice)
	for _, want := range []contact{{Account: bobID.Account, Name: "bob", State: "incoming"}, {Account: carolID.Account, Name: "carol", State: "incoming"}} {
		if got := cs[want.Account]; got.Name != want.Name || got.State != want.State {
			t.Errorf("alice's contact list has %+v, want %+v", got, want)
		}
		if out := alice.cli("contact", "accept", want.Account); strings.TrimSpace(out) != "accepted" {
			t.Errorf("berty contact accept %s printed %q", want.Name, out)
		}
	}
	for _, p := range []*proc{bob, carol} {
		p.until("alice's acceptance", func() bool {
			return p.contactState(aliceID.Account) == bv1.ContactState_CONTACT_STATE_ACCEPTED && p.conversation("alice") != nil
		})
		if c := contacts(p)[aliceID.Account]; c.State != "accepted" || len(c.Topic) != 64 {
			t.Errorf("%s's contact alice: %+v", p.name, c)
		}
	}
	t.Logf("contacts in %v", time.Since(start).Round(time.Millisecond))

	// Safety numbers (§11.8): bob and alice see the same digits; a wrong
	// number is refused (exit 5), the right one read out is recorded.
	type sn struct {
		Number, Code      string
		Verified, Changed bool
	}
	var ofBob, ofAlice sn
	bob.cliJSON(&ofBob, "contact", "verify", aliceID.Account)
	alice.cliJSON(&ofAlice, "contact", "verify", bobID.Account)
	if len(ofBob.Number) != 60 || ofBob.Number != ofAlice.Number || ofBob.Verified {
		t.Fatalf("safety numbers: bob sees %+v, alice %+v", ofBob, ofAlice)
	}
	wrong := "1" + ofBob.Number[1:]
	if wrong == ofBob.Number {
		wrong = "2" + ofBob.Number[1:]
	}
	if r := berty(t, "contact", "verify", aliceID.Account, "--number", wrong, "--data", bob.dir); r.code != exitRefused || !strings.Contains(r.stderr, "safety numbers differ") {
		t.Errorf("a wrong safety number: exit %d, %q", r.code, r.stderr)
	}
	if out := bob.cli("contact", "verify", aliceID.Account, "--number", ofAlice.Number[:30]+" "+ofAlice.Number[30:]); !strings.Contains(out, "\nverified") {
		t.Errorf("berty contact verify --number printed %q", out)
	}
	var bobsContacts []struct {
		Account  string
		Verified bool
	}
	bob.cliJSON(&bobsContacts, "contact", "list")
	if len(bobsContacts) != 1 || !bobsContacts[0].Verified {
		t.Errorf("bob's contact list after verifying alice: %+v", bobsContacts)
	}

	// The 1:1 conversations, both ways.
	for _, p := range []*proc{bob, carol} {
		p.cli("send", "alice", "hi alice, "+p.name+" here")
		alice.cli("send", p.name, "hi "+p.name)
	}
	for _, p := range []*proc{bob, carol} {
		at := alice.conversation(p.name)
		if at == nil {
			t.Fatalf("alice has no conversation with %s", p.name)
		}
		alice.until(p.name+"'s message", func() bool { return alice.has(at.Topic, p.name, "hi alice, "+p.name+" here") })
		pt := p.conversation("alice")
		p.until("alice's message", func() bool { return p.has(pt.Topic, "alice", "hi "+p.name) })
		if string(at.Topic) != string(pt.Topic) {
			t.Errorf("alice and %s are in different 1:1 conversations: %x, %x", p.name, at.Topic, pt.Topic)
		}
	}
	t.Logf("1:1 messages in %v", time.Since(start).Round(time.Millisecond))

	// The group: alice creates it and invites with a group link; bob and
	// carol join; everyone writes; everyone reads everyone.
	var created struct{ Topic string }
	alice.cliJSON(&created, "group", "create", "friends")
	var invite struct{ Link, Compact string }
	alice.cliJSON(&invite, "group", "invite", created.Topic[:8])
	for _, p := range []*proc{bob, carol} {
		var joined struct{ Topic, Name string }
		p.cliJSON(&joined, "group", "join", invite.Link)
		if joined.Topic != created.Topic || joined.Name != "friends" {
			t.Errorf("berty group join (%s): %+v, want topic %s", p.name, joined, created.Topic)
		}
	}
	everyone := []*proc{alice, bob, carol}
	var gt []byte
	for _, p := range everyone {
		p.until("the group", func() bool { return p.conversation("friends") != nil })
		gt = p.conversation("friends").Topic
		if fmt.Sprintf("%x", gt) != created.Topic {
			t.Fatalf("%s's friends is %x, want %s", p.name, gt, created.Topic)
		}
	}
	// A joiner writes once a member has let it in (handed it the group's
	// keys): until then `berty send` says it waits for one. As a person
	// would, bob and carol write once they read alice's first message.
	alice.cli("send", "friends", "hello friends from alice")
	for _, p := range []*proc{bob, carol} {
		p.until("alice's group message", func() bool { return p.has(gt, "alice", "hello friends from alice") })
		p.cli("send", "friends", "hello friends from "+p.name)
	}
	for _, p := range everyone {
		for _, from := range everyone {
			p.until(from.name+"'s group message", func() bool { return p.has(gt, from.name, "hello friends from "+from.name) })
		}
	}
	t.Logf("group messages in %v", time.Since(start).Round(time.Millisecond))

	// Links expire and can be revoked (§5.5): a one-hour link says when it
	// ends; revoking it works once, then it is no longer found; a lifetime
	// out of range is a usage error.
	var hour struct{ Link, Expires string }
	alice.cliJSON(&hour, "group", "invite", "friends", "--ttl", "1h")
	if exp, err := time.Parse(time.RFC3339, hour.Expires); err != nil || time.Until(exp) < 59*time.Minute || time.Until(exp) > 61*time.Minute {
		t.Errorf("berty group invite --ttl 1h: expires %q (%v), want in an hour", hour.Expires, err)
	}
	if out := alice.cli("group", "revoke-link", hour.Link); strings.TrimSpace(out) != "revoked" {
		t.Errorf("berty group revoke-link printed %q", out)
	}
	if r := berty(t, "group", "revoke-link", hour.Link, "--data", alice.dir); r.code != exitNotFound || !strings.Contains(r.stderr, "no such invitation") {
		t.Errorf("revoking a revoked link: exit %d, %q; want %d and a clear message", r.code, r.stderr, exitNotFound)
	}
	if r := berty(t, "group", "invite", "friends", "--ttl", "10s", "--data", alice.dir); r.code != exitUsage || !strings.Contains(r.stderr, "--ttl") {
		t.Errorf("a 10 s link: exit %d, %q; want %d", r.code, r.stderr, exitUsage)
	}

	// Join approval (§5.5): alice's "club" makes joins wait for her. Bob
	// joins and waits, reading and writing nothing; alice sees him waiting
	// through her link and admits him; then he writes and she reads. Carol
	// is declined and stays out.
	alice.cliJSON(&created, "group", "create", "club")
	if out := alice.cli("group", "approval", "club", "on"); !strings.Contains(out, "wait for an admin") {
		t.Errorf("berty group approval on printed %q", out)
	}
	alice.cliJSON(&invite, "group", "invite", "club")
	for _, p := range []*proc{bob, carol} {
		p.cli("group", "join", invite.Link)
	}
	type member struct {
		Key, Inviter                   string
		Awaiting, Admin, Self, Removed bool
	}
	waiting := func() []member {
		var ms, out []member
		alice.cliJSON(&ms, "group", "members", "club")
		for _, m := range ms {
			if m.Awaiting {
				out = append(out, m)
			}
		}
		return out
	}
	alice.until("bob's and carol's joins to wait", func() bool { return len(waiting()) == 2 })
	var bobClub, carolClub string
	for _, p := range []*proc{bob, carol} {
		var ms []member
		p.cliJSON(&ms, "group", "members", "club")
		for _, m := range ms {
			if m.Awaiting && m.Self {
				if p == bob {
					bobClub = m.Key
				} else {
					carolClub = m.Key
				}
			}
		}
	}
	if bobClub == "" || carolClub == "" {
		t.Fatal("bob and carol do not see themselves waiting")
	}
	if out := alice.cli("group", "members", "club"); !strings.Contains(out, bobClub) || !strings.Contains(out, "waits for an admin (link by alice)") {
		t.Errorf("berty group members club printed %q, want bob waiting through alice's link", out)
	}
	if r := berty(t, "send", "club", "let me in", "--data", bob.dir); r.code != exitRefused || !strings.Contains(r.stderr, "approve joins") {
		t.Errorf("bob sending while he waits: exit %d, %q; want %d saying an admin must let him in", r.code, strings.TrimSpace(r.stderr), exitRefused)
	}
	if r := berty(t, "group", "admit", "club", bobClub[:8], "--data", carol.dir); r.code != exitNotFound && r.code != exitRefused {
		t.Errorf("carol, who waits, admitting bob: exit %d, %q", r.code, strings.TrimSpace(r.stderr))
	}
	if out := alice.cli("group", "admit", "club", bobClub[:8]); !strings.HasPrefix(out, "admitted") {
		t.Errorf("berty group admit printed %q", out)
	}
	if out := alice.cli("group", "decline", "club", carolClub[:8]); !strings.HasPrefix(out, "declined") {
		t.Errorf("berty group decline printed %q", out)
	}
	club := alice.conversation("club").Topic
	bob.until("alice's admission", func() bool {
		return berty(t, "send", "club", "thanks for letting me in", "--data", bob.dir).code == 0
	})
	alice.until("bob's first message in the club", func() bool { return alice.has(club, "bob", "thanks for letting me in") })
	alice.cli("send", "club", "welcome bob")
	bob.until("alice's welcome", func() bool { return bob.has(club, "alice", "welcome bob") })
	if carol.has(club, "alice", "welcome bob") {
		t.Error("carol, declined, reads the club")
	}
	if r := berty(t, "send", "club", "still here", "--data", carol.dir); r.code != exitRefused {
		t.Errorf("carol, declined, sends: exit %d, %q", r.code, strings.TrimSpace(r.stderr))
	}
	if len(waiting()) != 0 {
		t.Errorf("joins still waiting after alice decided: %+v", waiting())
	}
	// Carol is not told she was declined (she cannot read the group); she
	// gives up waiting.
	carol.cli("group", "leave", "club")
	// Bob leaves the club and comes back (§3.2): with a new link he is a
	// new member, who waits for alice again and reads only what follows.
	bob.cli("group", "leave", "club")
	bobGone := func() bool {
		var ms []member
		alice.cliJSON(&ms, "group", "members", "club")
		for _, m := range ms {
			if m.Key == bobClub {
				return m.Removed
			}
		}
		return false
	}
	alice.until("bob's leave", bobGone)
	alice.cli("send", "club", "bob has left")
	alice.cliJSON(&invite, "group", "invite", "club")
	bob.cli("group", "join", invite.Link)
	alice.until("bob's new join to wait", func() bool { return len(waiting()) == 1 && waiting()[0].Key != bobClub })
	alice.cli("group", "admit", "club", waiting()[0].Key[:8])
	bob.until("alice's admission, again", func() bool {
		return berty(t, "send", "club", "bob is back", "--data", bob.dir).code == 0
	})
	alice.until("bob's message after he came back", func() bool { return alice.has(club, "bob", "bob is back") })
	alice.cli("send", "club", "welcome back bob")
	bob.until("alice's welcome back", func() bool { return bob.has(club, "alice", "welcome back bob") })
	// What bob wrote in his first membership is still his own.
	for _, it := range bob.history(club) {
		if (it.Body == "thanks for letting me in" || it.Body == "bob is back") && !it.Own {
			t.Errorf("bob's %q is not shown as his own after he came back", it.Body)
		}
	}
	if bob.has(club, "alice", "bob has left") {
		t.Error("bob, back, reads what was written while he was out")
	}
	t.Logf("join approval and rejoin in %v", time.Since(start).Round(time.Millisecond))

	// A hostile text: what alice's terminal gets of it is text, on lines
	// indented under it; --json gives it exactly.
	bob.cli("send", "friends", hostile)
	alice.until("bob's hostile message", func() bool { return alice.has(gt, "bob", hostile) })
	for _, args := range [][]string{{"tail", "friends", "--follow=false", "--last", "1"}, {"search", "fake"}, {"conversations"}} {
		out := alice.cli(args...)
		if r, bad := controls(out); bad {
			t.Errorf("berty %s printed the control %U: %q", strings.Join(args, " "), r, out)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "12:00:00") || strings.HasPrefix(l, "third") {
				t.Errorf("berty %s printed a line of bob's text as a line of its own: %q", strings.Join(args, " "), out)
			}
		}
	}
	var hostileJSON struct{ Body string }
	alice.cliJSON(&hostileJSON, "tail", "friends", "--follow=false", "--last", "1")
	if hostileJSON.Body != hostile {
		t.Errorf("berty tail --json: body %q, want %q", hostileJSON.Body, hostile)
	}
	if out := alice.cli("group", "invite", "friends", "--qr"); !strings.HasPrefix(out, "https://berty.tech/") || strings.Count(out, "\n") < 10 {
		t.Errorf("berty group invite --qr printed %q, want the link and a QR code", out)
	}

	// Edit, react, delete and search through the CLI: alice fixes a typo,
	// bob reacts to the fixed message, alice deletes it; everyone sees each
	// step. Bob may not edit alice's message; search finds by words.
	alice.cli("send", "friends", "dinner at 8 in the gardn")
	var edited struct{ ID string }
	alice.cliJSON(&edited, "edit", "friends", "dinner at 8 in the garden")
	find := func(p *proc, id string) *bv1.Interaction {
		for _, it := range p.history(gt) {
			if fmt.Sprintf("%x", it.Id) == id {
				return it
			}
		}
		return nil
	}
	for _, p := range everyone {
		p.until("alice's edit", func() bool {
			it := find(p, edited.ID)
			return it != nil && it.Edited && it.Body == "dinner at 8 in the garden"
		})
	}
	if r := berty(t, "edit", "friends", "--id", edited.ID[:8], "not yours", "--data", bob.dir); r.code != exitRefused {
		t.Errorf("bob editing alice's message: exit %d (%s), want %d", r.code, strings.TrimSpace(r.stderr), exitRefused)
	}
	if r := berty(t, "edit", "friends", "--id", "xyz!", "x", "--data", bob.dir); r.code != exitUsage {
		t.Errorf("berty edit --id xyz!: exit %d, want %d", r.code, exitUsage)
	}
	var reacted struct{ ID string }
	bob.cliJSON(&reacted, "react", "friends", "🎉")
	if reacted.ID != edited.ID {
		t.Errorf("bob reacted to %s, want the latest message %s", reacted.ID, edited.ID)
	}
	for _, p := range []*proc{alice, carol} {
		p.until("bob's reaction", func() bool {
			it := find(p, edited.ID)
			return it != nil && len(it.Reactions) == 1 && it.Reactions[0].Emoji == "🎉" && it.Reactions[0].Count == 1
		})
	}
	if out := carol.cli("tail", "friends", "--follow=false", "--last", "1"); !strings.HasSuffix(out, "alice      dinner at 8 in the garden (edited)  🎉 1\n") {
		t.Errorf("carol's berty tail --follow=false shows alice's edited message with bob's reaction as %q", out)
	}
	var hits []struct{ ID, Name, Body, Conversation string }
	carol.cliJSON(&hits, "search", "gard")
	if len(hits) != 1 || hits[0].ID != edited.ID || hits[0].Conversation != "friends" || hits[0].Name != "alice" {
		t.Errorf("carol's search for gard: %+v, want alice's edited message in friends", hits)
	}
	var deleted struct{ ID string }
	alice.cliJSON(&deleted, "delete", "friends")
	if deleted.ID != edited.ID {
		t.Errorf("alice deleted %s, want her latest message %s", deleted.ID, edited.ID)
	}
	for _, p := range everyone {
		p.until("alice's delete", func() bool {
			it := find(p, edited.ID)
			return it != nil && it.Deleted && it.Body == ""
		})
	}
	if out := carol.cli("search", "garden"); out != "" {
		t.Errorf("search still finds the deleted message: %q", out)
	}
	if out := carol.cli("tail", "friends", "--follow=false", "--last", "1"); !strings.HasSuffix(out, "alice      [deleted]\n") {
		t.Errorf("carol's berty tail --follow=false shows alice's deleted message as %q", out)
	}
	t.Logf("edit, react, delete and search in %v", time.Since(start).Round(time.Millisecond))

	// `berty conversations --json` lists each member's conversations.
	for _, x := range []struct {
		p    *proc
		want []string
	}{{alice, []string{"bob", "carol", "club", "friends"}}, {bob, []string{"alice", "club", "friends"}}, {carol, []string{"alice", "friends"}}} {
		var convs []struct{ Name string }
		x.p.cliJSON(&convs, "conversations")
		var names []string
		for _, c := range convs {
			names = append(names, c.Name)
		}
		if slices.Sort(names); !slices.Equal(names, x.want) {
			t.Errorf("%s's conversations: %v, want %v", x.p.name, names, x.want)
		}
	}

	// `berty mute` silences a conversation on the account's devices, and
	// `berty conversations` says until when; off unmutes.
	muted := func(p *proc, name string) string {
		var convs []struct{ Name, Muted_until string }
		p.cliJSON(&convs, "conversations")
		for _, c := range convs {
			if c.Name == name {
				return c.Muted_until
			}
		}
		return "?"
	}
	var mu struct{ Muted_until string }
	alice.cliJSON(&mu, "mute", "friends", "3d")
	if until, err := time.Parse(time.RFC3339, mu.Muted_until); err != nil || until.Before(time.Now().Add(71*time.Hour)) {
		t.Errorf("berty mute friends 3d: muted until %q (%v)", mu.Muted_until, err)
	}
	if got := muted(alice, "friends"); got != mu.Muted_until {
		t.Errorf("alice's friends muted until %q, want %q", got, mu.Muted_until)
	}
	if r := berty(t, "mute", "friends", "3 days", "--data", alice.dir); r.code != exitUsage || !strings.Contains(r.stderr, "90m, 8h, 3d, 2w") {
		t.Errorf("berty mute with a bad duration: exit %d, %q", r.code, r.stderr)
	}
	if out := alice.cli("mute", "friends", "off"); strings.TrimSpace(out) != "unmuted" || muted(alice, "friends") != "" {
		t.Errorf("berty mute off printed %q; friends muted until %q", out, muted(alice, "friends"))
	}

	// Bob's daemon restarts; alice writes to him while he is down.
	bobAlice := bob.conversation("alice").Topic
	before := map[string][]*bv1.Interaction{"alice": bob.history(bobAlice), "friends": bob.history(gt)}
	bob.stop()
	alice.cli("send", "bob", "while you were away")
	alice.cli("send", "friends", "group, while bob was away")
	bob.start()
	after := map[string][]*bv1.Interaction{"alice": bob.history(bobAlice), "friends": bob.history(gt)}
	for conv, b := range before {
		a := after[conv]
		if len(a) < len(b) {
			t.Errorf("bob's %s has %d interactions after the restart, %d before", conv, len(a), len(b))
			continue
		}
		for i := range b {
			if !proto.Equal(a[i], b[i]) {
				t.Errorf("bob's %s differs after the restart at %d: %v, was %v", conv, i, a[i], b[i])
			}
		}
	}
	bob.until("what alice wrote while he was down", func() bool {
		return bob.has(bobAlice, "alice", "while you were away") && bob.has(gt, "alice", "group, while bob was away")
	})
	bob.cli("send", "alice", "back, bob")
	bob.cli("send", "friends", "back in the group, bob")
	alice.cli("send", "bob", "welcome back")
	carol.cli("send", "friends", "welcome back from carol")
	alice.until("bob's messages after his restart", func() bool {
		return alice.has(bobAlice, "bob", "back, bob") && alice.has(gt, "bob", "back in the group, bob")
	})
	carol.until("bob's group message after his restart", func() bool { return carol.has(gt, "bob", "back in the group, bob") })
	bob.until("messages after his restart", func() bool {
		return bob.has(bobAlice, "alice", "welcome back") && bob.has(gt, "carol", "welcome back from carol")
	})
	t.Logf("restart checked in %v", time.Since(start).Round(time.Millisecond))

	// `berty tail`: the conversation's latest messages, then a new one,
	// then a line for each change to it: an edit, a reply to it, a
	// reaction to the reply, the reply deleted.
	tail(t, alice, "bob", "back, bob",
		step{func() { bob.cli("send", "alice", "tail sees this") }, "bob        tail sees this"},
		step{func() { bob.cli("edit", "alice", "tail sees this, edited") }, "bob        (edited) tail sees this, edited"},
		step{func() {
			var id []byte
			for _, it := range bob.history(bobAlice) {
				if it.Body == "tail sees this, edited" {
					id = it.Id
				}
			}
			if _, err := bob.c.Messenger.SendText(t.Context(), &bv1.SendTextRequest{Topic: bobAlice, Body: "a reply", ReplyTo: id}); err != nil {
				t.Fatal(err)
			}
		}, "bob        (↳ bob: tail sees this, edited) a reply"},
		step{func() { alice.cli("react", "bob", "👍") }, `bob        reactions to "a reply": 👍 1`},
		step{func() { bob.cli("delete", "alice") }, "bob        [deleted]"},
	)

	// `berty name`: carol's new name reaches alice, in the group's members
	// and on carol's messages.
	carol.cli("name", "Caroline")
	alice.until("carol's new name", func() bool {
		var ms []struct{ Name string }
		alice.cliJSON(&ms, "group", "members", "friends")
		return slices.ContainsFunc(ms, func(m struct{ Name string }) bool { return m.Name == "Caroline" }) &&
			alice.has(gt, "Caroline", "welcome back from carol")
	})
	if out := alice.cli("group", "members", "friends"); !strings.Contains(out, "Caroline         1 device\n") || strings.Contains(out, "1 devices") {
		t.Errorf("berty group members:\n%s\nwant Caroline with \"1 device\"", out)
	}

	// Blocking: bob blocks alice; sending to her says why it cannot (exit
	// 5), and unblocking gives the conversation back at once.
	bob.cli("contact", "block", aliceID.Account)
	if r := berty(t, "send", "alice", "hi again", "--data", bob.dir); r.code != exitRefused || !strings.Contains(r.stderr, "you blocked alice") {
		t.Errorf("sending to a blocked contact: exit %d, %q; want %d saying she is blocked", r.code, strings.TrimSpace(r.stderr), exitRefused)
	}
	bob.cli("contact", "unblock", aliceID.Account)
	bob.cli("send", "alice", "unblocked")
	alice.until("bob's message after unblocking her", func() bool { return alice.has(bobAlice, "bob", "unblocked") })

	// `berty group remove`: bob is no admin; alice, the creator, removes
	// Caroline by her name.
	if r := berty(t, "group", "remove", "friends", "caroline", "--data", bob.dir); r.code != exitRefused {
		t.Errorf("bob removing carol: exit %d (%s), want %d", r.code, strings.TrimSpace(r.stderr), exitRefused)
	}
	carolKey := carolMember(t, alice)
	var removed struct{ Key, Name string }
	alice.cliJSON(&removed, "group", "remove", "friends", "caroline")
	if removed.Key != carolKey || removed.Name != "Caroline" {
		t.Errorf("berty group remove friends caroline removed %+v, want Caroline", removed)
	}
	var ms []struct {
		Name    string
		Removed bool
	}
	alice.cliJSON(&ms, "group", "members", "friends")
	for _, m := range ms {
		if m.Removed != (m.Name == "Caroline") {
			t.Errorf("after the removal, alice's members of friends: %+v", ms)
		}
	}

	// No daemon logged a message's text or its API token.
	for _, p := range everyone {
		b, err := os.ReadFile(p.log)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := os.ReadFile(filepath.Join(p.dir, daemon.TokenFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"hello friends from", "while you were away", "tail sees this", strings.TrimSpace(string(tok))} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s's daemon log contains %q", p.name, secret)
			}
		}
	}
	t.Logf("done in %v", time.Since(start).Round(time.Millisecond))
}

// carolMember is carol's member key in alice's friends, in hex.
func carolMember(t *testing.T, alice *proc) string {
	var ms []struct{ Key, Name string }
	alice.cliJSON(&ms, "group", "members", "friends")
	for _, m := range ms {
		if m.Name == "Caroline" {
			return m.Key
		}
	}
	t.Fatalf("alice's friends has no Caroline: %+v", ms)
	return ""
}

// step is something done while `berty tail` runs, and the end of the
// line it must print then.
type step struct {
	do   func()
	want string
}

// tail runs `berty tail CONV` on p: it must print old (from the history)
// first, then, after each step, the step's line (from the stream); then it
// must exit 0 on SIGTERM.
func tail(t *testing.T, p *proc, conv, old string, steps ...step) {
	t.Helper()
	cmd := exec.Command(binary(t), "tail", conv, "--data", p.dir)
	cmd.Env = env()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(t.TempDir(), "tail.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stderr = stderr
	errText := func() string { b, _ := os.ReadFile(stderr.Name()); return strings.TrimSpace(string(b)) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait() // after the pipe is drained, as Wait wants
	}()
	defer func() {
		cmd.Process.Kill()
		for range lines {
		}
	}()
	timeout := time.After(30 * time.Second)
	waitLine := func(want string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("berty tail ended before printing %q: %s", want, errText())
				}
				if strings.HasSuffix(l, want) {
					return
				}
			case <-timeout:
				t.Fatalf("berty tail has not printed %q after 30 s", want)
			}
		}
	}
	waitLine(old)
	for _, s := range steps {
		s.do()
		waitLine(s.want)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range lines {
		}
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("berty tail exited with %v on SIGTERM, want status 0 (%s)", err, errText())
		}
	case <-timeout:
		t.Fatalf("berty tail still running after SIGTERM")
	}
}
