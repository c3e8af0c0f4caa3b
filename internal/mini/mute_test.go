package mini

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	bv1 "github.com/berty-go/berty/api/bertyv1"
)

func TestMuteUntil(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for spec, want := range map[string]time.Time{
		"8h": now.Add(8 * time.Hour), "90m": now.Add(90 * time.Minute), "3d": now.Add(72 * time.Hour),
		"2W": now.Add(14 * 24 * time.Hour), "off": {}, "forever": time.UnixMilli(MaxMuteMs),
	} {
		if got, err := MuteUntil(spec, now); err != nil || !got.Equal(want) {
			t.Errorf("MuteUntil(%q) = %v, %v; want %v", spec, got, err, want)
		}
	}
	for _, spec := range []string{"", "d", "0d", "-1h", "30s", "3 days", "1y", "9999w"} {
		if _, err := MuteUntil(spec, now); err == nil {
			t.Errorf("MuteUntil(%q) accepted", spec)
		}
	}
}

// TestMuteAndBell: a new message in a conversation other than the one
// shown rings the terminal's bell and shows in the window title; /mute
// silences that conversation (no bell, no count), /mute off brings it back.
func TestMuteAndBell(t *testing.T) {
	f := withBob()
	f.convs = append(f.convs, &bv1.Conversation{Topic: clubTopic, Name: "club", Kind: bv1.ConversationKind_CONVERSATION_KIND_GROUP})
	m := newModel(t, f) // bob is selected
	rings := func(club int32) bool {
		next := []*bv1.Conversation{proto.Clone(m.convs[0]).(*bv1.Conversation), proto.Clone(m.convs[1]).(*bv1.Conversation)}
		next[m.index(string(clubTopic))].Unread = club
		return m.newUnread(next)
	}
	if !rings(1) {
		t.Fatal("a new message in club, not shown, does not ring")
	}
	m.setConvs(append([]*bv1.Conversation(nil), withUnread(m.convs, clubTopic, 2)...))
	if title := m.View().WindowTitle; title != "berty mini (2)" {
		t.Fatalf("window title %q, want the 2 unread of club", title)
	}
	drive(t, m, m.selectTopic(string(clubTopic)))
	typeText(t, m, "/mute 3d")
	if got := f.called("Mute"); len(got) != 1 || !strings.HasSuffix(got[0], "true") {
		t.Fatalf("Mute calls %q", got)
	}
	if !strings.Contains(screen(m), "muted club until") {
		t.Fatalf("/mute is not told:\n%s", screen(m))
	}
	drive(t, m, m.selectTopic(string(bobTopic)))
	if rings(5) {
		t.Fatal("a muted conversation rings")
	}
	if title := m.View().WindowTitle; title != "berty mini" {
		t.Fatalf("window title %q counts a muted conversation", title)
	}
	typeText(t, m, "/mute forever nonsense")
	if !strings.Contains(screen(m), "/mute: mute for") {
		t.Fatalf("a bad duration is not refused:\n%s", screen(m))
	}
}

// withUnread returns convs with topic's unread count set.
func withUnread(convs []*bv1.Conversation, topic []byte, n int32) []*bv1.Conversation {
	var out []*bv1.Conversation
	for _, c := range convs {
		c = proto.Clone(c).(*bv1.Conversation)
		if string(c.Topic) == string(topic) {
			c.Unread = n
		}
		out = append(out, c)
	}
	return out
}
