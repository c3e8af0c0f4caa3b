package mini

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"go.uber.org/goleak"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/internal/qr"
)

func TestContactShare(t *testing.T) {
	m := newModel(t, withBob())
	typeText(t, m, "/contact share")
	s := screen(m)
	if !strings.Contains(s, "your contact link") || !strings.Contains(s, "https://berty.tech/id#ALICELINK") {
		t.Fatalf("no link on the screen:\n%s", s)
	}
	if strings.Contains(s, "█") {
		t.Fatal("a QR code without qr")
	}
	drive(t, m, tea.WindowSizeMsg{Width: 100, Height: 60})
	typeText(t, m, "/contact share qr")
	s = screen(m)
	if !strings.Contains(s, "████") {
		t.Fatalf("no QR code on the screen:\n%s", s)
	}
	checkSize(t, m, 100, 60)
}

func TestGroupNewInviteJoin(t *testing.T) {
	f := withBob()
	m := newModel(t, f)
	typeText(t, m, "/invite")
	if !strings.Contains(screen(m), "/invite: select a group first") {
		t.Fatalf("/invite on a contact is not refused:\n%s", screen(m))
	}
	typeText(t, m, "/group new book club")
	if got := f.called("GroupCreate"); len(got) != 1 || got[0] != "GroupCreate book club" {
		t.Fatalf("GroupCreate calls: %q", got)
	}
	if s := screen(m); !strings.Contains(s, "book club · group") || !strings.Contains(s, `created the group "book club"`) {
		t.Fatalf("the new group is not selected:\n%s", s)
	}
	typeText(t, m, "/invite")
	if got := f.called("GroupInvite"); len(got) != 1 || got[0] != "GroupInvite 61616161" {
		t.Fatalf("GroupInvite calls: %q", got)
	}
	if !strings.Contains(screen(m), "https://berty.tech/group#61616161") {
		t.Fatalf("no group link:\n%s", screen(m))
	}
	typeText(t, m, "/join https://berty.tech/group#CLUB")
	if got := f.called("GroupJoin"); len(got) != 1 || got[0] != "GroupJoin https://berty.tech/group#CLUB" {
		t.Fatalf("GroupJoin calls: %q", got)
	}
	if !strings.Contains(screen(m), "club · group") {
		t.Fatalf("the joined group is not selected:\n%s", screen(m))
	}
}

func TestPeersAndDebug(t *testing.T) {
	f := withBob()
	f.peers = &bv1.PeersResponse{Peers: []string{"12D3KooWbob", "12D3KooWcarol"},
		Groups: []*bv1.GroupPeers{{Topic: bobTopic, Name: "bob", Connected: 1}}}
	m := newModel(t, f)
	drive(t, m, tea.WindowSizeMsg{Width: 160, Height: 40})
	typeText(t, m, "/peers")
	typeText(t, m, "/debug")
	s := screen(m)
	for _, want := range []string{
		"2 peers connected", "12D3KooWcarol", "bob: 1 peer of this conversation connected",
		"account  a1a1a1a1", "device   d1d1d1d1", "peer     12D3KooWalice", "listen   /ip4/127.0.0.1/tcp/4001",
		"data     /data/alice", "mode     embedded node",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q on the screen:\n%s", want, s)
		}
	}
}

// TestPump: the stream's events reach the program after a resync, and
// pump returns when its context ends, leaving no goroutine behind.
func TestPump(t *testing.T) {
	defer goleak.VerifyNone(t)
	f := newFake()
	got := make(chan tea.Msg, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		pump(ctx, f, func(msg tea.Msg) { got <- msg })
	}()
	if msg := <-got; msg != (resyncMsg{}) {
		t.Fatalf("first message %#v, want a resync", msg)
	}
	f.events <- &bv1.SubscribeResponse{Kind: bv1.EventKind_EVENT_KIND_CONTACT}
	if msg, ok := (<-got).(eventMsg); !ok || msg.ev.Kind != bv1.EventKind_EVENT_KIND_CONTACT {
		t.Fatalf("got %#v, want the contact event", msg)
	}
	cancel()
	<-done
}

func TestTick(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan tea.Msg, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick(ctx, time.Millisecond, func(msg tea.Msg) {
			select {
			case got <- msg:
			default:
			}
		})
	}()
	if msg := <-got; msg != (tickMsg{}) {
		t.Fatalf("got %#v, want a tick", msg)
	}
	cancel()
	<-done
}

// TestLinkIsNeverWrapped: a contact link as long as a real one (about 240
// characters) is wider than the history pane of an 80-column terminal.
// mini does not word-wrap it or put anything inside it: it is cut into rows
// across the whole screen, with nothing else on them, so that selecting
// those rows copies the link and line breaks only (which the link parser
// skips). Where it fits, it is one row.
func TestLinkIsNeverWrapped(t *testing.T) {
	url := "https://berty.tech/id#" + strings.Repeat("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 7)
	f := withBob()
	f.link = url
	m := newModel(t, f) // 80x24
	typeText(t, m, "/contact share")
	rows := strings.Split(screen(m), "\n")
	first := slices.IndexFunc(rows, func(r string) bool { return strings.HasPrefix(r, "https://berty.tech/id#") })
	if first < 0 {
		t.Fatalf("no row starts with the link:\n%s", screen(m))
	}
	var got string
	for _, r := range rows[first:] {
		if len(got) >= len(url) {
			break
		}
		r = strings.TrimRight(r, " ")
		if strings.ContainsAny(r, "│ ") {
			t.Fatalf("a row of the link holds something else: %q\n%s", r, screen(m))
		}
		got += r
	}
	if got != url {
		t.Fatalf("the link's rows make %q, want %q", got, url)
	}
	checkSize(t, m, 80, 24)
	// The clipboard gets it whole, and a terminal wide enough shows it on
	// one row.
	drive(t, m, tea.WindowSizeMsg{Width: 300, Height: 24})
	if !strings.Contains(screen(m), " "+url+" ") {
		t.Fatalf("the link is not on one row at 300 columns:\n%s", screen(m))
	}
}

// TestQRCodeIsWhole: the QR code of a contact link is wider than the
// history pane of an 80-column terminal: it is drawn across the screen,
// whole, rather than cut at the pane's edge.
func TestQRCodeIsWhole(t *testing.T) {
	f := withBob()
	f.link = "https://berty.tech/id#" + strings.Repeat("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 7)
	m := newModel(t, f)
	drive(t, m, tea.WindowSizeMsg{Width: 80, Height: 50})
	typeText(t, m, "/contact share qr")
	code, err := qr.Terminal("BERTY:" + strings.Repeat("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 7))
	if err != nil {
		t.Fatal(err)
	}
	s := screen(m)
	for _, l := range strings.Split(strings.TrimRight(code, "\n"), "\n") {
		if !strings.Contains(s, l) {
			t.Fatalf("the QR code's row %q is not on the screen whole:\n%s", l, s)
		}
	}
	checkSize(t, m, 80, 50)
}
