package messenger_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/berty-go/berty/messenger"
	"github.com/berty-go/berty/messenger/payloadpb"
)

// hostile is a world where bob and carol try to mislead alice with
// payloads the messenger never writes, sent raw through their nodes.
type hostile struct {
	w                *world
	alice, bob, car  *dev
	ab, ac, gt       [32]byte
	a1, g1           [32]byte // alice's messages in ab and gt
	aliceText, gText string
}

func newHostile(t *testing.T, seed uint64) *hostile {
	w := newWorld(t, seed)
	h := &hostile{w: w, aliceText: "hello bob", gText: "hello crew"}
	h.alice, h.bob, h.car = w.add("alice", nil), w.add("bob", nil), w.add("carol", nil)
	w.run()
	h.ab, h.ac = w.contact(h.alice, h.bob), w.contact(h.alice, h.car)
	h.gt = w.group("crew", h.alice, h.bob, h.car)
	h.a1 = h.alice.text(t, h.ab, h.aliceText, nil)
	h.g1 = h.alice.text(t, h.gt, h.gText, nil)
	w.run()
	return h
}

// raw sends body as is through d's node and returns the message's ID.
func raw(t *testing.T, d *dev, topic [32]byte, body []byte) [32]byte {
	t.Helper()
	msg, err := d.n.Send(topic, body)
	if err != nil {
		t.Fatalf("%s sends %d raw bytes: %v", d.name, len(body), err)
	}
	return msg.ID
}

// checkUntouched checks that alice's message shows as she wrote it, on
// every device given, and is still found by its words (not scrubbed).
func checkUntouched(t *testing.T, topic, id [32]byte, text string, devs ...*dev) {
	t.Helper()
	for _, d := range devs {
		it := find(t, d.history(t, topic, 50), id)
		if it.Body != text || it.Edited || it.Deleted || len(it.Reactions) != 0 {
			t.Errorf("%s: alice's message shows %q edited=%v deleted=%v reactions=%+v, want %q untouched",
				d.name, it.Body, it.Edited, it.Deleted, it.Reactions, text)
		}
		found := false
		for _, r := range must[[]messenger.Interaction](t)(d.m.Search(text, 10)) {
			found = found || r.ID == id
		}
		if !found {
			t.Errorf("%s: search no longer finds alice's %q", d.name, text)
		}
	}
}

// TestForgedEditAndDelete: only a message's author edits or deletes it
// (§12.2). Bob's and carol's edits and deletes of alice's messages change
// nothing — not the text, not the database, not what search finds.
func TestForgedEditAndDelete(t *testing.T) {
	h := newHostile(t, 11)
	edit := func(target [32]byte, body string) []byte {
		return mustMarshal(t, &payloadpb.Payload{Version: 1, SentAtMs: 1,
			Kind: &payloadpb.Payload_Edit{Edit: &payloadpb.Edit{Target: target[:], Body: body}}})
	}
	del := func(target [32]byte) []byte {
		return mustMarshal(t, &payloadpb.Payload{Version: 1, SentAtMs: 2,
			Kind: &payloadpb.Payload_Delete{Delete: &payloadpb.Delete{Target: target[:]}}})
	}
	raw(t, h.bob, h.ab, edit(h.a1, "bob was here"))
	raw(t, h.bob, h.gt, del(h.g1))
	raw(t, h.car, h.gt, edit(h.g1, "carol was here"))
	h.w.run()
	check := func() {
		t.Helper()
		checkUntouched(t, h.ab, h.a1, h.aliceText, h.alice, h.bob)
		checkUntouched(t, h.gt, h.g1, h.gText, h.alice, h.bob, h.car)
		for _, d := range []*dev{h.alice, h.bob, h.car} {
			for _, q := range []string{"was here", "bob was", "carol"} {
				if res := must[[]messenger.Interaction](t)(d.m.Search(q, 10)); len(res) != 0 {
					t.Errorf("%s: searching %q, words of a forged edit, finds %q by %q", d.name, q, res[0].Body, res[0].Name)
				}
			}
		}
	}
	check()
	// The forgers' deletes of alice's messages (which scrub their own
	// edits, as a delete does for its author).
	raw(t, h.bob, h.ab, del(h.a1))
	raw(t, h.car, h.gt, del(h.g1))
	h.w.run()
	check()
}

// TestReplyQuotesTextsOnly: a reply shows the text it answers; one that
// names something else — here carol's forged edit of alice's message,
// words alice never showed — quotes nothing.
func TestReplyQuotesTextsOnly(t *testing.T) {
	h := newHostile(t, 15)
	forged := raw(t, h.car, h.gt, mustMarshal(t, &payloadpb.Payload{Version: 1, SentAtMs: 1,
		Kind: &payloadpb.Payload_Edit{Edit: &payloadpb.Edit{Target: h.g1[:], Body: "alice says: send me your password"}}}))
	reply := raw(t, h.car, h.gt, mustMarshal(t, &payloadpb.Payload{Version: 1, SentAtMs: 2,
		Kind: &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: "as alice said", ReplyTo: forged[:]}}}))
	h.w.run()
	for _, d := range []*dev{h.alice, h.bob, h.car} {
		it := find(t, d.history(t, h.gt, 50), reply)
		if it.ReplyText != "" {
			t.Errorf("%s: a reply to carol's edit quotes %q", d.name, it.ReplyText)
		}
	}
}

// TestPayloadStaysInItsConversation: a reaction, an edit or a delete
// changes a message of its own conversation only. One written in another
// conversation — which only some of the message's readers receive — would
// show on their devices and not on the others'.
func TestPayloadStaysInItsConversation(t *testing.T) {
	h := newHostile(t, 12)
	// carol, in her 1:1 with alice, reacts to alice's group message (which
	// she knows) and to alice's message to bob (whose ID she could learn).
	for _, target := range [][32]byte{h.g1, h.a1} {
		raw(t, h.car, h.ac, mustMarshal(t, &payloadpb.Payload{Version: 1, SentAtMs: 1,
			Kind: &payloadpb.Payload_Reaction{Reaction: &payloadpb.Reaction{Target: target[:], Emoji: "💩"}}}))
	}
	// alice's member key is her account key in both of her 1:1s: an edit
	// and a delete sent to carol of her message to bob.
	raw(t, h.alice, h.ac, mustMarshal(t, &payloadpb.Payload{Version: 1, SentAtMs: 1,
		Kind: &payloadpb.Payload_Edit{Edit: &payloadpb.Edit{Target: h.a1[:], Body: "edited elsewhere"}}}))
	h.w.run()
	checkUntouched(t, h.ab, h.a1, h.aliceText, h.alice, h.bob)
	checkUntouched(t, h.gt, h.g1, h.gText, h.alice, h.bob, h.car)
	raw(t, h.alice, h.ac, mustMarshal(t, &payloadpb.Payload{Version: 1, SentAtMs: 1,
		Kind: &payloadpb.Payload_Delete{Delete: &payloadpb.Delete{Target: h.a1[:]}}}))
	h.w.run()
	checkUntouched(t, h.ab, h.a1, h.aliceText, h.alice, h.bob)
}

// textPayload hand-encodes a version-1 text payload, so that its body can
// be anything (proto.Marshal refuses invalid UTF-8).
func textPayload(body []byte) []byte {
	var text []byte
	text = protowire.AppendTag(text, 1, protowire.BytesType)
	text = protowire.AppendBytes(text, body)
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	b = protowire.AppendTag(b, 10, protowire.BytesType)
	return protowire.AppendBytes(b, text)
}

// TestMalformedPayloadsShowUnsupported sends what a buggy or hostile peer
// could: each shows as one unsupported interaction — never an error, never
// a crash, never a change to another message — and the conversation goes
// on.
func TestMalformedPayloadsShowUnsupported(t *testing.T) {
	h := newHostile(t, 13)
	v1 := func(p *payloadpb.Payload) []byte {
		p.Version, p.SentAtMs = 1, 1
		return mustMarshal(t, p)
	}
	unknownKind := v1(&payloadpb.Payload{})
	unknownKind = protowire.AppendTag(unknownKind, 99, protowire.BytesType)
	unknownKind = protowire.AppendBytes(unknownKind, []byte("a kind from the future"))
	cases := []struct {
		name string
		body []byte
	}{
		{"reaction with a 1 KiB emoji", v1(&payloadpb.Payload{Kind: &payloadpb.Payload_Reaction{Reaction: &payloadpb.Reaction{
			Target: h.a1[:], Emoji: strings.Repeat("😀", 256)}}})},
		{"reaction without an emoji", v1(&payloadpb.Payload{Kind: &payloadpb.Payload_Reaction{Reaction: &payloadpb.Reaction{Target: h.a1[:]}}})},
		{"reaction to a 31-byte ID", v1(&payloadpb.Payload{Kind: &payloadpb.Payload_Reaction{Reaction: &payloadpb.Reaction{
			Target: h.a1[:31], Emoji: "👍"}}})},
		{"text over 16 KiB", v1(&payloadpb.Payload{Kind: &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: strings.Repeat("a", messenger.MaxBody+1)}}})},
		{"text of invalid UTF-8", textPayload([]byte("caf\xe9 \xff"))},
		{"reply to 5 bytes", v1(&payloadpb.Payload{Kind: &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: "hi", ReplyTo: []byte{1, 2, 3, 4, 5}}}})},
		{"edit over 16 KiB", v1(&payloadpb.Payload{Kind: &payloadpb.Payload_Edit{Edit: &payloadpb.Edit{
			Target: h.a1[:], Body: strings.Repeat("b", messenger.MaxBody+1)}}})},
		{"receipt of nothing", v1(&payloadpb.Payload{Kind: &payloadpb.Payload_Receipt{Receipt: &payloadpb.Receipt{}}})},
		{"settings of a 3-byte topic", v1(&payloadpb.Payload{Kind: &payloadpb.Payload_Settings{Settings: &payloadpb.ConversationSettings{Topic: []byte{1, 2, 3}}}})},
		{"empty invitation", v1(&payloadpb.Payload{Kind: &payloadpb.Payload_GroupInvitation{GroupInvitation: &payloadpb.GroupInvitation{GroupName: "trap"}}})},
		{"version 2", mustMarshal(t, &payloadpb.Payload{Version: 2, Kind: &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: "from the future"}}})},
		{"version 0", mustMarshal(t, &payloadpb.Payload{Kind: &payloadpb.Payload_Text{Text: &payloadpb.Text{Body: "from the past"}}})},
		{"unknown kind (field 99)", unknownKind},
		{"truncated varint", []byte{0x08, 0xff, 0xff}},
		{"garbage", []byte("\xde\xad\xbe\xef not a protobuf \x00\x01\x02")},
		{"empty body", []byte{}},
	}
	ids := map[[32]byte]string{}
	for _, c := range cases {
		ids[raw(t, h.bob, h.ab, c.body)] = c.name
	}
	h.w.run()
	for _, d := range []*dev{h.alice, h.bob} {
		hist := d.history(t, h.ab, 50)
		for id, name := range ids {
			it := find(t, hist, id)
			if it.Kind != messenger.KindUnsupported || it.Body != "" || it.ReplyTo != nil || len(it.Reactions) != 0 {
				t.Errorf("%s: %s shows as %s %q, want unsupported", d.name, name, it.Kind, it.Body)
			}
			if it.Name != "bob" {
				t.Errorf("%s: %s shows by %q, want bob", d.name, name, it.Name)
			}
		}
		if conv := must[*messenger.Conversation](t)(d.m.Conversation(h.ab)); conv.Last == nil || ids[conv.Last.ID] == "" {
			t.Errorf("%s: the conversation's last message is not bob's last payload", d.name)
		}
	}
	checkUntouched(t, h.ab, h.a1, h.aliceText, h.alice, h.bob)

	// Words as a reaction (or an emoji newer than this program): stored,
	// shown nowhere — no reaction, no "unsupported" line, no unread.
	words := raw(t, h.bob, h.ab, v1(&payloadpb.Payload{Kind: &payloadpb.Payload_Reaction{Reaction: &payloadpb.Reaction{Target: h.a1[:], Emoji: "lol"}}}))
	h.w.run()
	for _, d := range []*dev{h.alice, h.bob} {
		hist := d.history(t, h.ab, 50)
		for _, it := range hist {
			if it.ID == words {
				t.Errorf("%s: a reaction of words shows as %s", d.name, it.Kind)
			}
		}
		if rs := find(t, hist, h.a1).Reactions; len(rs) != 0 {
			t.Errorf("%s: alice's message shows reactions %+v", d.name, rs)
		}
	}
	checkUntouched(t, h.ab, h.a1, h.aliceText, h.alice, h.bob)

	// The conversation goes on.
	a2 := h.alice.text(t, h.ab, "are you ok?", nil)
	h.w.run()
	h.bob.text(t, h.ab, "sorry, my cat", &a2)
	ok(t, h.bob.m.React(h.ab, a2, "🐈", false))
	h.w.run()
	hist := h.alice.history(t, h.ab, 50)
	if last := hist[len(hist)-1]; last.Body != "sorry, my cat" || last.ReplyText != "are you ok?" {
		t.Errorf("alice's last message %+v, want bob's reply", last)
	}
	if it := find(t, hist, a2); len(it.Reactions) != 1 || it.Reactions[0].Emoji != "🐈" {
		t.Errorf("alice's question shows reactions %+v", it.Reactions)
	}
}

// TestBadInputFromAPI: what a user asks that cannot be done gets an error
// a caller can branch on, and nothing is sent.
func TestBadInputFromAPI(t *testing.T) {
	h := newHostile(t, 14)
	alice := h.alice
	b1 := h.bob.text(t, h.ab, "hi alice", nil)
	h.w.run()
	ok(t, alice.m.MarkRead(h.ab, b1))
	h.w.run()
	club := must[[32]byte](t)(h.bob.n.CreateGroup("book club"))
	ok(t, h.bob.m.Invite(h.ab, club))
	h.w.run()
	hist := alice.history(t, h.ab, 10)
	inv := hist[len(hist)-1].ID
	var unknown, nowhere [32]byte
	unknown[0], nowhere[0] = 1, 2

	vectors := func() string {
		var b strings.Builder
		for _, topic := range [][32]byte{h.ab, h.ac, h.gt, alice.n.AccountTopic()} {
			fmt.Fprintln(&b, must[map[[32]byte]uint64](t)(vectorOf(alice, topic)))
		}
		return b.String()
	}
	gone := must[[32]byte](t)(alice.m.SendText(h.ab, "to be deleted", nil))
	ok(t, alice.m.Delete(h.ab, gone))
	h.w.run()
	before := vectors()
	beforeHist := render(alice.history(t, h.ab, 10), true)

	tooLong := strings.Repeat("a", messenger.MaxBody+1)
	cases := []struct {
		name string
		want error
		do   func() error
	}{
		{"text of 16 KiB + 1", messenger.ErrTooLarge, func() error { return second(alice.m.SendText(h.ab, tooLong, nil)) }},
		{"text of exactly 16 KiB, to an unknown conversation", messenger.ErrUnknownConv, func() error { return second(alice.m.SendText(nowhere, tooLong[1:], nil)) }},
		{"text of invalid UTF-8", messenger.ErrBadText, func() error { return second(alice.m.SendText(h.ab, "caf\xe9", nil)) }},
		{"text to an unknown conversation", messenger.ErrUnknownConv, func() error { return second(alice.m.SendText(nowhere, "hi", nil)) }},
		{"reply to an unknown message", messenger.ErrNoMessage, func() error { return second(alice.m.SendText(h.ab, "hi", &unknown)) }},
		{"reply to a message of another conversation", messenger.ErrNoMessage, func() error { return second(alice.m.SendText(h.ab, "hi", &h.g1)) }},
		{"edit of bob's message", messenger.ErrNotAuthor, func() error { return alice.m.Edit(h.ab, b1, "mine now") }},
		{"delete of bob's message", messenger.ErrNotAuthor, func() error { return alice.m.Delete(h.ab, b1) }},
		{"edit of an invitation", messenger.ErrNoMessage, func() error { return alice.m.Edit(h.ab, inv, "x") }},
		{"edit of an unknown message", messenger.ErrNoMessage, func() error { return alice.m.Edit(h.ab, unknown, "x") }},
		{"edit too long", messenger.ErrTooLarge, func() error { return alice.m.Edit(h.ab, h.a1, tooLong) }},
		{"edit of invalid UTF-8", messenger.ErrBadText, func() error { return alice.m.Edit(h.ab, h.a1, "\xff") }},
		{"edit in an unknown conversation", messenger.ErrUnknownConv, func() error { return alice.m.Edit(nowhere, h.a1, "x") }},
		{"delete of an unknown message", messenger.ErrNoMessage, func() error { return alice.m.Delete(h.ab, unknown) }},
		{"delete in an unknown conversation", messenger.ErrUnknownConv, func() error { return alice.m.Delete(nowhere, h.a1) }},
		{"empty reaction", messenger.ErrBadEmoji, func() error { return alice.m.React(h.ab, b1, "", false) }},
		{"33-byte reaction", messenger.ErrBadEmoji, func() error { return alice.m.React(h.ab, b1, strings.Repeat("x", 33), false) }},
		{"reaction of invalid UTF-8", messenger.ErrBadEmoji, func() error { return alice.m.React(h.ab, b1, "\xff", false) }},
		{"reaction to an unknown message", messenger.ErrNoMessage, func() error { return alice.m.React(h.ab, unknown, "👍", false) }},
		{"reaction in an unknown conversation", messenger.ErrUnknownConv, func() error { return alice.m.React(nowhere, b1, "👍", false) }},
		{"read marker on an unknown message", messenger.ErrNoMessage, func() error { return alice.m.MarkRead(h.ab, unknown) }},
		{"read marker in an unknown conversation", messenger.ErrUnknownConv, func() error { return alice.m.MarkRead(nowhere, b1) }},
		{"read marker that does not move", nil, func() error { return alice.m.MarkRead(h.ab, h.a1) }},
		{"invitation to a 1:1 conversation", messenger.ErrNotInvitation, func() error { return alice.m.Invite(h.ac, h.ab) }},
		{"invitation to an unknown group", messenger.ErrUnknownConv, func() error { return alice.m.Invite(h.ac, nowhere) }},
		{"invitation into an unknown conversation", messenger.ErrUnknownConv, func() error { return alice.m.Invite(nowhere, h.gt) }},
		{"mute of an unknown conversation", messenger.ErrUnknownConv, func() error { return alice.m.Mute(nowhere, time.Now().Add(time.Hour)) }},
		{"history of an unknown conversation", messenger.ErrUnknownConv, func() error { return second(alice.m.History(nowhere, nil, 10)) }},
		{"around in an unknown conversation", messenger.ErrUnknownConv, func() error { return second(alice.m.Around(nowhere, h.a1, 3)) }},
		{"around an unknown message", messenger.ErrNoMessage, func() error { return second(alice.m.Around(h.ab, unknown, 3)) }},
		{"list entry of an unknown conversation", messenger.ErrUnknownConv, func() error { return second(alice.m.Conversation(nowhere)) }},
		{"invitation of a text", messenger.ErrNoMessage, func() error { return second(alice.m.InvitationOf(h.ab, b1)) }},
		{"empty text", messenger.ErrEmptyText, func() error { return second(alice.m.SendText(h.ab, "", nil)) }},
		{"blank text", messenger.ErrEmptyText, func() error { return second(alice.m.SendText(h.ab, " \n\t ", nil)) }},
		{"edit to nothing", messenger.ErrEmptyText, func() error { return alice.m.Edit(h.ab, h.a1, "  ") }},
		{"edit of a deleted message", messenger.ErrDeleted, func() error { return alice.m.Edit(h.ab, gone, "back again") }},
		{"delete of a deleted message", nil, func() error { return alice.m.Delete(h.ab, gone) }},
		{"reaction of words", messenger.ErrBadEmoji, func() error { return alice.m.React(h.ab, b1, "notanemoji", false) }},
		{"reaction of a digit", messenger.ErrBadEmoji, func() error { return alice.m.React(h.ab, b1, "1", false) }},
		{"history page of 0", messenger.ErrBadLimit, func() error { return second(alice.m.History(h.ab, nil, 0)) }},
		{"search page of -1", messenger.ErrBadLimit, func() error { return second(alice.m.Search("hi", -1)) }},
		{"around with -1", messenger.ErrBadLimit, func() error { return second(alice.m.Around(h.ab, h.a1, -1)) }},
	}
	for _, c := range cases {
		err := c.do()
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%s: %v, want no error", c.name, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		case err != nil && err.Error() == "":
			t.Errorf("%s: an error without a message", c.name)
		}
		if after := vectors(); after != before {
			t.Errorf("%s: written to the network: version vectors\n%s\nbecame\n%s", c.name, before, after)
			before = after
		}
	}
	if after := render(alice.history(t, h.ab, 10), true); after != beforeHist {
		t.Errorf("refused commands changed the conversation:\n%s", diff(beforeHist, after))
	}
}

func second[T any](_ T, err error) error { return err }

func vectorOf(d *dev, topic [32]byte) (map[[32]byte]uint64, error) {
	v, err := d.n.Vector(topic)
	if err != nil {
		return nil, err
	}
	out := map[[32]byte]uint64{}
	for k, s := range v {
		out[k] = s
	}
	return out, nil
}
