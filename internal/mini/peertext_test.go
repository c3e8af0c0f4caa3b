package mini

import (
	"regexp"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	bv1 "github.com/berty-go/berty/api/bertyv1"
)

// evil is s as a hostile peer would write it: a colour, the bell, a
// carriage return, a window-title sequence and a right-to-left override.
func evil(s string) string { return s + "\x1b[31m\a\r\x1b]0;pwned\x07\u202e!" }

// defused is evil(s) once cleaned: the sequences' printable rest stays, so
// a test can see that the text was cleaned rather than dropped, and
// screen(m), which strips real escape sequences, would show s+"!" instead
// if one got through.
func defused(s string) string { return s + "[31m]0;pwned!" }

// sgr matches the escape sequences lipgloss writes itself: colours and
// text attributes, nothing else.
var sgr = regexp.MustCompile(`\x1b\[[0-9;:]*m`)

// checkRaw fails if the model's output, less its own styling, holds a
// control character or a direction override.
func checkRaw(t *testing.T, m *Model) {
	t.Helper()
	raw := m.View().Content
	for _, bad := range []string{"\x1b]", "\x1b[31m", "\u202e"} {
		if strings.Contains(raw, bad) {
			t.Fatalf("the output holds %q from a peer:\n%q", bad, raw)
		}
	}
	for _, r := range sgr.ReplaceAllString(raw, "") {
		if r == '\n' {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			t.Fatalf("the output holds the control character %U:\n%q", r, raw)
		}
	}
}

// TestPeerTextIsCleaned: whatever another person wrote — a name, a text, a
// reply's quote, a reaction, a group's name — reaches the terminal without
// its escape sequences, control characters and direction overrides.
func TestPeerTextIsCleaned(t *testing.T) {
	carolKey := id32(0xca)
	f := withBob()
	f.info.Name = evil("alice") // set on another device of the account
	f.convs[0].Name = evil("bob")
	f.convs = append(f.convs, &bv1.Conversation{Topic: clubTopic, Name: evil("club"), Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
	orig := text(bobTopic, 1, evil("bob"), evil("hi"), 1)
	reply := text(bobTopic, 2, evil("bob"), "re", 2)
	reply.ReplyTo, reply.ReplyText = orig.Id, evil("quoted")
	reply.Reactions = []*bv1.Reaction{{Emoji: evil("👍"), Count: 1}}
	inv := text(bobTopic, 3, evil("bob"), evil("party"), 3)
	inv.Kind = bv1.InteractionKind_INTERACTION_KIND_INVITATION
	f.hist[string(bobTopic)] = []*bv1.Interaction{inv, reply, orig}
	f.members[string(clubTopic)] = []*bv1.Member{{Key: id32(0xa1), Name: "alice", Self: true, Devices: 1}}
	f.peers = &bv1.PeersResponse{Groups: []*bv1.GroupPeers{{Topic: clubTopic, Name: evil("club"), Connected: 1}}}
	m := newModel(t, f)
	drive(t, m, tea.WindowSizeMsg{Width: 200, Height: 60})

	// What others wrote in the conversation, and the names around it.
	s := screen(m)
	for _, want := range []string{
		"▸○ " + defused("bob"),                    // the list
		defused("bob") + " · contact",             // the history's title
		defused("bob") + " " + defused("hi"),      // author and text
		"↪ " + defused("quoted"),                  // the quote
		"[" + defused("👍") + " 1]",                // the reaction
		"invites to a group: " + defused("party"), // an invitation
		defused("alice") + " · " + defused("bob"), // the status line
		"● " + defused("club"),                    // another conversation
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q on the screen", want)
		}
	}
	checkRaw(t, m)

	// Replying shows the author in the prompt.
	selectMessage(t, m, 1)
	drive(t, m, tea.KeyPressMsg{Code: 'r', Text: "r"})
	if s := screen(m); !strings.Contains(s, "↪ "+defused("bob")+">") {
		t.Errorf("the reply prompt does not show the cleaned name:\n%s", s)
	}
	checkRaw(t, m)
	press(t, m, tea.KeyEscape)

	// System lines: a contact request, a join, /members, /search, /peers.
	f.set(func(f *fake) {
		f.contacts = []*bv1.Contact{{Account: id32(0xda), Name: evil("dave"), State: bv1.ContactState_CONTACT_STATE_INCOMING}}
	})
	drive(t, m, eventMsg{&bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_CONTACT}})
	typeText(t, m, "/search hi")
	typeText(t, m, "/peers")
	s = screen(m)
	for _, want := range []string{
		"contact request from " + defused("dave") + ": /accept " + defused("dave"),
		defused("bob") + " · " + defused("bob") + ": " + defused("hi"), // a search result
		defused("club") + ": 1 peer of this conversation connected",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q on the screen", want)
		}
	}
	checkRaw(t, m)
	press(t, m, tea.KeyDown) // club
	f.set(func(f *fake) {
		f.members[string(clubTopic)] = append(f.members[string(clubTopic)], &bv1.Member{Key: carolKey, Name: evil("carol"), Devices: 1})
	})
	drive(t, m, eventMsg{&bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_MEMBER, Topic: clubTopic}})
	typeText(t, m, "/members")
	s = screen(m)
	for _, want := range []string{
		defused("carol") + " joined",
		defused("carol") + "  cacacaca, 1 device",
		"2 members in " + defused("club"),
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q on the screen", want)
		}
	}
	if t.Failed() {
		t.Log(s)
	}
	checkRaw(t, m)
}

// TestMultiLineTextStaysInItsColumn: the further lines of a text, whatever
// line break separates them, and its wrapped lines start at the text's
// column, so that a text cannot pass for a system line or another message.
func TestMultiLineTextStaysInItsColumn(t *testing.T) {
	for _, br := range []string{"\n", "\r\n", "\u2028", "\r"} {
		t.Run(strings.NewReplacer("\n", `\n`, "\r", `\r`, "\u2028", "U+2028").Replace(br), func(t *testing.T) {
			f := withBob()
			fake := []string{"line one", "· bob is now a contact", "15:22 Bob fake, and on and on until it wraps at the edge of the pane"}
			f.hist[string(bobTopic)] = []*bv1.Interaction{text(bobTopic, 1, "bob", strings.Join(fake, br), 1)}
			m := newModel(t, f) // 80x24
			rows := strings.Split(screen(m), "\n")
			// The column of each line's text, in cells.
			col := func(sub string) int {
				for _, r := range rows {
					if i := strings.Index(r, sub); i >= 0 {
						return lipgloss.Width(r[:i])
					}
				}
				t.Fatalf("no %q on the screen:\n%s", sub, screen(m))
				return -1
			}
			first := col("11:01 bob line one")
			text := col("line one")
			if br == "\r" {
				// A lone CR is no line break: cleaned away, the text
				// stays one line.
				if c := col("line one· bob is now a contact"); c != text {
					t.Fatalf("the text is at %d and %d", text, c)
				}
				return
			}
			for _, l := range []string{"· bob is now a contact", "15:22 Bob fake", "the edge of the pane"} {
				if c := col(l); c != text || c <= first {
					t.Errorf("%q starts at column %d, want the text's column %d (the message starts at %d):\n%s", l, c, text, first, screen(m))
				}
			}
		})
	}
}
