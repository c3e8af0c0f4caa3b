package mini

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	bv1 "github.com/berty-go/berty/api/bertyv1"
)

// checkSize fails unless the screen is exactly w×h cells.
func checkSize(t *testing.T, m *Model, w, h int) {
	t.Helper()
	rows := strings.Split(m.View().Content, "\n")
	if len(rows) != h {
		t.Fatalf("%d rows, want %d:\n%s", len(rows), h, screen(m))
	}
	for i, r := range rows {
		if got := lipgloss.Width(r); got != w {
			t.Fatalf("row %d is %d cells wide, want %d: %q", i, got, w, r)
		}
	}
}

func TestViewAt80x24AndResize(t *testing.T) {
	f := withBob()
	f.info.Name = "alice"
	f.convs = append(f.convs, &bv1.Conversation{Topic: clubTopic, Name: "a club with a name too long for the list", Unread: 12,
		Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
	f.peers = &bv1.PeersResponse{Peers: []string{"p1", "p2", "p3"}, Groups: []*bv1.GroupPeers{{Topic: bobTopic, Connected: 1}}}
	m := newModel(t, f)
	checkSize(t, m, 80, 24)
	s := screen(m)
	for _, want := range []string{
		"Conversations", "▸● bob", "(12)", // the list, the selection, the badge
		"bob · contact · 1 peer online", "hello alice", // the history
		"> ", // the input line
		"alice · bob: 1/3 peers · embedded node",              // the status line
		"tab switch pane", "↑/↓ select", "enter send", "quit", // the help bar
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q on the screen:\n%s", want, s)
		}
	}
	drive(t, m, tea.WindowSizeMsg{Width: 120, Height: 40})
	checkSize(t, m, 120, 40)
	if !strings.Contains(screen(m), "/help commands") {
		t.Errorf("the wider help bar lacks /help:\n%s", screen(m))
	}
	drive(t, m, tea.WindowSizeMsg{Width: 30, Height: 5})
	if !strings.Contains(screen(m), "at least 40x10") {
		t.Errorf("a too small terminal is not told:\n%s", screen(m))
	}
}

func TestViewRepliesReactionsEditsDeletions(t *testing.T) {
	f := withBob()
	orig := text(bobTopic, 1, "bob", "hello alice", 1)
	reply := text(bobTopic, 2, "alice", "hi!", 2)
	reply.Own, reply.ReplyTo, reply.ReplyText = true, orig.Id, "hello alice"
	reply.Reactions = []*bv1.Reaction{{Emoji: "👍", Count: 2, Mine: true}, {Emoji: "🎉", Count: 1}}
	edited := text(bobTopic, 3, "bob", "typo fixed", 3)
	edited.Edited = true
	gone := text(bobTopic, 4, "bob", "", 4)
	gone.Deleted = true
	f.hist[string(bobTopic)] = []*bv1.Interaction{gone, edited, reply, orig}
	m := newModel(t, f)
	s := screen(m)
	for _, want := range []string{"↪ hello alice", "alice hi!", "[👍 2] [🎉 1]", "typo fixed (edited)", "bob message deleted"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q on the screen:\n%s", want, s)
		}
	}
	// In the history pane, + reacts to the selected message (the newest
	// that is not deleted: up from the tombstone), and takes one's own
	// reaction back.
	press(t, m, tea.KeyTab)
	press(t, m, tea.KeyTab)
	press(t, m, tea.KeyUp)
	press(t, m, tea.KeyUp)
	drive(t, m, tea.KeyPressMsg{Code: '+', Text: "+"})
	if got := f.called("React"); len(got) != 1 || got[0] != "React 02020202 👍 true" {
		t.Fatalf("React calls: %q", got)
	}
	if !strings.Contains(screen(m), "react 👍") {
		t.Errorf("the help bar does not show the history pane's keys:\n%s", screen(m))
	}
}

func TestViewMergesSystemLinesInTime(t *testing.T) {
	f := withBob() // bob's message at 11:01; system lines at 12:00
	m := newModel(t, f)
	drive(t, m, tea.WindowSizeMsg{Width: 100, Height: 48}) // the whole help and the message above it
	typeText(t, m, "/help")
	s := screen(m)
	if i, j := strings.Index(s, "hello alice"), strings.Index(s, "/contact share [qr]"); i < 0 || j < 0 || i > j {
		t.Fatalf("the help is not below the earlier message:\n%s", s)
	}
	for _, want := range []string{"/contact add LINK", "/accept", "/group new NAME", "/invite", "/join LINK", "/name NAME", "/peers", "/debug"} {
		found := false
		for _, l := range m.lines {
			found = found || strings.Contains(l.text, want)
		}
		if !found {
			t.Errorf("/help does not list %s", want)
		}
	}
}

func TestScrollingKeepsTheSelectionInView(t *testing.T) {
	f := withBob()
	var hist []*bv1.Interaction
	for i := range 60 {
		hist = append([]*bv1.Interaction{text(bobTopic, byte(i+1), "bob", fmt.Sprintf("message %02d", i), i%60)}, hist...)
	}
	f.hist[string(bobTopic)] = hist
	for i := range 40 {
		f.convs = append(f.convs, &bv1.Conversation{Topic: id32(byte(0x80 + i)), Name: fmt.Sprintf("group %02d", i),
			Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
	}
	m := newModel(t, f)
	if s := screen(m); !strings.Contains(s, "message 59") || strings.Contains(s, "message 00") {
		t.Fatalf("the history does not end at the newest message:\n%s", s)
	}
	for range 5 {
		drive(t, m, tea.KeyPressMsg{Code: tea.KeyPgUp})
	}
	if s := screen(m); !strings.Contains(s, "message 00") || strings.Contains(s, "message 59") {
		t.Fatalf("pgup does not reach the oldest message:\n%s", s)
	}
	for range 5 {
		drive(t, m, tea.KeyPressMsg{Code: tea.KeyPgDown})
	}
	if !strings.Contains(screen(m), "message 59") {
		t.Fatalf("pgdown does not come back:\n%s", screen(m))
	}
	// In the history pane, ↑ walks back and the view follows.
	press(t, m, tea.KeyTab)
	press(t, m, tea.KeyTab)
	for range 50 {
		press(t, m, tea.KeyUp)
	}
	if s := screen(m); !strings.Contains(s, "message 09") || strings.Contains(s, "message 59") {
		t.Fatalf("the selected message is not in view:\n%s", s)
	}
	// The list follows its selection too.
	press(t, m, tea.KeyTab)
	for range 40 {
		press(t, m, tea.KeyDown)
	}
	if s := screen(m); !strings.Contains(s, "▸○ group 39") {
		t.Fatalf("the last conversation is not in view:\n%s", s)
	}
	checkSize(t, m, 80, 24)
}

// TestCountsAgreeWithTheirNouns: one peer, one device, one member, one
// message, one request: no "1 peers".
func TestCountsAgreeWithTheirNouns(t *testing.T) {
	f := newFake()
	f.contacts = []*bv1.Contact{{Account: id32(0xda), Name: "dave", State: bv1.ContactState_CONTACT_STATE_INCOMING}}
	f.peers = &bv1.PeersResponse{Peers: []string{"12D3KooWbob"}}
	m := newModel(t, f)
	drive(t, m, tea.WindowSizeMsg{Width: 160, Height: 40})
	if s := screen(m); !strings.Contains(s, "alice · 1 peer · embedded node") || !strings.Contains(s, "1 contact request waiting") {
		t.Fatalf("no singular in the status line or the requests:\n%s", s)
	}
	f.set(func(f *fake) {
		f.convs = []*bv1.Conversation{{Topic: clubTopic, Name: "club", Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP}}
		f.hist[string(clubTopic)] = []*bv1.Interaction{text(clubTopic, 5, "carol", "lunch?", 5)}
		f.members[string(clubTopic)] = []*bv1.Member{{Key: id32(0xa1), Name: "alice", Self: true, Devices: 1}, {Key: id32(0xca), Name: "carol", Devices: 2}}
		f.peers.Groups = []*bv1.GroupPeers{{Topic: clubTopic, Name: "club", Connected: 1}}
	})
	drive(t, m, eventMsg{&bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_CONVERSATION}})
	drive(t, m, tickMsg{})
	f.set(func(f *fake) { f.members[string(clubTopic)][1].Devices = 1 })
	drive(t, m, eventMsg{&bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_MEMBER, Topic: clubTopic}})
	typeText(t, m, "/peers")
	typeText(t, m, "/search lunch")
	typeText(t, m, "/members")
	s := screen(m)
	for _, want := range []string{
		"club · group · 1 peer online", "club: 1/1 peer", "carol now has 1 device: keys updated",
		"1 peer connected", "club: 1 peer of this conversation connected", `1 message matches "lunch":`,
		"2 members in club:", "alice  a1a1a1a1, 1 device · you",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q on the screen", want)
		}
	}
	for _, bad := range []string{"1 peers", "1 devices", "1 members", "1 messages", "(s)"} {
		if strings.Contains(s, bad) {
			t.Errorf("%q on the screen", bad)
		}
	}
	if t.Failed() {
		t.Log(s)
	}
}
