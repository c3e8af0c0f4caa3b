package mini

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	bv1 "github.com/berty-go/berty/api/bertyv1"
)

// mine is one of alice's texts.
func mine(topic []byte, id byte, body string, minute int) *bv1.Interaction {
	it := text(topic, id, "alice", body, minute)
	it.Own = true
	return it
}

// selectMessage moves to the history pane, where the latest message is
// selected, then up n messages; n < 0 selects none.
func selectMessage(t *testing.T, m *Model, n int) {
	t.Helper()
	if n < 0 {
		return
	}
	press(t, m, tea.KeyTab)
	press(t, m, tea.KeyTab)
	for range n {
		press(t, m, tea.KeyUp)
	}
}

// onScreen fails for each of want that the screen s lacks and each of gone
// that it shows, and then logs the screen.
func onScreen(t *testing.T, s string, want, gone []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("no %q on the screen", w)
		}
	}
	for _, g := range gone {
		if strings.Contains(s, g) {
			t.Errorf("%q on the screen", g)
		}
	}
	if t.Failed() {
		t.Log(s)
	}
}

// inOrder fails unless each of wants is on s, each below the one before.
func inOrder(t *testing.T, s string, wants ...string) {
	t.Helper()
	at := 0
	for _, w := range wants {
		i := strings.Index(s[at:], w)
		if i < 0 {
			t.Fatalf("no %q (in this order) on the screen:\n%s", w, s)
		}
		at += i + len(w)
	}
}

func TestEditAndDelete(t *testing.T) {
	bob1 := func() *bv1.Interaction { return text(bobTopic, 1, "bob", "hello alice", 1) }
	bob3 := func() *bv1.Interaction { return text(bobTopic, 3, "bob", "how are you?", 3) }
	deleted := func(it *bv1.Interaction) *bv1.Interaction { it.Body, it.Deleted = "", true; return it }
	// alice's typo between two of bob's messages, newest first.
	typo := func() []*bv1.Interaction { return []*bv1.Interaction{bob3(), mine(bobTopic, 2, "helo bob", 2), bob1()} }
	for _, tc := range []struct {
		name string
		hist []*bv1.Interaction // bob's conversation, newest first
		up   int                // the selected message: selectMessage's n
		line string
		call string   // the one Edit or Delete call, "" for none
		want []string // on the screen after
		gone []string // not on the screen after
	}{
		{name: "edit the latest own", hist: typo(), up: -1, line: "/edit hello bob",
			call: "Edit 40404040 02020202 hello bob", want: []string{"alice hello bob (edited)", "bob how are you?"}, gone: []string{"helo"}},
		{name: "edit the selected own",
			hist: []*bv1.Interaction{mine(bobTopic, 4, "second", 4), bob3(), mine(bobTopic, 2, "frist", 2), bob1()}, up: 2,
			line: "/edit first", call: "Edit 40404040 02020202 first",
			want: []string{"alice first (edited)", "alice second"}, gone: []string{"frist", "second (edited)"}},
		{name: "edit someone else's", hist: typo(), up: 0, line: "/edit hello bob",
			want: []string{"/edit: you can only edit your own messages", "alice helo bob"}, gone: []string{"(edited)"}},
		{name: "edit with no own message", hist: []*bv1.Interaction{bob1()}, up: -1, line: "/edit hi",
			want: []string{"/edit: you have no message in this conversation to edit"}},
		{name: "edit a deleted message", hist: []*bv1.Interaction{deleted(mine(bobTopic, 2, "", 2)), bob1()}, up: 0, line: "/edit again",
			want: []string{"/edit: the selected message is deleted already"}},
		{name: "edit without text", hist: typo(), up: -1, line: "/edit",
			want: []string{"usage: /edit TEXT"}, gone: []string{"(edited)"}},
		{name: "delete the latest own", hist: typo(), up: -1, line: "/delete",
			call: "Delete 40404040 02020202", want: []string{"alice message deleted", "bob how are you?"}, gone: []string{"helo"}},
		{name: "delete skips a deleted message",
			hist: []*bv1.Interaction{deleted(mine(bobTopic, 4, "", 4)), bob3(), mine(bobTopic, 2, "oops", 2), bob1()}, up: -1,
			line: "/delete", call: "Delete 40404040 02020202", gone: []string{"oops"}},
		{name: "delete someone else's", hist: typo(), up: 0, line: "/delete",
			want: []string{"/delete: you can only delete your own messages", "alice helo bob", "bob how are you?"}},
		{name: "delete with no own message", hist: []*bv1.Interaction{bob1()}, up: -1, line: "/delete",
			want: []string{"/delete: you have no message in this conversation to delete", "bob hello alice"}},
		{name: "delete with an argument", hist: typo(), up: -1, line: "/delete everything",
			want: []string{"usage: /delete (deletes your message", "alice helo bob"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := withBob()
			f.hist[string(bobTopic)] = tc.hist
			m := newModel(t, f)
			drive(t, m, tea.WindowSizeMsg{Width: 160, Height: 40}) // no line wraps
			selectMessage(t, m, tc.up)
			typeText(t, m, tc.line)
			calls := append(f.called("Edit"), f.called("Delete")...)
			if tc.call == "" && len(calls) != 0 || tc.call != "" && !slices.Equal(calls, []string{tc.call}) {
				t.Fatalf("calls %q, want %q", calls, tc.call)
			}
			onScreen(t, screen(m), tc.want, tc.gone)
		})
	}
}

func TestSearch(t *testing.T) {
	other := id32(0x77) // a conversation the list does not have
	lunch := func(f *fake) {
		f.convs = append(f.convs, &bv1.Conversation{Topic: clubTopic, Name: "club", Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
		f.hist[string(bobTopic)] = []*bv1.Interaction{mine(bobTopic, 2, "Lunch  at noon?", 2), text(bobTopic, 1, "bob", "hello alice", 1)}
		f.hist[string(clubTopic)] = []*bv1.Interaction{text(clubTopic, 6, "carol", "nothing here", 6), text(clubTopic, 5, "carol", "lunch is ready", 5)}
		yesterday := text(other, 8, "", "lunch yesterday", 0)
		yesterday.SentAtMs = at(18, 0).Add(-24 * time.Hour).UnixMilli()
		f.hist[string(other)] = []*bv1.Interaction{text(other, 7, "dave", "late LUNCH", 7), yesterday}
	}
	many := func(f *fake) {
		for i := range 25 {
			f.hist[string(bobTopic)] = append(f.hist[string(bobTopic)], text(bobTopic, byte(10+i), "bob", fmt.Sprintf("note %d", i), i))
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(f *fake)
		line  string
		call  string   // the Search call, "" for none
		want  []string // on the screen after, in this order
		count int      // result lines, -1: not checked
	}{
		{name: "matches", setup: lunch, line: "/search LUNCH", call: "Search LUNCH 20", count: 4, want: []string{
			`4 messages match "LUNCH":`,
			"11:07 · 77777777 · dave: late LUNCH",
			"11:05 · club · carol: lunch is ready",
			"11:02 · bob · alice: Lunch at noon?",
			"2026-04-30 18:00 · 77777777 · 08080808: lunch yesterday",
		}},
		{name: "no match", setup: lunch, line: "/search dinner", call: "Search dinner 20", count: 0,
			want: []string{`no message matches "dinner"`}},
		{name: "a full page", setup: many, line: "/search note", call: "Search note 20", count: 20,
			want: []string{`the 20 best matches for "note" (add words to narrow the search)`, "bob: note 24", "bob: note 5"}},
		{name: "no text", setup: lunch, line: "/search", count: 0, want: []string{"usage: /search TEXT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := withBob()
			tc.setup(f)
			m := newModel(t, f)
			drive(t, m, tea.WindowSizeMsg{Width: 160, Height: 40}) // no line wraps
			typeText(t, m, tc.line)
			if got := f.called("Search"); tc.call == "" && len(got) != 0 || tc.call != "" && !slices.Equal(got, []string{tc.call}) {
				t.Fatalf("Search calls %q, want %q", got, tc.call)
			}
			s := screen(m)
			inOrder(t, s, tc.want...)
			if n := strings.Count(s, " · bob: note ") + strings.Count(s, ": lunch") + strings.Count(s, ": Lunch") + strings.Count(s, ": late"); n != tc.count {
				t.Fatalf("%d result lines, want %d:\n%s", n, tc.count, s)
			}
		})
	}
}

// listed is the conversation list as it is drawn.
func listed(m *Model) string {
	return ansiSeq.ReplaceAllString(strings.Join(m.listPane(m.listWidth(), m.paneHeight()), "\n"), "")
}

func TestLeave(t *testing.T) {
	club := func(f *fake) {
		f.convs = append(f.convs, &bv1.Conversation{Topic: clubTopic, Name: "Book Club", Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
		f.hist[string(clubTopic)] = []*bv1.Interaction{text(clubTopic, 5, "carol", "welcome", 5)}
	}
	for _, tc := range []struct {
		name   string
		only   bool // the group is the only conversation
		down   int  // presses of ↓ from the first conversation
		line   string
		left   bool     // GroupLeave was called and the group is gone from the list
		want   []string // on the screen after
		header string   // the history pane's title after
	}{
		{name: "a contact", down: 0, line: "/leave bob", header: "bob · contact",
			want: []string{"/leave: select a group (a contact's conversation cannot be left; /block blocks the contact instead)"}},
		{name: "asks first", down: 1, line: "/leave", header: "Book Club · group",
			want: []string{"type /leave Book Club to leave the group Book Club", "welcome"}},
		{name: "the wrong name", down: 1, line: "/leave bob", header: "Book Club · group",
			want: []string{"/leave: the selected group is Book Club, not bob: type /leave Book Club to leave it", "welcome"}},
		{name: "the name", down: 1, line: "/leave book  CLUB", left: true, header: "bob · contact",
			want: []string{"you left the group Book Club", "hello alice"}},
		{name: "the only conversation", only: true, line: "/leave book club", left: true, header: "(no conversation)",
			want: []string{"you left the group Book Club"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := withBob()
			if tc.only {
				f = newFake()
			}
			club(f)
			m := newModel(t, f)
			drive(t, m, tea.WindowSizeMsg{Width: 160, Height: 40}) // no line wraps
			for range tc.down {
				press(t, m, tea.KeyDown)
			}
			typeText(t, m, tc.line)
			s := screen(m)
			calls := f.called("GroupLeave")
			if tc.left != (len(calls) == 1) || len(calls) > 1 {
				t.Fatalf("GroupLeave calls %q, want left=%v", calls, tc.left)
			}
			if tc.left == strings.Contains(listed(m), "Book Club") {
				t.Fatalf("the group listed: %v, want %v:\n%s", !tc.left, !tc.left, s)
			}
			if tc.left && strings.Contains(s, "welcome") {
				t.Fatalf("the left group's history is still shown:\n%s", s)
			}
			if !strings.Contains(s, " "+tc.header) {
				t.Fatalf("the history pane is not %q:\n%s", tc.header, s)
			}
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Fatalf("no %q on the screen:\n%s", w, s)
				}
			}
		})
	}
}

func TestHelpListsTheCommands(t *testing.T) {
	m := newModel(t, withBob())
	drive(t, m, tea.WindowSizeMsg{Width: 120, Height: 40})
	typeText(t, m, "/help")
	s := screen(m)
	for _, c := range []string{"/edit TEXT", "/delete", "/search TEXT", "/leave NAME", "/members", "/remove NAME", "/discard [N|NAME]", "/cancel [N|NAME]", "/block NAME", "/unblock NAME", "/approval on|off", "/admit KEY", "/decline KEY"} {
		if !strings.Contains(s, c) {
			t.Errorf("/help does not list %s:\n%s", c, s)
		}
	}
}

func TestMembers(t *testing.T) {
	f := withBob()
	f.convs = append(f.convs, &bv1.Conversation{Topic: clubTopic, Name: "club", Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
	f.members[string(clubTopic)] = []*bv1.Member{
		{Key: id32(0xa1), Name: "alice", Self: true, Creator: true, Admin: true, Devices: 2},
		{Key: id32(0xca), Name: "carol", Devices: 1},
		{Key: id32(0xda), Devices: 1, Removed: true},
		{Key: id32(0xee), Devices: 1, Awaiting: true, Inviter: id32(0xca)},
	}
	f.joinsNeedApproval = true
	m := newModel(t, f)
	drive(t, m, tea.WindowSizeMsg{Width: 160, Height: 40})
	press(t, m, tea.KeyDown) // club
	typeText(t, m, "/members")
	inOrder(t, screen(m), "3 members in club:",
		"alice  a1a1a1a1, 2 devices · you, creator, admin",
		"carol  cacacaca, 1 device",
		"(no name yet)  dadadada, 1 device · removed",
		"eeeeeeee · waits for an admin: /admit eeeeeeee or /decline eeeeeeee",
		"joins through a link wait for an admin's approval")
	if got := f.called("GroupMembers"); !slices.Contains(got, "GroupMembers "+shortHex(clubTopic)) {
		t.Fatalf("GroupMembers calls: %q", got)
	}
}

func TestRemove(t *testing.T) {
	dan := func(b byte) *bv1.Member { return &bv1.Member{Key: id32(b), Name: "dan", Devices: 1} }
	for _, tc := range []struct {
		name    string
		admin   bool // alice is an admin of club
		down    int  // presses of ↓ from bob's conversation
		line    string
		call    string   // the MemberRemove call, "" for none
		removed byte     // the member removed after, 0 for none
		want    []string // on the screen after
	}{
		{name: "a contact", line: "/remove bob", want: []string{"/remove: select a group first"}},
		{name: "no name", admin: true, down: 1, line: "/remove", want: []string{"usage: /remove NAME"}},
		{name: "by name", admin: true, down: 1, line: "/remove CAROL", call: "MemberRemove 50505050 cacacaca", removed: 0xca,
			want: []string{"removed carol from club"}},
		{name: "by key", admin: true, down: 1, line: "/remove d2d2", call: "MemberRemove 50505050 d2d2d2d2", removed: 0xd2,
			want: []string{"removed dan from club"}},
		{name: "by the name as shown", admin: true, down: 1, line: "/remove " + defused("zoe"), call: "MemberRemove 50505050 2e2e2e2e",
			removed: 0x2e, want: []string{"removed " + defused("zoe") + " from club"}},
		{name: "two of that name", admin: true, down: 1, line: "/remove dan",
			want: []string{`2 members match "dan": /remove KEY removes one, by the start of its key`, "dan  d1d1d1d1d1d1", "dan  d2d2d2d2d2d2"}},
		{name: "no such member", admin: true, down: 1, line: "/remove zed",
			want: []string{`! /remove: no member of club matches "zed" (/members lists them)`}},
		{name: "a removed member", admin: true, down: 1, line: "/remove erin",
			want: []string{`! /remove: no member of club matches "erin"`}},
		{name: "oneself", admin: true, down: 1, line: "/remove alice", want: []string{"! /remove: that is you: /leave leaves the group"}},
		{name: "a join that waits", admin: true, down: 1, line: "/remove f0f0",
			want: []string{`! /remove: no member of club matches "f0f0"`}},
		{name: "not an admin", down: 1, line: "/remove carol", call: "MemberRemove 50505050 cacacaca",
			want: []string{"! /remove: only an admin can do this"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := withBob()
			f.convs = append(f.convs, &bv1.Conversation{Topic: clubTopic, Name: "club", Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
			f.members[string(clubTopic)] = []*bv1.Member{
				{Key: id32(0xa1), Name: "alice", Self: true, Admin: tc.admin, Devices: 1},
				{Key: id32(0xca), Name: "carol", Devices: 1},
				dan(0xd1), dan(0xd2),
				{Key: id32(0xee), Name: "erin", Devices: 1, Removed: true},
				{Key: id32(0x2e), Name: evil("zoe"), Devices: 1},
				{Key: id32(0xf0), Devices: 1, Awaiting: true}, // waits for an admin: not a member yet
			}
			m := newModel(t, f)
			drive(t, m, tea.WindowSizeMsg{Width: 160, Height: 40})
			for range tc.down {
				press(t, m, tea.KeyDown)
			}
			typeText(t, m, tc.line)
			if got := f.called("MemberRemove"); tc.call == "" && len(got) != 0 || tc.call != "" && !slices.Equal(got, []string{tc.call}) {
				t.Fatalf("MemberRemove calls %q, want %q", got, tc.call)
			}
			for _, mb := range f.members[string(clubTopic)] {
				if want := mb.Key[0] == tc.removed || mb.Key[0] == 0xee; mb.Removed != want {
					t.Errorf("%s (%x) removed: %v, want %v", mb.Name, mb.Key[0], mb.Removed, want)
				}
			}
			s := screen(m)
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("no %q on the screen", w)
				}
			}
			if t.Failed() {
				t.Log(s)
			}
		})
	}
}

// TestJoinApprovalVerbs: /approval, /admit and /decline act on the
// selected group through the API; a join is named by the start of its key
// among those that wait; the daemon's refusal of a member who is no admin
// is shown.
func TestJoinApprovalVerbs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		admin bool
		line  string
		call  string // the API call made, "" for none
		want  string // on the screen after
	}{
		{name: "approval on", admin: true, line: "/approval on", call: "GroupJoinApproval 50505050 on",
			want: "joins to club now wait for an admin's approval"},
		{name: "approval off", admin: true, line: "/approval OFF", call: "GroupJoinApproval 50505050 off", want: "joins to club count at once again"},
		{name: "approval, no setting", admin: true, line: "/approval maybe", want: "usage: /approval on|off"},
		{name: "admit", admin: true, line: "/admit EEEE01", call: "MemberAdmit 50505050 eeee0100", want: "admitted eeee0100 to club"},
		{name: "decline", admin: true, line: "/decline eeee02", call: "MemberAdmit 50505050 eeee0200 decline", want: "declined eeee0200 to club"},
		{name: "no key", admin: true, line: "/admit", want: "usage: /admit KEY"},
		{name: "two match", admin: true, line: "/admit eeee", want: `/admit: 2 joins match "eeee": give more of the key`},
		{name: "a member, not a join", admin: true, line: "/admit caca", want: `/admit: no join waiting in club matches "caca"`},
		{name: "not an admin", line: "/admit eeee01", call: "MemberAdmit 50505050 eeee0100", want: "! /admit: only an admin can do this"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := withBob()
			f.convs = append(f.convs, &bv1.Conversation{Topic: clubTopic, Name: "club", Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
			f.members[string(clubTopic)] = []*bv1.Member{
				{Key: id32(0xa1), Name: "alice", Self: true, Admin: tc.admin, Devices: 1},
				{Key: id32(0xca), Name: "carol", Devices: 1},
				{Key: append([]byte{0xee, 0xee, 0x01}, make([]byte, 29)...), Devices: 1, Awaiting: true},
				{Key: append([]byte{0xee, 0xee, 0x02}, make([]byte, 29)...), Devices: 1, Awaiting: true},
			}
			m := newModel(t, f)
			drive(t, m, tea.WindowSizeMsg{Width: 160, Height: 40})
			press(t, m, tea.KeyDown) // club
			typeText(t, m, tc.line)
			var calls []string
			for _, meth := range []string{"GroupJoinApproval", "MemberAdmit"} {
				calls = append(calls, f.called(meth)...)
			}
			if tc.call == "" && len(calls) != 0 || tc.call != "" && !slices.Equal(calls, []string{tc.call}) {
				t.Errorf("calls %q, want %q", calls, tc.call)
			}
			if s := screen(m); !strings.Contains(s, tc.want) {
				t.Errorf("no %q on the screen:\n%s", tc.want, s)
			}
		})
	}
}
