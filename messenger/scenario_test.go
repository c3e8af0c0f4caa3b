package messenger_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/messenger"
)

// chat is the scenario's world once everything has been delivered.
type chat struct {
	w                         *world
	alice, alice2, bob, carol *dev
	ab, gt, club              [32]byte // the 1:1, the group, the group bob invites alice to
	mutedUntil                time.Time

	// Messages the checks look at.
	a1, b1, b2, a3, inv [32]byte // in ab
	g1, g2, g3, g4      [32]byte // in gt

	// seen caches the checks' reads of whole histories (pages of 3): they
	// look at the same state many times.
	seen map[*dev]map[[32]byte][]messenger.Interaction
}

// history returns d's whole history of a conversation, read once.
func (c *chat) history(t *testing.T, d *dev, topic [32]byte) []messenger.Interaction {
	t.Helper()
	if c.seen == nil {
		c.seen = map[*dev]map[[32]byte][]messenger.Interaction{}
	}
	if c.seen[d] == nil {
		c.seen[d] = map[[32]byte][]messenger.Interaction{}
	}
	h, found := c.seen[d][topic]
	if !found {
		h = d.history(t, topic, 3)
		c.seen[d][topic] = h
	}
	return h
}

// members returns the devices of the 1:1 conversation or the group.
func (c *chat) members(topic [32]byte) []*dev {
	if topic == c.gt {
		return []*dev{c.alice, c.alice2, c.bob, c.carol}
	}
	return []*dev{c.alice, c.alice2, c.bob}
}

// runChat plays a chat between three accounts — alice on two devices, bob
// and carol — in a 1:1 conversation and a group, using every command, with
// the hub's seeded shuffling and duplicates in between.
func runChat(t *testing.T, seed uint64) *chat {
	w := newWorld(t, seed)
	c := &chat{w: w}
	c.alice = w.add("alice", nil)
	w.run()
	c.alice2 = w.add("alice2", c.alice)
	c.bob, c.carol = w.add("bob", nil), w.add("carol", nil)
	w.run()
	alice, alice2, bob, carol := c.alice, c.alice2, c.bob, c.carol
	c.ab = w.contact(alice, bob)
	c.gt = w.group("crew", alice, bob, carol)
	ok(t, alice.n.SetName("Alice"))
	ok(t, bob.n.SetName("Bob"))
	ok(t, carol.n.SetName("Carol"))
	w.run()

	// The 1:1 conversation.
	ab := c.ab
	c.a1 = alice.text(t, ab, "hello bob", nil)
	w.run()
	c.b1 = bob.text(t, ab, "hi alice", &c.a1) // a reply to what bob's device received
	alice2.text(t, ab, "from my phone", nil)
	ok(t, bob.m.React(ab, c.a1, "👍", false))
	ok(t, bob.m.React(ab, c.a1, "😂", false))
	w.run()
	ok(t, alice2.m.React(ab, c.a1, "👍", false)) // two members, one emoji
	ok(t, alice.m.React(ab, c.b1, "❤️", false))
	ok(t, alice.m.Edit(ab, c.a1, "hello bob!"))
	w.run()
	ok(t, alice2.m.React(ab, c.b1, "❤️", true)) // the account takes it back from its other device
	ok(t, alice2.m.Edit(ab, c.a1, "hello Bob!!"))
	c.b2 = bob.text(t, ab, "my password is hunter2", nil)
	w.run()
	ok(t, alice.m.Edit(ab, c.a1, "hello, Bob")) // the last edit wins
	c.a3 = alice.text(t, ab, "what did you say?", &c.b2)
	ok(t, bob.m.Edit(ab, c.b2, "my password is hunter3"))
	w.run()
	ok(t, bob.m.Delete(ab, c.b2))
	ok(t, bob.m.MarkRead(ab, c.a3))
	w.run()

	// A group invitation in the 1:1 conversation, used from alice's phone.
	club := must[[32]byte](t)(bob.n.CreateGroup("book club"))
	c.club = club
	ok(t, bob.m.Invite(ab, club))
	w.run()
	h := alice2.history(t, ab, 3)
	last := h[len(h)-1]
	if last.Kind != messenger.KindInvitation || last.Body != "book club" || last.Own {
		t.Fatalf("alice2's last interaction %+v, want bob's invitation to the book club", last)
	}
	c.inv = last.ID
	raw := must[[]byte](t)(alice2.m.InvitationOf(ab, last.ID))
	inv := must[*replica.Invitation](t)(replica.DecodeInvitation(raw))
	if got := must[[32]byte](t)(alice2.n.Join(inv)); got != club {
		t.Fatalf("the invitation leads to %x, want the book club %x", got[:4], club[:4])
	}
	w.run()
	bob.text(t, club, "welcome to the club", nil)
	w.run()
	alice2.text(t, club, "thanks!", nil)
	w.run()

	// The group.
	gt := c.gt
	c.g1 = carol.text(t, gt, "who's in for friday?", nil)
	w.run()
	c.g2 = bob.text(t, gt, "me", &c.g1)
	c.g3 = alice.text(t, gt, "me too", &c.g1)
	w.run()
	ok(t, carol.m.React(gt, c.g2, "🎉", false))
	ok(t, alice.m.React(gt, c.g2, "🎉", false))
	ok(t, bob.m.React(gt, c.g3, "🎉", false))
	ok(t, carol.m.Edit(gt, c.g1, "who's in for saturday?"))
	c.g4 = alice2.text(t, gt, "typo heer", nil)
	w.run()
	ok(t, alice.m.Delete(gt, c.g4)) // a message of the account's other device
	ok(t, bob.m.MarkRead(gt, c.g3))
	ok(t, carol.m.MarkDelivered(gt, c.g4))
	c.mutedUntil = time.UnixMilli(time.Now().Add(8 * time.Hour).UnixMilli())
	ok(t, alice.m.Mute(gt, c.mutedUntil))
	alice2.text(t, gt, "see you there", &c.g1)
	w.run()
	return c
}

// renderShared renders what every member of a conversation sees alike.
func renderShared(its []messenger.Interaction) string {
	return render(its, false)
}

// render writes interactions one a line; with mine, it adds what depends
// on who looks (Own, a reaction's Mine).
func render(its []messenger.Interaction, mine bool) string {
	var b strings.Builder
	for _, it := range its {
		fmt.Fprintf(&b, "%x@%d by %x %q at %d %s %q", it.ID[:6], it.Lamport, it.Member[:6], it.Name, it.SentAt.UnixMilli(), it.Kind, it.Body)
		if it.Edited {
			b.WriteString(" edited")
		}
		if it.Deleted {
			b.WriteString(" deleted")
		}
		if it.ReplyTo != nil {
			fmt.Fprintf(&b, " reply-to %x %q", it.ReplyTo[:6], it.ReplyText)
		}
		for _, r := range it.Reactions {
			fmt.Fprintf(&b, " %s×%d", r.Emoji, r.Count)
			if mine && r.Mine {
				b.WriteString("(mine)")
			}
		}
		if mine && it.Own {
			b.WriteString(" own")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// renderReceipts renders a conversation's markers in the order Receipts
// gives them (by name, then member key: the same on every device).
func renderReceipts(ms []messenger.Marker) string {
	cur := func(c *messenger.Cursor) string {
		if c == nil {
			return "-"
		}
		return fmt.Sprintf("%x@%d", c.ID[:6], c.Lamport)
	}
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%x %q read %s delivered %s\n", m.Member[:6], m.Name, cur(m.Read), cur(m.Delivered))
	}
	return b.String()
}

// renderConv renders a conversation's list entry as its account sees it.
func renderConv(c *messenger.Conversation) string {
	last := "-"
	if c.Last != nil {
		last = fmt.Sprintf("%x", c.Last.ID[:6])
	}
	return fmt.Sprintf("%x %s %q contact %x last %s unread %d muted %d", c.Topic[:6], c.Kind, c.Name, c.Contact[:6], last, c.Unread, c.MutedUntil.UnixMilli())
}

// TestScenarioSameViewEverywhere checks what users of one conversation
// compare when they put their phones side by side: the same messages in the
// same order, with the same edits, tombstones, replies, reactions, names and
// read markers — and, between the devices of one account, the same
// everything, down to what is "mine", unread counts and mute settings.
func TestScenarioSameViewEverywhere(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			c := runChat(t, seed)
			for _, topic := range [][32]byte{c.ab, c.gt} {
				checkSameView(t, c, topic)
			}
			checkChat(t, c)
			checkUnread(t, c)
		})
	}
}

// checkSameView compares a conversation across its devices and checks its
// order.
func checkSameView(t *testing.T, c *chat, topic [32]byte) {
	t.Helper()
	devs := c.members(topic)
	ref := c.history(t, devs[0], topic)
	if len(ref) == 0 {
		t.Fatalf("%s: conversation %x is empty", devs[0].name, topic[:4])
	}
	checkOrder(t, devs[0].name, ref)
	refReceipts := renderReceipts(must[[]messenger.Marker](t)(devs[0].m.Receipts(topic)))
	for _, d := range devs[1:] {
		h := c.history(t, d, topic)
		if got, want := renderShared(h), renderShared(ref); got != want {
			t.Errorf("conversation %x: %s sees\n%s%s sees\n%s", topic[:4], d.name, got, devs[0].name, want)
		}
		if got := renderReceipts(must[[]messenger.Marker](t)(d.m.Receipts(topic))); got != refReceipts {
			t.Errorf("conversation %x: %s's receipts\n%s%s's\n%s", topic[:4], d.name, got, devs[0].name, refReceipts)
		}
	}
	// alice's two devices agree on everything, what is hers included.
	h1, h2 := c.history(t, c.alice, topic), c.history(t, c.alice2, topic)
	if a, b := render(h1, true), render(h2, true); a != b {
		t.Errorf("conversation %x: alice sees\n%salice2 sees\n%s", topic[:4], a, b)
	}
	c1 := must[*messenger.Conversation](t)(c.alice.m.Conversation(topic))
	c2 := must[*messenger.Conversation](t)(c.alice2.m.Conversation(topic))
	if a, b := renderConv(c1), renderConv(c2); a != b {
		t.Errorf("alice lists %s, alice2 lists %s", a, b)
	}
}

// checkOrder checks the display order: ascending (Lamport, ID), which is
// causal — a reply after what it answers.
func checkOrder(t *testing.T, who string, h []messenger.Interaction) {
	t.Helper()
	at := map[[32]byte]int{}
	for i, it := range h {
		at[it.ID] = i
		if i > 0 {
			p := h[i-1]
			if p.Lamport > it.Lamport || (p.Lamport == it.Lamport && bytes.Compare(p.ID[:], it.ID[:]) >= 0) {
				t.Errorf("%s: %x@%d shows before %x@%d", who, p.ID[:4], p.Lamport, it.ID[:4], it.Lamport)
			}
		}
		if it.ReplyTo != nil {
			j, found := at[*it.ReplyTo]
			if !found || j >= i {
				t.Errorf("%s: reply %q shows before what it answers", who, it.Body)
			}
		}
	}
}

// checkChat checks what the scenario did, on every device.
func checkChat(t *testing.T, c *chat) {
	t.Helper()
	for _, d := range c.members(c.ab) {
		h := c.history(t, d, c.ab)
		isAlice := d != c.bob
		a1 := find(t, h, c.a1)
		if a1.Body != "hello, Bob" || !a1.Edited || a1.Deleted || a1.Name != "Alice" || a1.Own != isAlice {
			t.Errorf("%s: alice's first message %+v, want her last edit %q, own %v", d.name, a1, "hello, Bob", isAlice)
		}
		want := []messenger.Reaction{{Emoji: "👍", Count: 2, Mine: true}, {Emoji: "😂", Count: 1, Mine: !isAlice}}
		if !slices.Equal(a1.Reactions, want) {
			t.Errorf("%s: reactions on alice's first message %+v, want %+v", d.name, a1.Reactions, want)
		}
		b1 := find(t, h, c.b1)
		if b1.ReplyTo == nil || *b1.ReplyTo != c.a1 || b1.ReplyText != "hello, Bob" || b1.Name != "Bob" {
			t.Errorf("%s: bob's reply %+v, want it to answer alice's edited first message", d.name, b1)
		}
		if len(b1.Reactions) != 0 {
			t.Errorf("%s: bob's reply shows %+v, but alice took her heart back", d.name, b1.Reactions)
		}
		b2 := find(t, h, c.b2)
		if !b2.Deleted || b2.Body != "" || b2.Kind != messenger.KindText {
			t.Errorf("%s: bob's deleted message %+v, want a tombstone", d.name, b2)
		}
		a3 := find(t, h, c.a3)
		if a3.ReplyTo == nil || *a3.ReplyTo != c.b2 || a3.ReplyText != "" {
			t.Errorf("%s: the reply to a deleted message %+v shows its text", d.name, a3)
		}
		if inv := find(t, h, c.inv); inv.Kind != messenger.KindInvitation || inv.Body != "book club" {
			t.Errorf("%s: invitation %+v", d.name, inv)
		}
		if res := must[[]messenger.Interaction](t)(d.m.Search("hunter2", 10)); len(res) != 0 {
			t.Errorf("%s: search finds the deleted text: %+v", d.name, res)
		}
		if res := must[[]messenger.Interaction](t)(d.m.Search("bob", 10)); len(res) != 1 || res[0].ID != c.a1 {
			t.Errorf("%s: search for bob finds %+v, want alice's edited first message", d.name, res)
		}
		ms := must[[]messenger.Marker](t)(d.m.Receipts(c.ab))
		for _, mk := range ms {
			if mk.Member == c.bob.n.AccountKey() {
				if mk.Read == nil || mk.Read.ID != c.a3 || mk.Delivered == nil || mk.Delivered.ID != c.a3 || mk.Name != "Bob" {
					t.Errorf("%s: bob's marker %+v, want read (so delivered) up to alice's reply", d.name, mk)
				}
			}
		}
		if len(ms) != 2 {
			t.Errorf("%s: %d markers in a 1:1 conversation", d.name, len(ms))
		}
	}
	for _, d := range c.members(c.gt) {
		h := c.history(t, d, c.gt)
		g1 := find(t, h, c.g1)
		if g1.Body != "who's in for saturday?" || !g1.Edited || g1.Name != "Carol" {
			t.Errorf("%s: carol's edited question %+v", d.name, g1)
		}
		g2 := find(t, h, c.g2)
		if want := []messenger.Reaction{{Emoji: "🎉", Count: 2, Mine: d != c.bob}}; !slices.Equal(g2.Reactions, want) {
			t.Errorf("%s: reactions on bob's answer %+v, want %+v", d.name, g2.Reactions, want)
		}
		if g2.ReplyText != "who's in for saturday?" {
			t.Errorf("%s: bob's answer quotes %q, want carol's edited question", d.name, g2.ReplyText)
		}
		if g4 := find(t, h, c.g4); !g4.Deleted || g4.Body != "" || g4.Name != "Alice" {
			t.Errorf("%s: alice's typo %+v, want a tombstone (alice deleted it from her other device)", d.name, g4)
		}
		if d == c.carol {
			for _, mk := range must[[]messenger.Marker](t)(d.m.Receipts(c.gt)) {
				me := must[[32]byte](t)(d.n.MemberKey(c.gt))
				if mk.Member == me && (mk.Read != nil || mk.Delivered == nil || mk.Delivered.ID != c.g4) {
					t.Errorf("carol's marker %+v, want delivered up to alice's typo, nothing read", mk)
				}
			}
		}
		conv := must[*messenger.Conversation](t)(d.m.Conversation(c.gt))
		if muted := d == c.alice || d == c.alice2; muted != !conv.MutedUntil.IsZero() || (muted && !conv.MutedUntil.Equal(c.mutedUntil)) {
			t.Errorf("%s: group muted until %v, want %v on alice's devices only", d.name, conv.MutedUntil, c.mutedUntil)
		}
		if conv.Name != "crew" {
			t.Errorf("%s: group named %q", d.name, conv.Name)
		}
	}
	// The book club, on the devices that joined it (whether alice's first
	// device follows is TestJoinedGroupOnEveryDevice's question).
	for _, d := range []*dev{c.alice2, c.bob} {
		h := c.history(t, d, c.club)
		if got := render(h, false); !strings.Contains(got, `"welcome to the club"`) || !strings.Contains(got, `"thanks!"`) {
			t.Errorf("%s: book club shows\n%s", d.name, got)
		}
	}
}

// checkUnread checks the unread counts: the others' messages after the
// account's read marker and its own last message (writing reads), then
// none once it reads, and its own messages never count.
func checkUnread(t *testing.T, c *chat) {
	t.Helper()
	for _, d := range []*dev{c.alice, c.alice2, c.bob, c.carol} {
		convs := must[[]messenger.Conversation](t)(d.m.Conversations())
		for _, conv := range convs { // their order is TestConversationsLatestFirst's
			want := unreadOf(t, d, conv.Topic, c.history(t, d, conv.Topic))
			if conv.Unread != want {
				t.Errorf("%s: %q shows %d unread, want %d", d.name, conv.Name, conv.Unread, want)
			}
		}
	}
	// alice has marked nothing read in the 1:1: what bob wrote after her
	// last message is unread.
	if conv := must[*messenger.Conversation](t)(c.alice.m.Conversation(c.ab)); conv.Unread == 0 {
		t.Errorf("alice: nothing unread in the 1:1, want bob's messages after hers")
	}
	h := c.history(t, c.alice2, c.ab)
	ok(t, c.alice2.m.MarkRead(c.ab, h[len(h)-1].ID))
	c.seen = nil
	c.w.run()
	for _, d := range []*dev{c.alice, c.alice2} {
		if conv := must[*messenger.Conversation](t)(d.m.Conversation(c.ab)); conv.Unread != 0 {
			t.Errorf("%s: %d unread after alice2 read the 1:1", d.name, conv.Unread)
		}
	}
	// Her own new messages do not count; bob's do.
	c.alice.text(t, c.ab, "anyone?", nil)
	c.w.run()
	c.bob.text(t, c.ab, "here", nil)
	c.w.run()
	if conv := must[*messenger.Conversation](t)(c.alice2.m.Conversation(c.ab)); conv.Unread != 1 {
		t.Errorf("alice2: %d unread, want bob's one new message", conv.Unread)
	}
	if conv := must[*messenger.Conversation](t)(c.bob.m.Conversation(c.ab)); conv.Unread != 0 {
		t.Errorf("bob: %d unread, want none: he answered after alice's message", conv.Unread)
	}
}

// unreadOf counts, from the history, the others' messages after the
// account's read marker and its own last message.
func unreadOf(t *testing.T, d *dev, topic [32]byte, hist []messenger.Interaction) int {
	t.Helper()
	me := must[[32]byte](t)(d.n.MemberKey(topic))
	var read *messenger.Cursor
	for _, mk := range must[[]messenger.Marker](t)(d.m.Receipts(topic)) {
		if mk.Member == me {
			read = mk.Read
		}
	}
	for _, it := range hist { // oldest first
		if it.Own && (read == nil || it.Lamport > read.Lamport || (it.Lamport == read.Lamport && bytes.Compare(it.ID[:], read.ID[:]) > 0)) {
			c := it.Cursor()
			read = &c
		}
	}
	n := 0
	for _, it := range hist {
		after := read == nil || it.Lamport > read.Lamport || (it.Lamport == read.Lamport && bytes.Compare(it.ID[:], read.ID[:]) > 0)
		if after && !it.Own {
			n++
		}
	}
	return n
}

// TestEventsFollowDelivery subscribes a UI to bob's messenger: each
// delivery names what to re-read — for an edit, a reaction or a delete,
// the message it changes — and cancel stops the stream. Events arrive
// within the delivery, so the test reads them right after the hub runs.
func TestEventsFollowDelivery(t *testing.T) {
	w := newWorld(t, 7)
	alice, bob := w.add("alice", nil), w.add("bob", nil)
	w.run()
	ab := w.contact(alice, bob)
	var got []messenger.Event
	cancel := bob.m.Subscribe(func(ev messenger.Event) {
		if ev.Kind == messenger.InteractionUpdated || ev.Kind == messenger.ConversationUpdated {
			got = append(got, ev)
		}
	})
	expect := func(what string, id [32]byte) {
		t.Helper()
		want := []messenger.Event{{Kind: messenger.InteractionUpdated, Topic: ab, ID: id}, {Kind: messenger.ConversationUpdated, Topic: ab}}
		if !slices.Equal(got, want) {
			t.Errorf("after %s, bob got %+v, want %+v", what, got, want)
		}
		got = nil
	}
	a1 := alice.text(t, ab, "hello", nil)
	w.run()
	expect("a text", a1)
	ok(t, alice.m.Edit(ab, a1, "hello bob"))
	w.run()
	expect("an edit", a1)
	ok(t, alice.m.React(ab, a1, "👋", false))
	w.run()
	expect("a reaction", a1)
	a2 := alice.text(t, ab, "oops", &a1)
	w.run()
	expect("a reply", a2)
	ok(t, alice.m.Delete(ab, a2))
	w.run()
	expect("a delete", a2)
	b1 := bob.text(t, ab, "hi", nil)
	expect("bob's own text", b1)
	w.run()

	cancel()
	alice.text(t, ab, "still there?", nil)
	ok(t, alice.m.React(ab, b1, "👍", false))
	w.run()
	if len(got) != 0 {
		t.Errorf("after cancel, bob got %+v", got)
	}
}

// TestHistoryPages pages through 25 messages the way a UI loads older
// ones, and jumps to one in the middle.
func TestHistoryPages(t *testing.T) {
	w := newWorld(t, 8)
	alice, bob := w.add("alice", nil), w.add("bob", nil)
	w.run()
	ab := w.contact(alice, bob)
	var ids [][32]byte
	for i := range 25 {
		from := alice
		if i%3 == 2 {
			from = bob
		}
		ids = append(ids, from.text(t, ab, fmt.Sprintf("message %d", i), nil))
		w.run() // each message after the one before: display order is send order
	}
	for _, d := range []*dev{alice, bob} {
		var sizes []int
		var seen [][32]byte
		var before *messenger.Cursor
		for {
			p := must[[]messenger.Interaction](t)(d.m.History(ab, before, 10))
			sizes = append(sizes, len(p))
			for _, it := range p {
				seen = append(seen, it.ID)
			}
			if len(p) < 10 {
				break
			}
			c := p[len(p)-1].Cursor()
			before = &c
		}
		if !slices.Equal(sizes, []int{10, 10, 5}) {
			t.Errorf("%s: pages of %v, want 10, 10, 5", d.name, sizes)
		}
		slices.Reverse(seen)
		if !slices.Equal(seen, ids) {
			t.Errorf("%s: the pages, newest first, are not the 25 messages in reverse order", d.name)
		}
		around := must[[]messenger.Interaction](t)(d.m.Around(ab, ids[12], 3))
		var got [][32]byte
		for _, it := range around {
			got = append(got, it.ID)
		}
		if !slices.Equal(got, ids[9:16]) {
			t.Errorf("%s: around message 12: %d messages, want 9 to 15 oldest first", d.name, len(got))
		}
		if around := must[[]messenger.Interaction](t)(d.m.Around(ab, ids[1], 3)); len(around) != 5 || around[0].ID != ids[0] || around[4].ID != ids[4] {
			t.Errorf("%s: around message 1: %d messages, want 0 to 4", d.name, len(around))
		}
		if last := must[[]messenger.Interaction](t)(d.m.Around(ab, ids[24], 3)); len(last) != 4 || last[3].ID != ids[24] {
			t.Errorf("%s: around the last message: %d messages, want 21 to 24", d.name, len(last))
		}
	}
}

// TestJoinedGroupOnEveryDevice: a group one device of an account joins by
// invitation is the account's, so its other device follows it there (as it
// does for a group the device creates), and the members see the account's
// name on what either device writes.
func TestJoinedGroupOnEveryDevice(t *testing.T) {
	for _, joinFromLinked := range []bool{true, false} {
		t.Run(fmt.Sprintf("linked=%v", joinFromLinked), func(t *testing.T) {
			w := newWorld(t, 9)
			alice := w.add("alice", nil)
			w.run()
			alice2, bob := w.add("alice2", alice), w.add("bob", nil)
			w.run()
			ab := w.contact(alice, bob)
			club := must[[32]byte](t)(bob.n.CreateGroup("book club"))
			ok(t, bob.m.Invite(ab, club))
			w.run()
			joiner, follower := alice, alice2
			if joinFromLinked {
				joiner, follower = alice2, alice
			}
			h := joiner.history(t, ab, 10)
			raw := must[[]byte](t)(joiner.m.InvitationOf(ab, h[len(h)-1].ID))
			must[[32]byte](t)(joiner.n.Join(must[*replica.Invitation](t)(replica.DecodeInvitation(raw))))
			w.run()
			if _, err := follower.m.Conversation(club); err != nil {
				t.Errorf("%s does not list the group %s joined: %v", follower.name, joiner.name, err)
			}
			if _, err := follower.m.SendText(club, "hello from my other device", nil); err != nil {
				t.Errorf("%s cannot write in the group %s joined: %v", follower.name, joiner.name, err)
			}
			joiner.text(t, club, "hello club", nil)
			w.run()
			for _, it := range bob.history(t, club, 10) {
				if !it.Own && it.Name != "alice" {
					t.Errorf("bob sees %q by %q, want by alice", it.Body, it.Name)
				}
			}
		})
	}
}

// TestCutOffDelete: carol deletes her (edited) question while alice, who
// has not seen the delete, removes her from the group. The delete comes
// after carol's cut-off (§5.3): alice's devices refuse it, while bob, who
// had it, loses it in the truncation — after its projection had scrubbed
// the text. Bob cannot get the words back, so the devices may differ
// (text on one, tombstone on the other); but none may show what nobody
// wrote — an empty text marked edited.
func TestCutOffDelete(t *testing.T) {
	w := newWorld(t, 10)
	alice, bob, carol := w.add("alice", nil), w.add("bob", nil), w.add("carol", nil)
	w.run()
	gt := w.group("crew", alice, bob, carol)
	q := carol.text(t, gt, "who's in for friday?", nil)
	w.run()
	ok(t, carol.m.Edit(gt, q, "who's in for saturday?"))
	w.run()
	alice.ep.SetOnline(false)
	ok(t, carol.m.Delete(gt, q))
	w.run()
	if it := find(t, bob.history(t, gt, 10), q); !it.Deleted {
		t.Fatal("bob did not get carol's delete before her removal")
	}
	ok(t, alice.n.Remove(gt, must[[32]byte](t)(carol.n.MemberKey(gt))))
	alice.ep.SetOnline(true)
	w.run()
	for _, d := range []*dev{alice, bob} {
		it := find(t, d.history(t, gt, 10), q)
		switch {
		case it.Deleted && it.Body == "":
		case !it.Deleted && it.Body == "who's in for saturday?" && it.Edited:
		default:
			t.Errorf("%s: carol's question shows %q edited=%v deleted=%v, want her last text or a tombstone", d.name, it.Body, it.Edited, it.Deleted)
		}
	}
}
