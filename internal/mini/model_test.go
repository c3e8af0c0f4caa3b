package mini

import (
	"errors"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"connectrpc.com/connect"

	bv1 "github.com/berty-go/berty/api/bertyv1"
)

var (
	bobTopic   = id32(0x40)
	bobAccount = id32(0xb0)
	clubTopic  = id32(0x50)
)

func text(topic []byte, id byte, name, body string, minute int) *bv1.Interaction {
	return &bv1.Interaction{Topic: topic, Id: id32(id), Name: name, Body: body, Member: id32(id),
		Kind: bv1.InteractionKind_INTERACTION_KIND_TEXT, SentAtMs: at(11, minute).UnixMilli()}
}

// withBob is a fake where alice has one contact, bob, and one message from him.
func withBob() *fake {
	f := newFake()
	f.convs = []*bv1.Conversation{{Topic: bobTopic, Name: "bob", Contact: bobAccount, Kind: bv1.ConversationKind_CONVERSATION_KIND_CONTACT}}
	f.hist[string(bobTopic)] = []*bv1.Interaction{text(bobTopic, 1, "bob", "hello alice", 1)}
	return f
}

func TestNameCommandSetsTheProfile(t *testing.T) {
	f := withBob()
	m := newModel(t, f)
	typeText(t, m, "/name Zoë")
	if got := f.called("SetProfile"); len(got) != 1 || got[0] != "SetProfile Zoë" {
		t.Fatalf("SetProfile calls: %q", got)
	}
	if s := screen(m); !strings.Contains(s, "your name is now Zoë") || !strings.Contains(s, "Zoë · bob") {
		t.Fatalf("the screen does not show the new name:\n%s", s)
	}
	if m.input.Value() != "" {
		t.Fatalf("the input line still holds %q", m.input.Value())
	}
}

func TestSendTextAndReply(t *testing.T) {
	f := withBob()
	m := newModel(t, f)
	typeText(t, m, "hi bob")
	if got := f.called("SendText"); len(got) != 1 || got[0] != "SendText 40404040 hi bob" {
		t.Fatalf("SendText calls: %q", got)
	}
	if !strings.Contains(screen(m), "alice hi bob") {
		t.Fatalf("the sent text is not shown:\n%s", screen(m))
	}
	// tab twice: the history pane; up: bob's message; r: reply to it.
	press(t, m, tea.KeyTab)
	press(t, m, tea.KeyTab)
	press(t, m, tea.KeyUp)
	drive(t, m, tea.KeyPressMsg{Code: 'r', Text: "r"})
	if !strings.Contains(screen(m), "↪ bob>") {
		t.Fatalf("the prompt does not say it replies to bob:\n%s", screen(m))
	}
	typeText(t, m, "yes")
	if got := f.called("SendText"); len(got) != 2 || got[1] != "SendText 40404040 yes 01010101" {
		t.Fatalf("the reply was sent as %q", got)
	}
	if strings.Contains(screen(m), "↪ bob>") {
		t.Fatal("still replying after the reply was sent")
	}
}

func TestEventsRefreshTheHistory(t *testing.T) {
	f := withBob()
	m := newModel(t, f)
	f.set(func(f *fake) {
		f.hist[string(bobTopic)] = append([]*bv1.Interaction{text(bobTopic, 2, "bob", "are you there?", 2)}, f.hist[string(bobTopic)]...)
	})
	if strings.Contains(screen(m), "are you there?") {
		t.Fatal("shown before the event")
	}
	reads := len(f.called("History"))
	drive(t, m, eventMsg{&bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_INTERACTION, Topic: bobTopic, Id: id32(2)}})
	if !strings.Contains(screen(m), "are you there?") {
		t.Fatalf("the event did not refresh the history:\n%s", screen(m))
	}
	// Another conversation's message does not re-read this one.
	drive(t, m, eventMsg{&bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_INTERACTION, Topic: clubTopic}})
	if got := len(f.called("History")); got != reads+1 {
		t.Fatalf("%d history reads after two events, want %d", got, reads+1)
	}
}

func TestBurstOfEventsIsCoalesced(t *testing.T) {
	f := withBob()
	m := newModel(t, f)
	before := len(f.called("Conversations"))
	ev := eventMsg{&bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_CONVERSATION, Topic: bobTopic}}
	// Three events before the first read returns: one read, then one more.
	_, first := m.Update(ev)
	for range 2 {
		if _, c := m.Update(ev); c != nil {
			t.Fatal("a second read started while one is in flight")
		}
	}
	drive(t, m, first)
	if got := len(f.called("Conversations")) - before; got != 2 {
		t.Fatalf("%d reads for a burst of 3 events, want 2", got)
	}
}

func TestUnreadBadgeAndMarkRead(t *testing.T) {
	f := withBob()
	f.convs = append(f.convs, &bv1.Conversation{Topic: clubTopic, Name: "club", Unread: 3, Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
	f.hist[string(clubTopic)] = []*bv1.Interaction{text(clubTopic, 9, "carol", "third", 9), text(clubTopic, 8, "carol", "second", 8)}
	m := newModel(t, f)
	if s := screen(m); !strings.Contains(s, "club (3)") {
		t.Fatalf("no unread badge:\n%s", s)
	}
	if len(f.called("MarkRead")) != 0 {
		t.Fatal("marked read a conversation not shown")
	}
	press(t, m, tea.KeyDown)
	if got := f.called("MarkRead"); len(got) != 1 || got[0] != "MarkRead 50505050 09090909" {
		t.Fatalf("MarkRead calls: %q (want the newest message of club)", got)
	}
	if strings.Contains(screen(m), "(3)") {
		t.Fatal("the badge stays once the conversation is read")
	}
	// Read again, with the daemon still counting: no second mark.
	drive(t, m, eventMsg{&bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_INTERACTION, Topic: clubTopic}})
	drive(t, m, eventMsg{&bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_CONVERSATION, Topic: clubTopic}})
	if got := f.called("MarkRead"); len(got) != 1 {
		t.Fatalf("MarkRead calls: %q", got)
	}
}

func TestContactRequestAcceptFlow(t *testing.T) {
	f := newFake()
	m := newModel(t, f)
	dave := &bv1.Contact{Account: id32(0xda), Name: "dave", State: bv1.ContactState_CONTACT_STATE_INCOMING}
	f.set(func(f *fake) {
		f.contacts = []*bv1.Contact{dave}
		f.onAccept = func(acc []byte) {
			f.contacts = []*bv1.Contact{{Account: id32(0xda), Name: "dave", State: bv1.ContactState_CONTACT_STATE_ACCEPTED, Topic: id32(0x33)}}
			f.convs = []*bv1.Conversation{{Topic: id32(0x33), Name: "dave", Kind: bv1.ConversationKind_CONVERSATION_KIND_CONTACT}}
		}
	})
	drive(t, m, eventMsg{&bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_CONTACT}})
	if !strings.Contains(screen(m), "contact request from dave") {
		t.Fatalf("no line for the request:\n%s", screen(m))
	}
	typeText(t, m, "/accept")
	if got := f.called("ContactUpdate"); len(got) != 1 || got[0] != "ContactUpdate dadadada ACTION_ACCEPT" {
		t.Fatalf("ContactUpdate calls: %q", got)
	}
	drive(t, m, eventMsg{&bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_CONTACT}})
	s := screen(m)
	if !strings.Contains(s, "dave is now a contact") || !strings.Contains(s, "dave · contact") {
		t.Fatalf("the accepted contact is not shown and selected:\n%s", s)
	}
}

func TestAcceptAmbiguousListsRequests(t *testing.T) {
	f := newFake()
	f.contacts = []*bv1.Contact{
		{Account: id32(0xda), Name: "dave", State: bv1.ContactState_CONTACT_STATE_INCOMING},
		{Account: id32(0xee), Name: "erin", State: bv1.ContactState_CONTACT_STATE_INCOMING},
		{Account: id32(0xff), Name: "frank", State: bv1.ContactState_CONTACT_STATE_ACCEPTED},
	}
	m := newModel(t, f)
	if !strings.Contains(screen(m), "2 contact requests waiting") {
		t.Fatalf("waiting requests not told at start:\n%s", screen(m))
	}
	typeText(t, m, "/accept")
	s := screen(m)
	if !strings.Contains(s, "1. dave") || !strings.Contains(s, "2. erin") || strings.Contains(s, "frank") {
		t.Fatalf("the waiting requests are not listed:\n%s", s)
	}
	if len(f.called("ContactUpdate")) != 0 {
		t.Fatal("accepted a request though two wait")
	}
	typeText(t, m, "/accept 2")
	typeText(t, m, "/accept dave")
	if got := f.called("ContactUpdate"); len(got) != 2 || got[0] != "ContactUpdate eeeeeeee ACTION_ACCEPT" || got[1] != "ContactUpdate dadadada ACTION_ACCEPT" {
		t.Fatalf("ContactUpdate calls: %q", got)
	}
}

func TestMemberEventsSayWhoJoined(t *testing.T) {
	f := withBob()
	f.convs = append(f.convs, &bv1.Conversation{Topic: clubTopic, Name: "club", Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
	f.members[string(clubTopic)] = []*bv1.Member{{Key: id32(0xa1), Name: "alice", Self: true, Devices: 1}}
	m := newModel(t, f)
	press(t, m, tea.KeyDown) // club
	member := func() {
		drive(t, m, eventMsg{&bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_MEMBER, Topic: clubTopic}})
	}
	// carol joins; her name comes on a later read.
	f.set(func(f *fake) {
		f.members[string(clubTopic)] = append(f.members[string(clubTopic)], &bv1.Member{Key: id32(0xca), Devices: 1})
	})
	member()
	if strings.Contains(screen(m), "joined") {
		t.Fatal("told a join before the member's name")
	}
	f.set(func(f *fake) { f.members[string(clubTopic)][1].Name = "carol" })
	member()
	if !strings.Contains(screen(m), "carol joined") {
		t.Fatalf("no line for carol's join:\n%s", screen(m))
	}
	f.set(func(f *fake) { f.members[string(clubTopic)][1].Removed = true })
	member()
	if !strings.Contains(screen(m), "carol was removed") {
		t.Fatalf("no line for carol's removal:\n%s", screen(m))
	}
	// The lines belong to club, not to bob's conversation.
	press(t, m, tea.KeyUp)
	if strings.Contains(screen(m), "carol") {
		t.Fatalf("club's member lines show in bob's conversation:\n%s", screen(m))
	}
}

func TestAPIErrorsShowTheDaemonsMessageInRed(t *testing.T) {
	f := withBob()
	f.errs["ContactRequest"] = connect.NewError(connect.CodeInvalidArgument, errors.New("link: not a contact link: copy it whole"))
	m := newModel(t, f)
	typeText(t, m, "/contact add https://berty.tech/id#BROKEN")
	last := m.lines[len(m.lines)-1]
	if last.kind != lineError || last.text != "/contact add: link: not a contact link: copy it whole" {
		t.Fatalf("last line: %+v", last)
	}
	v := m.View().Content
	if !strings.Contains(screen(m), "! /contact add: link: not a contact link") || !strings.Contains(v, "\x1b[91m") {
		t.Fatalf("the error is not on screen in red:\n%q", v)
	}
}

func TestUnknownCommandAndUsage(t *testing.T) {
	m := newModel(t, withBob())
	typeText(t, m, "/frobnicate")
	typeText(t, m, "/join")
	s := screen(m)
	if !strings.Contains(s, "unknown command /frobnicate") || !strings.Contains(s, "usage: /join LINK") {
		t.Fatalf("no help for bad input:\n%s", s)
	}
}

func TestQuitKeys(t *testing.T) {
	m := newModel(t, withBob())
	if !drive(t, m, tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}) {
		t.Fatal("ctrl+c does not quit")
	}
	if !press(t, m, tea.KeyEscape) {
		t.Fatal("esc does not quit")
	}
	if !typeText(t, m, "/quit") {
		t.Fatal("/quit does not quit")
	}
}

func TestStreamErrorAndResync(t *testing.T) {
	f := withBob()
	m := newModel(t, f)
	drive(t, m, streamErrMsg{errors.New("stream reset")})
	if !strings.Contains(screen(m), "event stream: stream reset (reconnecting)") {
		t.Fatalf("the broken stream is not told:\n%s", screen(m))
	}
	before := len(f.called("Conversations"))
	drive(t, m, resyncMsg{})
	if len(f.called("Conversations")) != before+1 {
		t.Fatal("a resync did not read the conversations again")
	}
	drive(t, m, tickMsg{})
	if len(f.called("Peers")) < 2 {
		t.Fatal("a tick did not read the peers")
	}
}

// TestDaemonGoneIsToldOnce: while the daemon cannot be reached, every call
// fails; one line says so, the status line too, until it is back.
func TestDaemonGoneIsToldOnce(t *testing.T) {
	f := withBob()
	m := newModel(t, f)
	gone := connect.NewError(connect.CodeUnavailable, errors.New("dial unix daemon.sock: no such file"))
	f.set(func(f *fake) { f.errs["Peers"], f.errs["SendText"] = gone, gone })
	n := len(m.lines)
	drive(t, m, streamErrMsg{gone})
	drive(t, m, tickMsg{})
	typeText(t, m, "anyone?")
	drive(t, m, streamErrMsg{gone})
	if got := m.lines[n:]; len(got) != 1 || got[0].text != "the daemon is unreachable: dial unix daemon.sock: no such file (retrying)" {
		t.Fatalf("lines while the daemon is gone: %+v", got)
	}
	if !strings.Contains(screen(m), "daemon unreachable") {
		t.Fatalf("the status line does not say the daemon is gone:\n%s", screen(m))
	}
	f.set(func(f *fake) { delete(f.errs, "Peers"); delete(f.errs, "SendText") })
	drive(t, m, resyncMsg{})
	if s := screen(m); !strings.Contains(s, "connected to the daemon again") || strings.Contains(s, "daemon unreachable") {
		t.Fatalf("the daemon's return is not told:\n%s", s)
	}
}
