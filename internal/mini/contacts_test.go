package mini

import (
	"slices"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/core/safety"
)

// TestContactCommands: /discard, /cancel and /unblock pick among the
// contacts in the states they act on, as /accept does: the only one, or the
// one named by number, name or the start of its account; else they list.
func TestContactCommands(t *testing.T) {
	const (
		in      = bv1.ContactState_CONTACT_STATE_INCOMING
		out     = bv1.ContactState_CONTACT_STATE_OUTGOING
		sent    = bv1.ContactState_CONTACT_STATE_SENT
		blocked = bv1.ContactState_CONTACT_STATE_BLOCKED
	)
	contact := func(b byte, name string, st bv1.ContactState) *bv1.Contact {
		return &bv1.Contact{Account: id32(b), Name: name, State: st}
	}
	everyone := func() []*bv1.Contact {
		return []*bv1.Contact{contact(0xda, "dave", in), contact(0xee, "erin", in), contact(0xf1, "frank", out),
			contact(0xf2, "gina", sent), contact(0xf3, "hal", blocked), contact(0xf4, "ivy", blocked)}
	}
	for _, tc := range []struct {
		name     string
		contacts []*bv1.Contact
		line     string
		call     string                    // the one ContactUpdate call, "" for none
		state    map[byte]bv1.ContactState // states after, by account byte
		want     []string                  // on the screen after
		gone     []string                  // not on the screen after
	}{
		{name: "discard the only request", contacts: []*bv1.Contact{contact(0xda, "dave", in), contact(0xf1, "frank", out)},
			line: "/discard", call: "ContactUpdate dadadada ACTION_DISCARD",
			state: map[byte]bv1.ContactState{0xda: bv1.ContactState_CONTACT_STATE_DISCARDED},
			want:  []string{"discarded dave's contact request (they are not told)"}},
		{name: "discard lists two requests", contacts: everyone(), line: "/discard",
			want: []string{"2 contact requests waiting: /discard N (or NAME) discards the N-th", "1. dave (dadadada)", "2. erin (eeeeeeee)"},
			gone: []string{"frank", "hal"}},
		{name: "discard the second", contacts: everyone(), line: "/discard 2", call: "ContactUpdate eeeeeeee ACTION_DISCARD",
			state: map[byte]bv1.ContactState{0xee: bv1.ContactState_CONTACT_STATE_DISCARDED, 0xda: in}},
		{name: "discard by name", contacts: everyone(), line: "/discard DAVE", call: "ContactUpdate dadadada ACTION_DISCARD"},
		{name: "discard nothing waiting", contacts: []*bv1.Contact{contact(0xf1, "frank", out)}, line: "/discard",
			want: []string{"no contact request is waiting"}},
		{name: "discard by the name as shown", contacts: append(everyone(), contact(0x2e, evil("zed"), in)),
			line: "/discard " + defused("zed"), call: "ContactUpdate 2e2e2e2e ACTION_DISCARD",
			want: []string{"discarded " + defused("zed") + "'s contact request"}},
		{name: "discard an unknown name", contacts: everyone(), line: "/discard zed",
			want: []string{`/discard: nothing matches "zed"`, "1. dave", "2. erin"}},
		{name: "cancel lists outgoing and sent", contacts: everyone(), line: "/cancel",
			want: []string{"2 requests of yours not yet accepted: /cancel N (or NAME) cancels the N-th", "1. frank (f1f1f1f1)", "2. gina (f2f2f2f2)"},
			gone: []string{"dave"}},
		{name: "cancel by name", contacts: everyone(), line: "/cancel gina", call: "ContactUpdate f2f2f2f2 ACTION_CANCEL",
			state: map[byte]bv1.ContactState{0xf2: bv1.ContactState_CONTACT_STATE_NONE},
			want:  []string{"cancelled your contact request to gina"}},
		{name: "cancel does not take an incoming request", contacts: everyone(), line: "/cancel dave",
			want: []string{`/cancel: nothing matches "dave"`}},
		{name: "cancel with none", contacts: []*bv1.Contact{contact(0xda, "dave", in)}, line: "/cancel",
			want: []string{"you have no contact request waiting to be accepted"}},
		{name: "unblock alone lists", contacts: everyone(), line: "/unblock",
			want: []string{"2 blocked accounts: /unblock N (or NAME) unblocks the N-th", "1. hal (f3f3f3f3)", "2. ivy (f4f4f4f4)"}},
		{name: "unblock alone lists even one", contacts: []*bv1.Contact{contact(0xf3, "hal", blocked)}, line: "/unblock",
			want: []string{"1 blocked account: /unblock N (or NAME) unblocks the N-th", "1. hal (f3f3f3f3)"}},
		{name: "unblock by name", contacts: everyone(), line: "/unblock Ivy", call: "ContactUpdate f4f4f4f4 ACTION_UNBLOCK",
			state: map[byte]bv1.ContactState{0xf4: bv1.ContactState_CONTACT_STATE_NONE, 0xf3: blocked},
			want:  []string{"unblocked ivy"}},
		{name: "unblock by account", contacts: everyone(), line: "/unblock F3F3f3", call: "ContactUpdate f3f3f3f3 ACTION_UNBLOCK"},
		{name: "unblock a contact not blocked", contacts: everyone(), line: "/unblock dave",
			want: []string{`/unblock: nothing matches "dave"`}},
		{name: "unblock with none", contacts: []*bv1.Contact{contact(0xda, "dave", in)}, line: "/unblock hal",
			want: []string{"you have blocked no one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := withBob()
			f.contacts = tc.contacts
			m := newModel(t, f)
			drive(t, m, tea.WindowSizeMsg{Width: 160, Height: 40}) // no line wraps
			typeText(t, m, tc.line)
			calls := f.called("ContactUpdate")
			if tc.call == "" && len(calls) != 0 || tc.call != "" && !slices.Equal(calls, []string{tc.call}) {
				t.Fatalf("ContactUpdate calls %q, want %q", calls, tc.call)
			}
			for b, st := range tc.state {
				i := slices.IndexFunc(f.contacts, func(c *bv1.Contact) bool { return c.Account[0] == b })
				if got := f.contacts[i].State; got != st {
					t.Errorf("contact %x is %v, want %v", b, got, st)
				}
			}
			onScreen(t, screen(m), tc.want, tc.gone)
		})
	}
}

// TestBlock: /block alone says how; /block NAME blocks the contact of the
// conversation shown, whose conversation then leaves the list.
func TestBlock(t *testing.T) {
	f := withBob()
	f.contacts = []*bv1.Contact{{Account: bobAccount, Name: "bob", State: bv1.ContactState_CONTACT_STATE_ACCEPTED, Topic: bobTopic}}
	f.convs = append(f.convs, &bv1.Conversation{Topic: clubTopic, Name: "club", Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
	m := newModel(t, f)
	drive(t, m, tea.WindowSizeMsg{Width: 160, Height: 40})
	typeText(t, m, "/block")
	typeText(t, m, "/block carol")
	if got := f.called("ContactUpdate"); len(got) != 0 {
		t.Fatalf("blocked before the name was typed: %q", got)
	}
	inOrder(t, screen(m),
		"type /block bob to block bob: they will not be told, and their messages will not show",
		"! /block: the selected contact is bob, not carol: type /block bob to block them")
	typeText(t, m, "/block BOB")
	if got := f.called("ContactUpdate"); !slices.Equal(got, []string{"ContactUpdate b0b0b0b0 ACTION_BLOCK"}) {
		t.Fatalf("ContactUpdate calls %q", got)
	}
	s := screen(m)
	if strings.Contains(listed(m), "bob") || strings.Contains(s, "hello alice") || !strings.Contains(s, "blocked bob (/unblock bob lifts it)") {
		t.Fatalf("bob's conversation is still shown, or the block is not told:\n%s", s)
	}
	// In a group, /block says what to do instead.
	typeText(t, m, "/block club")
	if s := screen(m); !strings.Contains(s, "/block: select the conversation of the contact to block") || len(f.called("ContactUpdate")) != 1 {
		t.Fatalf("/block in a group:\n%s", s)
	}
}

// TestVerify: /verify shows the selected contact's safety number and what
// to do; a wrong number is refused by the node and said so; the right one,
// typed with spaces, is recorded.
func TestVerify(t *testing.T) {
	f := withBob()
	f.contacts = []*bv1.Contact{{Account: bobAccount, Name: "bob", State: bv1.ContactState_CONTACT_STATE_ACCEPTED, Topic: bobTopic}}
	f.convs = append(f.convs, &bv1.Conversation{Topic: clubTopic, Name: "club", Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
	m := newModel(t, f)
	drive(t, m, tea.WindowSizeMsg{Width: 160, Height: 40})
	typeText(t, m, "/verify")
	inOrder(t, screen(m), "safety number with bob:", "12345 12345 12345 12345", "12345 12345 67890 67890", "67890 67890 67890 67890",
		"not verified: compare it with bob's (in person or on a call), then /verify ok, or type theirs: /verify DIGITS")
	typeText(t, m, "/verify 12345")
	if s := screen(m); !strings.Contains(s, "/verify: not a safety number: 5 digits, a safety number has 60") || len(f.called("ContactVerify")) != 1 {
		t.Fatalf("a short number:\n%s\ncalls %q", s, f.called("ContactVerify"))
	}
	wrong := "9" + fakeNumber[1:]
	typeText(t, m, "/verify "+wrong)
	if s := screen(m); !strings.Contains(s, "/verify: the safety numbers differ") {
		t.Fatalf("a wrong number:\n%s", s)
	}
	typeText(t, m, "/verify "+safety.Format(fakeNumber))
	if s := screen(m); !strings.Contains(s, "· verified") || !f.contacts[0].Verified {
		t.Fatalf("the right number is not recorded:\n%s", s)
	}
	if got := f.called("ContactVerify"); len(got) != 3 || !strings.Contains(got[2], "12345 12345") {
		t.Fatalf("ContactVerify calls %q", got)
	}
}

// TestSafetyNumberChangedIsTold: a contact whose verified safety number
// changed is told at start, and when the change comes in later.
func TestSafetyNumberChangedIsTold(t *testing.T) {
	f := withBob()
	f.contacts = []*bv1.Contact{{Account: bobAccount, Name: "bob", State: bv1.ContactState_CONTACT_STATE_ACCEPTED, Topic: bobTopic, VerificationChanged: true}}
	m := newModel(t, f)
	drive(t, m, tea.WindowSizeMsg{Width: 200, Height: 40})
	if s := screen(m); !strings.Contains(s, "the safety number with bob changed since you verified it") {
		t.Fatalf("at start:\n%s", s)
	}
	f2 := withBob()
	f2.contacts = []*bv1.Contact{{Account: bobAccount, Name: "bob", State: bv1.ContactState_CONTACT_STATE_ACCEPTED, Topic: bobTopic, Verified: true}}
	m2 := newModel(t, f2)
	drive(t, m2, tea.WindowSizeMsg{Width: 200, Height: 40})
	m2.setContacts([]*bv1.Contact{{Account: bobAccount, Name: "bob", State: bv1.ContactState_CONTACT_STATE_ACCEPTED, Topic: bobTopic, VerificationChanged: true}})
	if s := screen(m2); strings.Count(s, "the safety number with bob changed") != 1 {
		t.Fatalf("after the change:\n%s", s)
	}
}
