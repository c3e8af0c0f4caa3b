package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	bv1 "github.com/berty-go/berty/api/bertyv1"
)

// hostile is a message body written to attack a terminal: colours, a bell,
// a window title, a carriage return that overwrites the line, a
// direction override, and lines that pretend to be other messages.
const hostile = "hi \x1b[31mred\x1b[0m\a\x1b]0;pwned\x07\rgone \u202Etxt.exe\n12:00:00 00000000 bob        fake message\r\nthird"

// controls reports the first terminal control left in s, if any (line
// breaks between lines are this program's own).
func controls(s string) (rune, bool) {
	for _, r := range s {
		if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x202E) {
			return r, true
		}
	}
	return 0, false
}

func text(id byte, name, body string) *bv1.Interaction {
	return &bv1.Interaction{Topic: bytes.Repeat([]byte{0xab}, 32), Id: bytes.Repeat([]byte{id}, 32), Name: name, Body: body,
		SentAtMs: time.Date(2025, 1, 2, 15, 3, 4, 0, time.Local).UnixMilli(), Kind: bv1.InteractionKind_INTERACTION_KIND_TEXT}
}

// TestTailText: what tail prints of other people's messages cannot drive
// the terminal, and a multi-line message cannot pass for several: its
// continuation lines are indented under its text.
func TestTailText(t *testing.T) {
	var b bytes.Buffer
	tl := newTailer(&b, false, false)
	tl.print([]*bv1.Interaction{text(1, "m\x1b[2Jallory", hostile), text(2, "bob", "plain")})
	out := b.String()
	if r, bad := controls(out); bad {
		t.Errorf("tail printed the control %U: %q", r, out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("tail printed %d lines, want 3 for the hostile message and 1 for bob's:\n%s", len(lines), out)
	}
	col := strings.Index(lines[0], "hi ")
	for _, l := range lines[1:3] {
		if strings.TrimLeft(l, " ") == l || len(l)-len(strings.TrimLeft(l, " ")) != col {
			t.Errorf("continuation line %q is not indented to the text's column %d:\n%s", l, col, out)
		}
	}
	if !strings.HasPrefix(lines[3], "15:03:04 abababab bob        plain") {
		t.Errorf("bob's line is %q", lines[3])
	}

	// A wide name: the continuation is indented to the columns it takes.
	b.Reset()
	newTailer(&b, false, false).print([]*bv1.Interaction{text(3, "日本語の名前です", "one\ntwo")})
	got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(got) != 2 || width(got[0])-width("one") != len(got[1])-len("two") {
		t.Errorf("wide name: continuation not under the text:\n%s", b.String())
	}

	// JSON is exact: the body as it was sent.
	b.Reset()
	newTailer(&b, true, false).print([]*bv1.Interaction{text(1, "mallory", hostile)})
	var v struct{ Body string }
	if err := json.Unmarshal(b.Bytes(), &v); err != nil || v.Body != hostile {
		t.Errorf("tail --json: %q (%v), want the body exactly", b.String(), err)
	}
}

// TestTailChanges: tail shows edits, deletes, replies and reactions, on
// the message's line when it first prints it, and as a line of its own
// when a message it printed changes; nothing when nothing changed.
func TestTailChanges(t *testing.T) {
	var b bytes.Buffer
	tl := newTailer(&b, false, true)
	first := text(1, "alice", "where do we meet for dinner tonight, and at what time exactly?")
	edited := text(2, "bob", "at 8")
	edited.Edited = true
	edited.Reactions = []*bv1.Reaction{{Emoji: "👍", Count: 2}, {Emoji: "🎉", Count: 1}}
	reply := text(3, "carol", "fine by me")
	reply.ReplyTo, reply.ReplyText = first.Id, first.Body
	gone := text(4, "dave", "")
	gone.Deleted = true
	tl.print([]*bv1.Interaction{first, edited, reply, gone})
	want := []string{
		"alice      where do we meet for dinner tonight, and at what time exactly?  [01010101]",
		"bob        at 8 (edited)  👍 2 🎉 1  [02020202]",
		"carol      (↳ alice: where do we meet for dinner tonight,…) fine by me  [03030303]",
		"dave       [deleted]  [04040404]",
	}
	check := func(what string, want []string) {
		t.Helper()
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if b.Len() == 0 {
			lines = nil
		}
		if len(lines) != len(want) {
			t.Fatalf("%s: tail printed\n%s\nwant lines ending\n%s", what, b.String(), strings.Join(want, "\n"))
		}
		for i, l := range lines {
			if !strings.HasSuffix(l, want[i]) {
				t.Errorf("%s: line %q, want it to end %q", what, l, want[i])
			}
		}
		b.Reset()
	}
	check("first print", want)

	tl.print([]*bv1.Interaction{first, edited, reply, gone})
	check("the same again", nil)

	first2 := text(1, "alice", "at the garden")
	first2.Edited = true
	edited2 := text(2, "bob", "at 8")
	edited2.Edited = true
	edited2.Reactions = []*bv1.Reaction{{Emoji: "👍", Count: 3}}
	reply2 := text(3, "carol", "")
	reply2.Deleted = true
	tl.print([]*bv1.Interaction{first2, edited2, reply2, gone, text(5, "erin", "new")})
	check("changes", []string{
		"alice      (edited) at the garden  [01010101]",
		`bob        reactions to "at 8": 👍 3  [02020202]`,
		"carol      [deleted]  [03030303]",
		"erin       new  [05050505]",
	})
}
